"""The own engine refuses the way libssl does, checked against real peers on 127.0.0.1.

* ``openssl s_client`` against our own-engine server: the alert it reports, and (``-msg``) the
  record header it arrived in: the client's version, not 0x0301, so a client pinned to one version
  sees the alert instead of "wrong version number".
* The same hand-made ClientHello sent to ``openssl s_server`` and to our server: the answers must
  be the same bytes (no common suite, TLS_FALLBACK_SCSV, a server stopping at 1.1, a refused
  version, and signature_algorithms naming nothing an RSA key can sign: OpenSSL 3.0 answers
  handshake_failure in a 0x0303 record before any ServerHello, for DHE and ECDHE suites alike).
* Who was refused: a client (Python ssl) or server (s_server) presenting a certificate from
  another CA; our error's ``peer_certificate`` is that certificate.

Measured with OpenSSL 3.0 and kept as a difference on purpose: with ECDSA-only
signature_algorithms OpenSSL also refuses TLS_RSA_* key transport (its tls_choose_sigalg runs for
every certificate-authenticated suite). This engine signs nothing for those suites and runs them
(tests/tls/own/test_own_alerts.py), as RFC 5246 7.4.1.4.1 ties the extension to signatures only.
"""

from __future__ import annotations

import os
import socket
import ssl

import pytest

import dicomtls as d
from dicomtls.crypto.devpki import create_dev_pki
from dicomtls.crypto.x509 import load_certificates
from dicomtls.errors import CertificateVerifyError
from dicomtls.tls.own import extensions as ext
from dicomtls.tls.own import messages as m
from dicomtls.tls.protocol import ExtensionType
from test_openssl_cli import OurServer, our_config, s_client, s_server

pytestmark = pytest.mark.interop

AES128_SHA, AES256_SHA, FALLBACK_SCSV = 0x002F, 0x0035, 0x5600
ECDHE_GCM, DHE_GCM = 0xC02F, 0x009E


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    """A second CA with its own server and client certificates: trusted by nobody here."""
    return create_dev_pki(tmp_path_factory.mktemp("other-ca"))


def own_server(p, suites, low="1.0", high="1.2", **kw):
    cfg = our_config(p, "server", ciphers=list(suites), min_version=low, max_version=high,
                     engine="dicomtls", **kw)
    server = OurServer(cfg, lambda tls: None)
    server.start()
    return server


def refusal(server):
    """Our server's error: every case here ends in a TLS refusal on our side."""
    with pytest.raises(d.TLSError) as err:
        server.outcome()
    return err.value


# ---- s_client names the alert, and it came in the client's version --------------------------
def header_after_receive(text: str) -> str:
    """The hex of the first record header s_client -msg shows as received."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("<<<") and "RecordHeader" in line)
    return lines[i + 1].strip()


@pytest.mark.parametrize("ours,theirs,alert_text,header", [
    # a TLS 1.2-only client whose one suite we do not run
    (("TLS_RSA_WITH_AES_128_CBC_SHA",), ["-tls1_2", "-cipher", "AES256-SHA"],
     "alert handshake failure", "15 03 03 00 02"),
    # a client retrying with TLS 1.1 after a failed 1.2 attempt, against a 1.0-1.2 server
    (("TLS_RSA_WITH_AES_128_CBC_SHA",),
     ["-tls1_1", "-fallback_scsv", "-cipher", "AES128-SHA:@SECLEVEL=0"],
     "alert inappropriate fallback", "15 03 02 00 02"),
    # s_client with ECDSA-only sigalgs withdraws every RSA-authenticated suite itself, so our
    # server sees no suite in common (the sigalgs refusal proper is in the next test)
    (("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",), ["-tls1_2", "-sigalgs", "ECDSA+SHA256"],
     "alert handshake failure", "15 03 03 00 02"),
], ids=["no-common-suite", "fallback-scsv", "sigalgs-ecdsa"])
def test_s_client_sees_our_alert(pki, ours, theirs, alert_text, header):
    server = own_server(pki, ours)
    with s_client(pki, server.port, "-msg", *theirs) as client:
        text = client.finish()
    refusal(server)
    assert alert_text in text
    assert "wrong version number" not in text
    assert header_after_receive(text) == header


# ---- the same ClientHello to s_server and to us: the same answer ----------------------------
def client_hello(version: int, suites, schemes=None) -> bytes:
    exts = [ext.Extension(ExtensionType.SUPPORTED_GROUPS, ext.encode_supported_groups(
                [ext.X25519, ext.SECP256R1, ext.FFDHE2048])),
            ext.Extension(ExtensionType.EC_POINT_FORMATS, ext.encode_ec_point_formats(b"\0"))]
    if schemes is not None:
        exts.append(ext.Extension(ExtensionType.SIGNATURE_ALGORITHMS,
                                  ext.encode_signature_algorithms(schemes)))
    body = m.ClientHello(version, os.urandom(32), b"", list(suites), b"\0", exts).encode()
    return bytes((22, 3, 1)) + len(body).to_bytes(2, "big") + body


def answer(port: int, hello: bytes) -> bytes:
    """Everything the server writes back to ``hello`` before it closes (10 s at most)."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(hello)
        try:
            while chunk := sock.recv(4096):
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return out


ECDSA_ONLY = [ext.ECDSA_SECP256R1_SHA256, ext.ED25519]
DIFF_CASES = [
    pytest.param(("TLS_RSA_WITH_AES_128_CBC_SHA",), "1.0", "1.2",
                 ["-cipher", "AES128-SHA:@SECLEVEL=0"], client_hello(0x0303, [AES256_SHA]),
                 id="no-common-suite"),
    pytest.param(("TLS_RSA_WITH_AES_128_CBC_SHA",), "1.0", "1.2",
                 ["-cipher", "AES128-SHA:@SECLEVEL=0"],
                 client_hello(0x0302, [AES128_SHA, FALLBACK_SCSV]), id="fallback-scsv"),
    pytest.param(("TLS_RSA_WITH_AES_128_CBC_SHA",), "1.0", "1.1",
                 ["-cipher", "AES128-SHA:@SECLEVEL=0", "-no_tls1_2"],
                 client_hello(0x0303, [AES256_SHA]), id="server-max-1.1"),
    pytest.param(("TLS_RSA_WITH_AES_128_CBC_SHA",), "1.2", "1.2", ["-no_tls1", "-no_tls1_1", "-cipher", "AES128-SHA"],
                 client_hello(0x0301, [AES128_SHA]), id="version-refused"),
    pytest.param(("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",), "1.2", "1.2",
                 ["-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
                 client_hello(0x0303, [ECDHE_GCM], ECDSA_ONLY), id="sigalgs-ecdhe"),
    pytest.param(("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",), "1.2", "1.2",
                 ["-cipher", "DHE-RSA-AES128-GCM-SHA256"],
                 client_hello(0x0303, [DHE_GCM], ECDSA_ONLY), id="sigalgs-dhe"),
]


@pytest.mark.parametrize("ours,low,high,theirs,hello", DIFF_CASES)
def test_same_refusal_as_s_server(pki, port, ours, low, high, theirs, hello):
    with s_server(pki, port, "-no_tls1_3", *theirs) as peer:
        reference = answer(port, hello)
        peer.finish()
    server = own_server(pki, ours, low, high)
    mine = answer(server.port, hello)
    error = refusal(server)
    assert reference[:1] == b"\x15" and len(reference) == 7, reference.hex()
    assert mine == reference, f"ours {mine.hex()} openssl {reference.hex()}"
    assert error.alert_sent == reference[-1]


# ---- who was refused ------------------------------------------------------------------------
def _fingerprint(path) -> str:
    return load_certificates(path)[0].info().sha256_fingerprint


def test_our_server_names_the_refused_python_client(pki, other_pki):
    server = own_server(pki, ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",), "1.2", "1.2")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(str(pki.ca_cert))
    ctx.load_cert_chain(str(other_pki.client_cert), str(other_pki.client_key))
    with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)
    error = refusal(server)
    assert isinstance(error, CertificateVerifyError) and error.alert_sent == 48
    assert "CN=dicomtls client" in error.peer_certificate.subject
    assert error.peer_certificate.sha256_fingerprint == _fingerprint(other_pki.client_cert)


def test_our_client_names_the_refused_s_server(pki, other_pki, port):
    cfg = our_config(pki, "client", ciphers=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                     max_version="1.2", engine="dicomtls")
    with s_server(other_pki, port, "-tls1_2") as peer:
        with pytest.raises(CertificateVerifyError) as err:
            d.connect("127.0.0.1", port, cfg, timeout=10)
        peer.finish()
    assert "CN=localhost" in err.value.peer_certificate.subject
    assert err.value.peer_certificate.sha256_fingerprint == _fingerprint(other_pki.server_cert)
