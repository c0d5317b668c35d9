"""The development PKI, checked with the openssl CLI as an independent verifier."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import REQUIRE_PEERS

from dicomtls.crypto.devpki import DevPKI, create_dev_pki, ensure_dev_pki, issue_certificate
from dicomtls.crypto.keys import PrivateKey, load_private_key
from dicomtls.crypto.x509 import load_certificates
from dicomtls.errors import KeyMismatchError, KeyPasswordError

# A missing openssl CLI skips locally and fails in CI (conftest.REQUIRE_PEERS).
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None and not REQUIRE_PEERS,
                                reason="needs the openssl CLI")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)


def ok(*args: str) -> str:
    proc = run(*args)
    assert proc.returncode == 0, f"openssl {args} failed: {proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> DevPKI:
    return create_dev_pki(tmp_path_factory.mktemp("pki") / "dev")


@pytest.fixture(scope="module")
def ec_pki(tmp_path_factory) -> DevPKI:
    return create_dev_pki(tmp_path_factory.mktemp("pki-ec"), key_type="ec", password="ec-pw")


@pytest.fixture(scope="module")
def ca(pki):
    return (load_certificates(pki.ca_cert)[0], load_private_key(pki.ca_key))


def test_layout(pki):
    names = sorted(p.name for p in pki.directory.iterdir() if not p.name.startswith("."))
    assert names == sorted(["ca.pem", "ca.key", "server.pem", "server.key", "server-encrypted.key",
                            "client.pem", "client.key", "client-encrypted.key",
                            "server-chain.pem"])
    assert pki.server_chain == pki.directory / "server-chain.pem"
    assert pki.password == "secret"
    # No temp files from the atomic writes left behind.
    assert not [p for p in pki.directory.iterdir() if p.name.endswith(".tmp")]


def test_openssl_verifies_chain(pki):
    out = ok("verify", "-CAfile", pki.ca_cert, pki.server_cert, pki.client_cert)
    assert f"{pki.server_cert}: OK" in out and f"{pki.client_cert}: OK" in out


def test_verification_fails_against_another_ca(pki, ec_pki):
    proc = run("verify", "-CAfile", ec_pki.ca_cert, pki.server_cert)
    assert proc.returncode != 0


def test_server_extensions(pki):
    out = ok("x509", "-in", pki.server_cert, "-noout", "-ext", "subjectAltName,extendedKeyUsage")
    assert "DNS:localhost, IP Address:127.0.0.1" in out
    assert "TLS Web Server Authentication" in out
    assert "TLS Web Client Authentication" not in out
    text = ok("x509", "-in", pki.server_cert, "-noout", "-text")
    assert "Basic Constraints: critical\n                CA:FALSE" in text
    assert "Key Usage: critical" in text
    assert "Digital Signature, Key Encipherment" in text  # RSA: key transport allowed
    subject = ok("x509", "-in", pki.server_cert, "-noout", "-subject", "-nameopt", "RFC2253")
    assert "CN=localhost" in subject


def test_client_extensions(pki):
    out = ok("x509", "-in", pki.client_cert, "-noout", "-ext", "subjectAltName,extendedKeyUsage")
    assert "TLS Web Client Authentication" in out
    assert "TLS Web Server Authentication" not in out
    assert "Subject Alternative Name" not in out
    (cert,) = load_certificates(pki.client_cert)
    assert cert.subject.startswith("CN=dicomtls client,")


def test_ca_extensions(pki):
    text = ok("x509", "-in", pki.ca_cert, "-noout", "-text")
    assert "Basic Constraints: critical\n                CA:TRUE" in text
    assert "Certificate Sign, CRL Sign" in text
    ski = ok("x509", "-in", pki.ca_cert, "-noout", "-ext", "subjectKeyIdentifier")
    aki = ok("x509", "-in", pki.server_cert, "-noout", "-ext", "authorityKeyIdentifier")
    # The leaf's AKI must name the CA's SKI: verifiers use it to pick the issuer.
    ski_value = ski.strip().splitlines()[-1].strip()
    assert ski_value and ski_value in aki
    (ca_cert,) = load_certificates(pki.ca_cert)
    assert ca_cert.not_after - ca_cert.not_before > dt.timedelta(days=3640)


def test_purpose(pki):
    ok("verify", "-purpose", "sslserver", "-CAfile", pki.ca_cert, pki.server_cert)
    ok("verify", "-purpose", "sslclient", "-CAfile", pki.ca_cert, pki.client_cert)
    bad = run("verify", "-purpose", "sslserver", "-CAfile", pki.ca_cert, pki.client_cert)
    assert bad.returncode != 0
    # error 26 = X509_V_ERR_INVALID_PURPOSE (wording varies between OpenSSL releases)
    assert "error 26 " in bad.stdout + bad.stderr and "purpose" in bad.stdout + bad.stderr


def test_chain_file(pki):
    chain = load_certificates(pki.server_chain)
    assert [c.fingerprint() for c in chain] == [
        load_certificates(pki.server_cert)[0].fingerprint(),
        load_certificates(pki.ca_cert)[0].fingerprint()]


def test_keys_match_certificates(pki):
    for cert, key in ((pki.ca_cert, pki.ca_key), (pki.server_cert, pki.server_key),
                      (pki.client_cert, pki.client_key)):
        assert ok("x509", "-in", cert, "-noout", "-pubkey") == ok("pkey", "-in", key, "-pubout")


@pytest.mark.parametrize("which", ["server", "client"])
def test_encrypted_keys(pki, which):
    enc = getattr(pki, f"{which}_key_encrypted")
    plain = getattr(pki, f"{which}_key")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in enc.read_bytes()
    assert "aes-256-cbc" in ok("asn1parse", "-in", enc).lower()
    assert ok("pkey", "-in", enc, "-passin", "pass:secret") == plain.read_text()
    assert run("pkey", "-in", enc, "-passin", "pass:wrong").returncode != 0
    key = load_private_key(enc, password="secret")
    assert key.export() == plain.read_bytes()
    with pytest.raises(KeyPasswordError):
        load_private_key(enc, password="wrong")
    with pytest.raises(KeyPasswordError):
        load_private_key(enc)


def test_key_files_are_private(pki):
    for path in (pki.ca_key, pki.server_key, pki.server_key_encrypted, pki.client_key,
                 pki.client_key_encrypted):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_ec_variant(ec_pki):
    ok("verify", "-CAfile", ec_pki.ca_cert, ec_pki.server_cert, ec_pki.client_cert)
    ok("verify", "-purpose", "sslserver", "-CAfile", ec_pki.ca_cert, ec_pki.server_cert)
    for path in (ec_pki.ca_key, ec_pki.server_key, ec_pki.client_key):
        key = load_private_key(path)
        assert (key.key_type, key.bits) == ("EC", 256)
        assert "prime256v1" in ok("pkey", "-in", path, "-noout", "-text")
    text = ok("x509", "-in", ec_pki.server_cert, "-noout", "-text")
    assert "Key Encipherment" not in text and "Digital Signature" in text
    ok("pkey", "-in", ec_pki.server_key_encrypted, "-passin", "pass:ec-pw")
    assert load_private_key(ec_pki.client_key_encrypted, password="ec-pw").key_type == "EC"


def test_overwrite_false(pki):
    with pytest.raises(FileExistsError):
        create_dev_pki(pki.directory, overwrite=False)


# ---- issue_certificate ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def leaf_key() -> PrivateKey:
    return PrivateKey.generate("ec")


def write(tmp_path: Path, cert) -> Path:
    path = tmp_path / "cert.pem"
    path.write_bytes(cert.to_pem())
    return path


@pytest.mark.parametrize("style", ["timedelta", "datetime"])
def test_expired(tmp_path, pki, ca, leaf_key, style):
    now = dt.datetime.now(dt.timezone.utc)
    if style == "timedelta":
        nb, na = dt.timedelta(days=-10), dt.timedelta(days=-1)
    else:
        nb, na = now - dt.timedelta(days=10), now - dt.timedelta(days=1)
    cert = issue_certificate(leaf_key, "expired", issuer=ca, not_before=nb, not_after=na,
                             purposes=("serverAuth",))
    assert abs(cert.not_after - (now - dt.timedelta(days=1))) < dt.timedelta(minutes=1)
    proc = run("verify", "-CAfile", pki.ca_cert, write(tmp_path, cert))
    assert proc.returncode != 0
    assert "certificate has expired" in proc.stdout + proc.stderr


def test_not_yet_valid(tmp_path, pki, ca, leaf_key):
    cert = issue_certificate(leaf_key, "future", issuer=ca, not_before=dt.timedelta(days=1),
                             not_after=dt.timedelta(days=10))
    proc = run("verify", "-CAfile", pki.ca_cert, write(tmp_path, cert))
    assert proc.returncode != 0
    assert "certificate is not yet valid" in proc.stdout + proc.stderr


def test_defaults(ca, leaf_key):
    now = dt.datetime.now(dt.timezone.utc)
    cert = issue_certificate(leaf_key, "defaults", issuer=ca)
    # Back-dated for clock skew, 825 days ahead.
    assert now - dt.timedelta(minutes=6) < cert.not_before < now - dt.timedelta(minutes=4)
    assert abs(cert.not_after - (now + dt.timedelta(days=825))) < dt.timedelta(minutes=1)
    assert cert.subject == "CN=defaults,O=dicomtls dev PKI"
    assert cert.issuer == ca[0].subject
    assert 0 < int(cert.serial, 16) < 2**63
    assert issue_certificate(leaf_key, "x", issuer=ca).serial != cert.serial


def test_explicit_serial_and_self_signed(tmp_path, leaf_key):
    cert = issue_certificate(leaf_key, "self", serial=0x7FFF_0000_0000_0001, organization="",
                             san_dns=("a.example", "b.example"), san_ip=("::1",))
    assert cert.serial == "7FFF000000000001"
    assert cert.subject == cert.issuer == "CN=self"
    path = write(tmp_path, cert)
    out = ok("x509", "-in", path, "-noout", "-ext", "subjectAltName")
    assert "DNS:a.example, DNS:b.example, IP Address:0:0:0:0:0:0:0:1" in out
    # Self-signed leaf trusted directly: the signature is its own.
    ok("verify", "-CAfile", path, "-partial_chain", path)


def test_bad_inputs(ca, leaf_key):
    with pytest.raises(ValueError):
        issue_certificate(leaf_key, "x", issuer=ca, serial=0)
    with pytest.raises(ValueError):
        issue_certificate(leaf_key, "x", issuer=ca, serial=2**63)
    with pytest.raises(ValueError):  # would inject a second SAN entry
        issue_certificate(leaf_key, "x", issuer=ca, san_dns=("a.example,IP:10.0.0.1",))
    with pytest.raises(ValueError):
        issue_certificate(leaf_key, "x", issuer=ca, san_ip=("not-an-ip",))
    with pytest.raises(ValueError):
        issue_certificate(leaf_key, "x", issuer=ca, not_before=dt.timedelta(days=2),
                          not_after=dt.timedelta(days=1))


def test_issuer_key_mismatch(ca, leaf_key):
    with pytest.raises(KeyMismatchError):
        issue_certificate(leaf_key, "x", issuer=(ca[0], leaf_key))


# ---- ensure_dev_pki ----------------------------------------------------------------------------

def mtimes(pki: DevPKI) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in pki.files()}


def test_ensure_reuses(tmp_path):
    first = ensure_dev_pki(tmp_path / "cache")
    before = mtimes(first)
    fp = load_certificates(first.server_cert)[0].fingerprint()
    second = ensure_dev_pki(tmp_path / "cache")
    assert second == first
    assert mtimes(second) == before
    assert load_certificates(second.server_cert)[0].fingerprint() == fp
    ok("verify", "-CAfile", second.ca_cert, second.server_cert)


def test_ensure_key_type(tmp_path):
    ec = ensure_dev_pki(tmp_path, key_type="ec")
    assert load_private_key(ec.server_key).key_type == "EC"
    before = mtimes(ec)
    assert mtimes(ensure_dev_pki(tmp_path, key_type="ec")) == before
    # Asking for RSA where an EC set is cached replaces it rather than handing out EC keys.
    rsa = ensure_dev_pki(tmp_path)
    assert load_private_key(rsa.server_key).key_type == "RSA"
    assert load_certificates(rsa.server_cert)[0].public_key_type == "RSA"
    ok("verify", "-CAfile", rsa.ca_cert, rsa.server_cert, rsa.client_cert)


def test_ensure_recreates_missing_file(tmp_path):
    first = ensure_dev_pki(tmp_path)
    fp = load_certificates(first.server_cert)[0].fingerprint()
    first.client_key_encrypted.unlink()
    second = ensure_dev_pki(tmp_path)
    assert second.client_key_encrypted.exists()
    assert load_certificates(second.server_cert)[0].fingerprint() != fp
    ok("verify", "-CAfile", second.ca_cert, second.server_cert, second.client_cert)


def test_ensure_renews_expiring(tmp_path):
    pki = ensure_dev_pki(tmp_path)
    ca = (load_certificates(pki.ca_cert)[0], load_private_key(pki.ca_key))
    server_key = load_private_key(pki.server_key)
    soon = issue_certificate(server_key, "localhost", issuer=ca, not_after=dt.timedelta(days=3))
    pki.server_cert.write_bytes(soon.to_pem())
    renewed = ensure_dev_pki(tmp_path)
    (cert,) = load_certificates(renewed.server_cert)
    assert cert.not_after > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=800)


def test_ensure_default_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    pki = ensure_dev_pki()
    assert pki.directory == tmp_path / "xdg" / "dicomtls" / "dev-pki"
    assert pki.server_cert.is_file()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ensure_dev_pki().directory == tmp_path / "home" / ".cache" / "dicomtls" / "dev-pki"
