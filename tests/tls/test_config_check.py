"""A configuration is checked before it is used: servers before they bind, clients before they
connect, and ``check_config`` for deploy scripts (issue 8, item 1)."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from dicomtls import (CertificateLoadError, ConfigurationError, KeyMismatchError,
                      KeyPasswordError, LDicomNet, TLSConfig, VerificationServer, connect)
from dicomtls.ldicomnet.codes import DICOM_ERROR_PRIVATE_KEY_LOAD_FAILED
from dicomtls.ldicomnet.tls_settings import (DICOM_SECURE_TLS, L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                              L_SSL_VERIFY_PEER, SslCtxCreate)
from dicomtls.tls.check import check_config

THREE_DES = "TLS_RSA_WITH_3DES_EDE_CBC_SHA"


def garbled_bundle(pki, tmp_path):
    """The CA followed by a second PEM block whose base64 is broken."""
    path = tmp_path / "bundle.pem"
    path.write_bytes(pki.ca_cert.read_bytes() + b"-----BEGIN CERTIFICATE-----\nMIIB!!notbase64\n"
                     b"-----END CERTIFICATE-----\n")
    return path


def server_config(pki, **kw):
    args = dict(certificate=str(pki.server_cert), private_key=str(pki.server_key),
                ca_file=str(pki.ca_cert))
    args.update(kw)
    return TLSConfig.from_profile(args.pop("profile", "rfc8996"), **args)


# Three engine set-ups: libssl alone, the own engine alone (3DES), and a server that selects
# per client (TLS 1.3 + 3DES). Every failure must surface on each.
ENGINE_SETUPS = {
    "libssl": dict(),
    "own": dict(ciphers=[THREE_DES], max_version="1.2"),
    "select": dict(ciphers=["TLS_AES_128_GCM_SHA256", THREE_DES], min_version="1.2"),
}


@pytest.fixture(params=sorted(ENGINE_SETUPS))
def setup(request):
    return request.param, ENGINE_SETUPS[request.param]


def test_usable_config_reports_engine_certificate_and_anchors(pki, setup):
    name, extra = setup
    report = check_config(server_config(pki, **extra), "server")
    assert report.engine == {"libssl": "libssl", "own": "dicomtls", "select": "select"}[name]
    assert "localhost" in report.certificate.subject
    assert report.trusted_certificates == 1
    assert report.warnings == ()


@pytest.mark.parametrize("case", ["wrong-password", "no-password", "mismatch", "garbled-ca",
                                  "ca-not-pem", "no-trust", "cert-not-pem"])
def test_unusable_credentials_fail_the_check(pki, tmp_path, setup, case):
    _name, extra = setup
    kw = dict(extra)
    expected, words = {
        "wrong-password": (KeyPasswordError, ["wrong password", str(pki.server_key_encrypted)]),
        "no-password": (KeyPasswordError, ["no password", str(pki.server_key_encrypted)]),
        "mismatch": (KeyMismatchError, ["does not match", str(pki.client_key)]),
        "garbled-ca": (CertificateLoadError, ["bundle.pem", "certificate 2 (line"]),
        "ca-not-pem": (CertificateLoadError, [str(pki.server_key), "no PEM certificate"]),
        "no-trust": (ConfigurationError, ["needs trusted certificates"]),
        "cert-not-pem": (CertificateLoadError, [str(pki.ca_key)]),
    }[case]
    if case == "wrong-password":
        kw.update(private_key=str(pki.server_key_encrypted), key_password="not-the-password")
    elif case == "no-password":
        kw.update(private_key=str(pki.server_key_encrypted))
    elif case == "mismatch":
        kw.update(private_key=str(pki.client_key))
    elif case == "garbled-ca":
        kw.update(ca_file=str(garbled_bundle(pki, tmp_path)))
    elif case == "ca-not-pem":
        kw.update(ca_file=str(pki.server_key))
    elif case == "no-trust":
        kw.update(ca_file=None)
    elif case == "cert-not-pem":
        kw.update(certificate=str(pki.ca_key))
    config = server_config(pki, **kw)
    with pytest.raises(expected) as info:
        check_config(config, "server")
    for word in words:
        assert word in str(info.value)


def test_password_callback_is_asked_once_for_check_and_connections(pki):
    asked = []

    def password(size, rwflag):
        asked.append(size)
        return pki.password

    config = server_config(pki, private_key=str(pki.server_key_encrypted), key_password=password,
                           peer_cert="ignore")
    with VerificationServer(tls_config=config) as server:
        client = TLSConfig.from_profile(ca_file=str(pki.ca_cert))
        for _ in range(3):
            connect("127.0.0.1", server.port, client, timeout=10).close()
    assert len(asked) == 1


def test_expiring_certificate_is_a_warning(pki):
    config = server_config(pki)
    leaf_end = check_config(config).certificate.not_after
    report = check_config(config, now=leaf_end - dt.timedelta(days=3))
    assert any("expires in" in w for w in report.warnings)
    report = check_config(config, now=leaf_end + dt.timedelta(days=1))
    assert any("expired" in w for w in report.warnings)


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_server_refuses_to_start_before_binding(pki, port):
    config = server_config(pki, private_key=str(pki.server_key_encrypted), key_password="wrong")
    with pytest.raises(KeyPasswordError):
        VerificationServer("127.0.0.1", port, tls_config=config)
    assert _port_is_free(port)


def test_client_fails_before_connecting(pki):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.3)
    with listener:
        client = TLSConfig.from_profile(certificate=str(pki.client_cert),
                                        private_key=str(pki.client_key_encrypted),
                                        key_password="wrong", ca_file=str(pki.ca_cert))
        with pytest.raises(KeyPasswordError):
            connect("127.0.0.1", listener.getsockname()[1], client, timeout=5)
        with pytest.raises(socket.timeout):
            listener.accept()  # nothing ever connected


def test_ldicomnet_listen_returns_the_key_error_without_binding(pki, port, tmp_path):
    ctx = SslCtxCreate(ca_file=str(pki.ca_cert),
                       verify_mode=L_SSL_VERIFY_PEER | L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT)
    asked = []
    net = LDicomNet(None, DICOM_SECURE_TLS, ctx, handlers={
        "on_private_key_password": lambda size, flag: asked.append(size) or "wrong"})
    assert net.set_server_certificate_tls(str(pki.server_cert), 1,
                                          str(pki.server_key_encrypted)) == 0
    rc = net.listen("127.0.0.1", port)
    assert rc == DICOM_ERROR_PRIVATE_KEY_LOAD_FAILED
    assert asked and _port_is_free(port) and not net.is_activated()
    # The same object with the right password listens.
    good = LDicomNet(None, DICOM_SECURE_TLS, ctx,
                     handlers={"on_private_key_password": lambda size, flag: pki.password})
    good.set_server_certificate_tls(str(pki.server_cert), 1, str(pki.server_key_encrypted))
    try:
        assert good.listen("127.0.0.1", port) == 0
        assert not _port_is_free(port)
    finally:
        good.close()


def test_check_rejects_an_unknown_role(pki):
    with pytest.raises(ValueError):
        check_config(server_config(pki), "peer")
