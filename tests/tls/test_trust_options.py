"""Trust and file options: CA directory, chain depth, DER (LEAD ASN1) files, key in the cert file."""

from __future__ import annotations

import shutil
import subprocess

import pytest

import dicomtls
from dicomtls.errors import CertificateVerifyError
from dicomtls.ldicomnet import lead_code

from conftest import require_binary


def handshake(client_cfg, server_cfg, server_name=None):
    """Run two sans-IO connections against each other; return (client, server) sessions or raise."""
    c = dicomtls.new_connection(client_cfg, "client", server_name=server_name)
    s = dicomtls.new_connection(server_cfg, "server")
    sessions = {}
    for _ in range(8):
        for a, b in ((c, s), (s, c)):
            if a not in sessions:
                event = a.next_event()
                if isinstance(event, dicomtls.HandshakeComplete):
                    sessions[a] = event.session
            b.receive_data(a.data_to_send())
        if len(sessions) == 2:
            return sessions[c], sessions[s]
    raise AssertionError("handshake did not finish")


def server_cfg(pki, **kw):
    kw.setdefault("ca_file", str(pki.ca_cert))
    return dicomtls.TLSConfig.from_profile(certificate=str(pki.server_cert),
                                           private_key=str(pki.server_key), **kw)


def client_cfg(pki, **kw):
    kw.setdefault("ca_file", str(pki.ca_cert))
    return dicomtls.TLSConfig.from_profile(certificate=str(pki.client_cert),
                                           private_key=str(pki.client_key), **kw)


def test_ca_directory_in_rehash_layout(pki, tmp_path):
    require_binary("openssl")
    cadir = tmp_path / "cas"
    cadir.mkdir()
    shutil.copy(pki.ca_cert, cadir / "ca.pem")
    subprocess.run(["openssl", "rehash", str(cadir)], check=True, timeout=30)
    cs, ss = handshake(client_cfg(pki, ca_file=None, ca_dir=str(cadir)),
                       server_cfg(pki, ca_file=None, ca_dir=str(cadir)))
    assert cs.peer_authenticated and ss.peer_authenticated


def test_verify_depth_counts_intermediates(pki, tmp_path):
    """OpenSSL's depth N allows N intermediates between the leaf and the trust anchor."""
    from dicomtls.crypto.devpki import issue_certificate
    from dicomtls.crypto.keys import PrivateKey, load_private_key
    from dicomtls.crypto.x509 import load_certificates
    root = (load_certificates(pki.ca_cert)[0], load_private_key(pki.ca_key))
    ik, lk = PrivateKey.generate(), PrivateKey.generate()
    inter = issue_certificate(ik, "intermediate CA", issuer=root, ca=True)
    leaf = issue_certificate(lk, "localhost", issuer=(inter, ik), purposes=("serverAuth",),
                             san_dns=("localhost",))
    chain, key = tmp_path / "chain.pem", tmp_path / "leaf.key"
    chain.write_bytes(leaf.to_pem() + inter.to_pem())
    key.write_bytes(lk.export())
    server = dicomtls.TLSConfig.from_profile(certificate=str(chain), private_key=str(key),
                                             ca_file=str(pki.ca_cert), peer_cert="ignore")
    with pytest.raises(CertificateVerifyError) as info:
        handshake(client_cfg(pki, verify_depth=0), server)
    assert info.value.verify_code == 22          # X509_V_ERR_CERT_CHAIN_TOO_LONG
    assert lead_code(info.value) == 180          # LEAD DICOM_ERROR_CERT_CHAIN_TOO_LONG
    cs, _ = handshake(client_cfg(pki, verify_depth=1), server)
    assert len(cs.peer_certificates) == 3 and cs.peer_authenticated


def test_der_files(pki, tmp_path):
    require_binary("openssl")
    files = {}
    for role in ("server", "client"):
        cert, key = tmp_path / f"{role}.der", tmp_path / f"{role}.key.der"
        subprocess.run(["openssl", "x509", "-in", str(getattr(pki, f"{role}_cert")), "-outform",
                        "DER", "-out", str(cert)], check=True, timeout=30)
        subprocess.run(["openssl", "pkcs8", "-topk8", "-in", str(getattr(pki, f"{role}_key")),
                        "-outform", "DER", "-v2", "aes-256-cbc", "-passout", "pass:secret",
                        "-out", str(key)], check=True, timeout=30)
        files[role] = (str(cert), str(key))
    common = dict(ca_file=str(pki.ca_cert), file_format="der", key_password="secret")
    cs, ss = handshake(
        dicomtls.TLSConfig.from_profile(certificate=files["client"][0],
                                        private_key=files["client"][1], **common),
        dicomtls.TLSConfig.from_profile(certificate=files["server"][0],
                                        private_key=files["server"][1], **common))
    assert ss.peer_certificate.subject.startswith("CN=dicomtls client")
    assert cs.peer_certificate.subject.startswith("CN=localhost")


def test_key_in_the_certificate_file(pki, tmp_path):
    bundle = tmp_path / "server-bundle.pem"
    bundle.write_bytes(pki.server_cert.read_bytes() + pki.server_key_encrypted.read_bytes())
    server = dicomtls.TLSConfig.from_profile(certificate=str(bundle), key_password="secret",
                                             ca_file=str(pki.ca_cert))
    cs, _ = handshake(client_cfg(pki), server)
    assert cs.peer_certificate.subject.startswith("CN=localhost")


def test_server_sends_its_chain_file(pki):
    server = dicomtls.TLSConfig.from_profile(certificate=str(pki.server_chain),
                                             private_key=str(pki.server_key),
                                             ca_file=str(pki.ca_cert))
    cs, _ = handshake(client_cfg(pki), server)
    assert [c.subject.split(",")[0] for c in cs.peer_certificates] == ["CN=localhost",
                                                                        "CN=dicomtls dev CA"]


def test_features_report_missing_3des():
    f = dicomtls.features()
    assert f.legacy_provider is True            # single DES for the coming own engine
    assert f.libssl_has_3des_suites is False    # Debian's OpenSSL 3 is built without them
    assert 0x1301 in f.libssl_suite_codes and 0xC02F in f.libssl_suite_codes


@pytest.mark.parametrize("name,ok", [("localhost", True), ("127.0.0.1", True),
                                     ("pacs.example", False), ("127.0.0.2", False)])
def test_verify_hostname(pki, name, ok):
    client = client_cfg(pki, verify_hostname=True)
    if ok:
        cs, _ = handshake(client, server_cfg(pki), server_name=name)
        assert cs.peer_authenticated
    else:
        with pytest.raises(CertificateVerifyError) as info:
            handshake(client, server_cfg(pki), server_name=name)
        assert info.value.verify_code in (62, 64)  # X509_V_ERR_HOSTNAME / IP_ADDRESS_MISMATCH


@pytest.mark.parametrize("server_preference,expected", [
    (True, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (False, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
])
def test_server_or_client_order_picks_the_suite(pki, server_preference, expected):
    server = server_cfg(pki, ciphers=["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                        server_preference=server_preference)
    client = client_cfg(pki, ciphers=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"])
    cs, ss = handshake(client, server)
    assert cs.cipher_suite.name == ss.cipher_suite.name == expected
