"""Private key decoding (every form the openssl CLI writes), password handling, export round trips.

Key files are produced by the ``openssl`` command line tool, not by dicomtls, so decoding is checked
against an independent encoder.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REQUIRE_PEERS

from dicomtls.crypto.keys import PrivateKey, load_private_key, private_key_from_bytes
from dicomtls.errors import KeyLoadError, KeyPasswordError
from dicomtls.ldicomnet import lead_code

# A missing openssl CLI skips locally and fails in CI (conftest.REQUIRE_PEERS).
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None and not REQUIRE_PEERS,
                                reason="needs the openssl CLI")

PASSWORD = "secret"


def openssl(*args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(["openssl", *args], input=input, capture_output=True)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed: {proc.stderr.decode()}"
    return proc.stdout


@pytest.fixture(scope="module")
def keyfiles(tmp_path_factory) -> dict[str, Path]:
    """One RSA key in every on-disk form, written by the openssl CLI."""
    d = tmp_path_factory.mktemp("keys")
    f = {name: d / name for name in (
        "plain.pem", "pkcs8-enc.pem", "trad-enc.pem", "trad.pem", "pkcs8.der", "pkcs8-enc.der",
        "cert.pem")}
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-out", str(f["plain.pem"]))
    openssl("pkcs8", "-topk8", "-in", str(f["plain.pem"]), "-v2", "aes-256-cbc",
            "-passout", f"pass:{PASSWORD}", "-out", str(f["pkcs8-enc.pem"]))
    openssl("rsa", "-in", str(f["plain.pem"]), "-des3", "-traditional",
            "-passout", f"pass:{PASSWORD}", "-out", str(f["trad-enc.pem"]))
    openssl("rsa", "-in", str(f["plain.pem"]), "-traditional", "-out", str(f["trad.pem"]))
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", str(f["plain.pem"]), "-outform", "DER",
            "-out", str(f["pkcs8.der"]))
    openssl("pkcs8", "-topk8", "-in", str(f["plain.pem"]), "-v2", "aes-128-cbc", "-outform", "DER",
            "-passout", f"pass:{PASSWORD}", "-out", str(f["pkcs8-enc.der"]))
    openssl("req", "-x509", "-key", str(f["plain.pem"]), "-subj", "/CN=not a key", "-days", "1",
            "-out", str(f["cert.pem"]))
    return f


@pytest.fixture(scope="module")
def reference_pkcs8(keyfiles) -> bytes:
    """The key as unencrypted PKCS#8 PEM written by openssl: what our export must reproduce."""
    return openssl("pkey", "-in", str(keyfiles["plain.pem"]))


def test_fixture_forms_are_what_they_claim(keyfiles):
    # Guards the other tests: a silently unencrypted "encrypted" fixture would prove nothing.
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in keyfiles["pkcs8-enc.pem"].read_bytes()
    trad = keyfiles["trad-enc.pem"].read_bytes()
    assert b"BEGIN RSA PRIVATE KEY" in trad
    assert b"Proc-Type: 4,ENCRYPTED" in trad and b"DEK-Info: DES-EDE3-CBC" in trad
    assert b"BEGIN RSA PRIVATE KEY" in keyfiles["trad.pem"].read_bytes()
    assert not keyfiles["pkcs8.der"].read_bytes().startswith(b"-----")


@pytest.mark.parametrize("name, password, der", [
    ("plain.pem", None, None),
    ("trad.pem", None, None),
    ("pkcs8-enc.pem", PASSWORD, None),
    ("trad-enc.pem", PASSWORD, None),
    ("pkcs8.der", None, None),       # format guessed
    ("pkcs8.der", None, True),
    ("pkcs8-enc.der", PASSWORD, True),
    ("pkcs8-enc.pem", PASSWORD.encode(), False),  # bytes password, explicit PEM
])
def test_load_every_form(keyfiles, reference_pkcs8, name, password, der):
    key = load_private_key(keyfiles[name], password=password, der=der)
    assert key.key_type == "RSA"
    assert key.bits == 2048
    # Same key material as the original, not merely "some RSA key".
    assert key.export() == reference_pkcs8


@pytest.mark.parametrize("name", ["pkcs8-enc.pem", "trad-enc.pem", "pkcs8-enc.der"])
def test_wrong_password(keyfiles, name):
    path = keyfiles[name]
    with pytest.raises(KeyPasswordError) as info:
        load_private_key(path, password="not the password")
    err = info.value
    assert err.missing is False
    assert lead_code(err) == 218
    assert str(path) in str(err)
    assert err.path == str(path)


@pytest.mark.parametrize("name", ["pkcs8-enc.pem", "trad-enc.pem"])
def test_no_password(keyfiles, name):
    with pytest.raises(KeyPasswordError) as info:
        load_private_key(keyfiles[name])
    assert info.value.missing is True
    assert lead_code(info.value) == 218
    assert str(keyfiles[name]) in str(info.value)


@pytest.mark.parametrize("name", ["pkcs8-enc.pem", "trad-enc.pem"])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_password_callback(keyfiles, reference_pkcs8, name, as_bytes):
    calls = []

    def cb(size, rwflag):
        calls.append((size, rwflag))
        return PASSWORD.encode() if as_bytes else PASSWORD

    key = load_private_key(keyfiles[name], password=cb)
    assert key.export() == reference_pkcs8
    assert calls, "callback was never asked"
    for size, rwflag in calls:
        assert size > 0
        assert rwflag == 0  # decrypting


def test_password_callback_returning_none_means_missing(keyfiles):
    with pytest.raises(KeyPasswordError) as info:
        load_private_key(keyfiles["pkcs8-enc.pem"], password=lambda size, rwflag: None)
    assert info.value.missing is True


def test_password_callback_not_called_for_plain_key(keyfiles):
    calls = []
    load_private_key(keyfiles["plain.pem"], password=lambda *a: calls.append(a) or PASSWORD)
    assert calls == []


def test_password_callback_raising(keyfiles):
    original = RuntimeError("vault unavailable")

    def cb(size, rwflag):
        raise original

    with pytest.raises(KeyPasswordError) as info:
        load_private_key(keyfiles["pkcs8-enc.pem"], password=cb)
    assert info.value.__cause__ is original
    assert str(keyfiles["pkcs8-enc.pem"]) in str(info.value)


def test_password_callback_too_long(keyfiles):
    with pytest.raises(KeyPasswordError) as info:
        load_private_key(keyfiles["pkcs8-enc.pem"], password=lambda size, rwflag: "x" * (size + 1))
    assert "longer" in str(info.value)
    assert info.value.missing is False


def test_certificate_given_as_key(keyfiles):
    with pytest.raises(KeyLoadError) as info:
        load_private_key(keyfiles["cert.pem"])
    assert not isinstance(info.value, KeyPasswordError)
    assert lead_code(info.value) == 218
    assert str(keyfiles["cert.pem"]) in str(info.value)


def test_garbage_bytes():
    with pytest.raises(KeyLoadError) as info:
        private_key_from_bytes(b"\x00garbage" * 10, source="junk.bin")
    assert "junk.bin" in str(info.value)


def test_nonexistent_file(tmp_path):
    path = tmp_path / "missing.key"
    with pytest.raises(KeyLoadError) as info:
        load_private_key(path)
    assert not isinstance(info.value, KeyPasswordError)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


# ---- generation and export -------------------------------------------------------------------

@pytest.fixture(scope="module", params=["rsa", "ec"])
def generated(request) -> PrivateKey:
    return PrivateKey.generate(request.param, bits=2048)


def test_generate():
    rsa = PrivateKey.generate("rsa", bits=1024)
    assert (rsa.key_type, rsa.bits) == ("RSA", 1024)
    ec = PrivateKey.generate("ec", curve="P-384")
    assert (ec.key_type, ec.bits) == ("EC", 384)
    with pytest.raises(KeyLoadError):
        PrivateKey.generate("dsa")


@pytest.mark.parametrize("form", ["pkcs8", "traditional", "der"])
@pytest.mark.parametrize("password", [None, "pw-123"])
def test_export_round_trip(generated, form, password):
    data = generated.export(form=form, password=password)
    if form == "der":
        assert not data.startswith(b"-----")
    elif password is not None and form == "pkcs8":
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in data
    elif password is not None:
        assert b"Proc-Type: 4,ENCRYPTED" in data
    if password is not None:
        with pytest.raises(KeyPasswordError):
            private_key_from_bytes(data, der=(form == "der"))
    back = private_key_from_bytes(data, password=password, der=(form == "der"))
    assert back.key_type == generated.key_type
    assert back.bits == generated.bits
    assert back.export() == generated.export()


@pytest.mark.parametrize("form, inform", [("pkcs8", "PEM"), ("traditional", "PEM"), ("der", "DER")])
def test_export_readable_by_openssl(generated, tmp_path, form, inform):
    path = tmp_path / "k"
    path.write_bytes(generated.export(form=form, password="pw-123"))
    out = openssl("pkey", "-in", str(path), "-inform", inform, "-passin", "pass:pw-123")
    assert out == generated.export()
    bad = subprocess.run(["openssl", "pkey", "-in", str(path), "-inform", inform,
                          "-passin", "pass:wrong"], capture_output=True)
    assert bad.returncode != 0


def test_export_rejects_unknown_form(generated):
    with pytest.raises(KeyLoadError):
        generated.export(form="pkcs12")
