"""Certificate loading and the details dicomtls reports, checked against the openssl CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REQUIRE_PEERS

from dicomtls.crypto.x509 import Certificate, certificates_from_bytes, load_certificates
from dicomtls.errors import CertificateLoadError
from dicomtls.ldicomnet import lead_code

# A missing openssl CLI skips locally and fails in CI (conftest.REQUIRE_PEERS).
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None and not REQUIRE_PEERS,
                                reason="needs the openssl CLI")


def openssl(*args: str) -> str:
    proc = subprocess.run(["openssl", *args], capture_output=True)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed: {proc.stderr.decode()}"
    return proc.stdout.decode()


def field(output: str, name: str) -> str:
    """The value of ``name=value`` in openssl -noout output."""
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    raise AssertionError(f"{name} not in {output!r}")


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A CA and a leaf made by the openssl CLI (independent of dicomtls' own issuer)."""
    d = tmp_path_factory.mktemp("x509")
    f = {n: d / n for n in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem", "chain.pem",
                            "leaf.der", "small.pem")}
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(f["ca.key"]), "-subj", "/O=Test Org/CN=Test CA", "-days", "30",
            "-set_serial", "0x0A", "-out", str(f["ca.pem"]))
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(f["leaf.key"]),
            "-subj", "/C=DE/O=Test Org/CN=leaf.example", "-out", str(f["leaf.csr"]))
    # A serial with the top bit set: DER pads it with a 00 byte, a classic hex-rendering trap.
    openssl("x509", "-req", "-in", str(f["leaf.csr"]), "-CA", str(f["ca.pem"]),
            "-CAkey", str(f["ca.key"]), "-set_serial", "0x80112233445566778899", "-days", "10",
            "-out", str(f["leaf.pem"]))
    openssl("x509", "-in", str(f["leaf.pem"]), "-outform", "DER", "-out", str(f["leaf.der"]))
    f["chain.pem"].write_text(f["leaf.pem"].read_text() + f["ca.pem"].read_text())
    return f


def test_chain_order_kept(certs):
    chain = load_certificates(certs["chain.pem"])
    assert len(chain) == 2
    assert chain[0].subject == "CN=leaf.example,O=Test Org,C=DE"
    assert chain[1].subject == "CN=Test CA,O=Test Org"
    assert chain[0].issuer == chain[1].subject
    # Reversed file, reversed list: the loader must not sort.
    reversed_chain = certificates_from_bytes(
        certs["ca.pem"].read_bytes() + certs["leaf.pem"].read_bytes())
    assert [c.subject for c in reversed_chain] == [chain[1].subject, chain[0].subject]


@pytest.mark.parametrize("der", [None, True])
def test_der_certificate(certs, der):
    (cert,) = load_certificates(certs["leaf.der"], der=der)
    assert cert.to_der() == certs["leaf.der"].read_bytes()
    (pem,) = load_certificates(certs["leaf.pem"])
    assert cert.fingerprint() == pem.fingerprint()


@pytest.mark.parametrize("name", ["leaf.pem", "ca.pem"])
def test_details_match_openssl(certs, name):
    path = str(certs[name])
    (cert,) = load_certificates(path)
    assert cert.subject == field(openssl("x509", "-in", path, "-noout", "-subject",
                                         "-nameopt", "RFC2253"), "subject")
    assert cert.issuer == field(openssl("x509", "-in", path, "-noout", "-issuer",
                                        "-nameopt", "RFC2253"), "issuer")
    assert cert.serial == field(openssl("x509", "-in", path, "-noout", "-serial"), "serial")

    dates = openssl("x509", "-in", path, "-noout", "-dates")
    for attr, key in (("not_before", "notBefore"), ("not_after", "notAfter")):
        value = getattr(cert, attr)
        assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)
        expected = dt.datetime.strptime(field(dates, key), "%b %d %H:%M:%S %Y GMT")
        assert value == expected.replace(tzinfo=dt.timezone.utc)

    fp = openssl("x509", "-in", path, "-noout", "-fingerprint", "-sha256")
    assert cert.fingerprint("SHA256") == fp.strip().partition("=")[2]
    assert cert.fingerprint("SHA1") == openssl(
        "x509", "-in", path, "-noout", "-fingerprint", "-sha1").strip().partition("=")[2]


def test_serial_values(certs):
    (leaf,) = load_certificates(certs["leaf.pem"])
    (ca,) = load_certificates(certs["ca.pem"])
    assert leaf.serial == "80112233445566778899"
    assert ca.serial == "0A"


def test_info(certs):
    (leaf,) = load_certificates(certs["leaf.pem"])
    info = leaf.info()
    assert info.subject == "CN=leaf.example,O=Test Org,C=DE"
    assert info.issuer == "CN=Test CA,O=Test Org"
    assert (info.key_type, info.key_bits) == ("RSA", 2048)
    assert info.not_after - info.not_before == dt.timedelta(days=10)
    d = json.loads(json.dumps(info.to_dict()))
    assert d["serial"] == "80112233445566778899"
    assert dt.datetime.fromisoformat(d["not_after"]) == info.not_after
    assert f"subject={info.subject}" in info.describe()
    (ca,) = load_certificates(certs["ca.pem"])
    assert (ca.public_key_type, ca.public_key_bits) == ("EC", 256)


def test_pem_round_trip(certs):
    (cert,) = load_certificates(certs["leaf.pem"])
    assert cert.to_pem() == certs["leaf.pem"].read_bytes()


def test_borrowed_reference_survives_owner(certs):
    (cert,) = load_certificates(certs["leaf.pem"])
    borrowed = Certificate(cert.ptr, owned=False)  # takes its own reference
    fp = cert.fingerprint()
    del cert
    assert borrowed.fingerprint() == fp


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage\xff" * 20,
                                     b"-----BEGIN CERTIFICATE-----\nnot base64!!\n"
                                     b"-----END CERTIFICATE-----\n"])
def test_empty_or_garbage(tmp_path, content):
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    with pytest.raises(CertificateLoadError) as info:
        load_certificates(path)
    assert lead_code(info.value) == 219
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_private_key_is_not_a_certificate(certs):
    with pytest.raises(CertificateLoadError):
        load_certificates(certs["leaf.key"])


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pem"
    with pytest.raises(CertificateLoadError) as info:
        load_certificates(path)
    assert lead_code(info.value) == 219
    assert info.value.path == str(path)


def test_corrupt_second_certificate_is_an_error(certs):
    ca_pem = certs["ca.pem"].read_bytes()
    data = certs["leaf.pem"].read_bytes() + ca_pem[:200] + b"\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateLoadError):
        certificates_from_bytes(data)
