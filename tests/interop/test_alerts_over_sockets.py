"""Over real sockets, a refusing dicomtls server tells the peer why (the alert reaches the wire)."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

import dicomtls
from dicomtls.errors import CertificateVerifyError, PeerCertificateRequiredError

pytestmark = pytest.mark.interop


def serve_once(config):
    listener = dicomtls.listen("127.0.0.1", 0)
    result = {}

    def run():
        try:
            result["tls"] = dicomtls.accept(listener, config, timeout=10)
        except BaseException as exc:
            result["error"] = exc
        finally:
            listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread, result


def python_client(port, version, pki, with_cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = version
    ctx.load_verify_locations(str(pki.ca_cert))
    if with_cert:
        ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"x")
            return tls.recv(10)


@pytest.mark.parametrize("version,alert_text", [
    (ssl.TLSVersion.TLSv1_3, "CERTIFICATE_REQUIRED"),
    (ssl.TLSVersion.TLSv1_2, "HANDSHAKE_FAILURE"),
])
def test_missing_client_certificate_alert_reaches_client(pki, version, alert_text):
    config = dicomtls.TLSConfig.from_profile(
        certificate=str(pki.server_cert), private_key=str(pki.server_key),
        ca_file=str(pki.ca_cert), peer_cert="require")
    port, thread, result = serve_once(config)
    with pytest.raises(ssl.SSLError, match=alert_text):
        python_client(port, version, pki, with_cert=False)
    thread.join(10)
    assert isinstance(result.get("error"), PeerCertificateRequiredError)


def test_untrusted_client_certificate_alert_reaches_client(pki, pki_ec):
    config = dicomtls.TLSConfig.from_profile(
        certificate=str(pki.server_cert), private_key=str(pki.server_key),
        ca_file=str(pki_ec.ca_cert), peer_cert="require")  # trusts only the other CA
    port, thread, result = serve_once(config)
    with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):
        python_client(port, ssl.TLSVersion.TLSv1_2, pki, with_cert=True)
    thread.join(10)
    error = result.get("error")
    assert isinstance(error, CertificateVerifyError) and error.alert_sent == 48
