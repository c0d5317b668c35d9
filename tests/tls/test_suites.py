"""Tests for the ciphersuite registry (dicomtls.tls.suites)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import REQUIRE_PEERS

from dicomtls.errors import ConfigurationError, UnknownCipherSuiteError
from dicomtls.tls import suites as S
from dicomtls.tls.suites import ALL_SUITES, by_code, lookup, tls12_suites, tls13_suites
from dicomtls.tls.versions import TLSVersion

OPENSSL = shutil.which("openssl")
# Skips locally without the openssl CLI; in CI (REQUIRE_PEERS) the tests run and fail instead.
needs_openssl = pytest.mark.skipif(OPENSSL is None and not REQUIRE_PEERS,
                                   reason="openssl binary not installed")

# "0x00,0x2F - TLS_RSA_WITH_AES_128_CBC_SHA - AES128-SHA SSLv3 Kx=RSA Au=RSA Enc=AES(128) Mac=SHA1"
_LINE = re.compile(
    r"0x([0-9A-F]{2}),0x([0-9A-F]{2})\s+-\s+(\S+)\s+-\s+(\S+)\s+(\S+)\s+"
    r"Kx=(\S+)\s+Au=(\S+)\s+Enc=(\S+)\s+Mac=(\S+)")


def _openssl_rows(*args: str) -> dict[int, tuple]:
    out = subprocess.run([OPENSSL, "ciphers", *args], capture_output=True, text=True, check=True)
    rows = {}
    for line in out.stdout.splitlines():
        m = _LINE.search(line)
        if m:
            hi, lo, iana, name, proto, kx, au, enc, mac = m.groups()
            rows[int(hi, 16) << 8 | int(lo, 16)] = (iana, name, proto, kx, au, enc, mac)
    return rows


@pytest.fixture(scope="module")
def cli12():
    rows = _openssl_rows("-V", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    assert len(rows) > 50, "could not parse `openssl ciphers -V -stdname` output"
    return rows


@pytest.fixture(scope="module")
def cli13():
    rows = _openssl_rows("-s", "-tls1_3", "-V", "-stdname")
    # The CCM suites are compiled in but not enabled by default; ask for them explicitly.
    rows.update(_openssl_rows("-s", "-tls1_3", "-V", "-stdname", "-ciphersuites",
                              "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"))
    return rows


# How OpenSSL's -V columns spell what the registry stores.
_OSSL_KX = {"RSA": "RSA", "DH": "DHE", "ECDH": "ECDHE", "any": "ANY"}
_OSSL_AU = {"RSA": "RSA", "DSS": "DSS", "ECDSA": "ECDSA", "any": "ANY", "None": "NULL"}
_OSSL_PROTO = {"SSLv3": TLSVersion.TLSv1_0, "TLSv1": TLSVersion.TLSv1_0,
               "TLSv1.2": TLSVersion.TLSv1_2, "TLSv1.3": TLSVersion.TLSv1_3}


def _ossl_enc(enc: str) -> str:
    if enc == "None":
        return "NULL"
    family, bits = re.fullmatch(r"([A-Za-z0-9/]+)\((\d+)\)", enc).groups()
    return {
        "AES": f"AES-{bits}-CBC", "AESGCM": f"AES-{bits}-GCM", "AESCCM": f"AES-{bits}-CCM",
        "AESCCM8": f"AES-{bits}-CCM8", "Camellia": f"CAMELLIA-{bits}-CBC",
        "CHACHA20/POLY1305": "CHACHA20-POLY1305", "3DES": "3DES-EDE-CBC", "DES": "DES-CBC",
    }[family]


# Suites whose OpenSSL name is historical: absent from OpenSSL 3 default builds.
_NOT_IN_MODERN_OPENSSL = {
    0x0009, 0x0015, 0x000A, 0x0016,
    0xC004, 0xC005, 0xC00E, 0xC00F, 0xC025, 0xC026, 0xC029, 0xC02A,
    0xC02D, 0xC02E, 0xC031, 0xC032,
}


@needs_openssl
def test_registry_agrees_with_openssl_cli(cli12, cli13):
    cli = {**cli12, **cli13}
    checked = 0
    for s in ALL_SUITES:
        if s.openssl_name is None or s.code not in cli:
            continue
        iana, name, proto, kx, au, enc, mac = cli[s.code]
        where = f"{s.code_hex} {s.name}"
        assert s.name == iana, where
        assert s.openssl_name == name, where
        assert s.key_exchange == _OSSL_KX[kx], where
        assert s.authentication == _OSSL_AU[au], where
        assert s.encryption == _ossl_enc(enc), where
        bits = re.search(r"\((\d+)\)", enc)
        assert s.encryption_bits == (int(bits.group(1)) if bits else 0), where
        assert s.mac == mac.upper(), where
        assert s.min_version == _OSSL_PROTO[proto], where
        checked += 1
    assert checked >= 50


@needs_openssl
def test_openssl_names_the_cli_lists_have_the_cli_code(cli12, cli13):
    # Catches a row whose code is wrong but whose OpenSSL name is right.
    by_name = {row[1]: code for code, row in {**cli12, **cli13}.items()}
    for s in ALL_SUITES:
        if s.openssl_name in by_name:
            assert by_name[s.openssl_name] == s.code, s.name


@needs_openssl
def test_only_known_historical_suites_are_missing_from_openssl(cli12, cli13):
    # A typo in both code and name would make a suite silently "missing"; only the suites that
    # OpenSSL 3 really dropped may be absent.
    cli = {**cli12, **cli13}
    missing = {s.code for s in ALL_SUITES if s.openssl_name is not None and s.code not in cli}
    assert missing <= _NOT_IN_MODERN_OPENSSL, sorted(hex(c) for c in missing - _NOT_IN_MODERN_OPENSSL)


@needs_openssl
def test_all_five_tls13_suites_match_openssl(cli13):
    assert set(cli13) == {0x1301, 0x1302, 0x1303, 0x1304, 0x1305}
    for code, row in cli13.items():
        s = by_code(code)
        assert s is not None and s.is_tls13
        assert (s.name, s.openssl_name) == (row[0], row[1])


REQUIRED = [
    # DCMTK's table
    0x0002, 0x000A, 0x002F, 0x0041, 0x003C, 0x009C, 0xC004, 0xC00E, 0xC025, 0xC029, 0xC02D,
    0xC031, 0x0084, 0x0035, 0x003D, 0x009D, 0xC005, 0xC00F, 0xC026, 0xC02A, 0xC02E, 0xC032,
    0x0032, 0x0044, 0x0033, 0x0045, 0x0040, 0x0067, 0x00A2, 0x009E, 0xC009, 0xC013, 0xC023,
    0xC027, 0xC086, 0xC08A, 0xC0AC, 0xC0AE, 0xC02B, 0xC02F, 0x0038, 0x0039, 0x0087, 0x0088,
    0xCCAA, 0x006A, 0x006B, 0x00A3, 0x009F, 0xC00A, 0xC014, 0xC024, 0xC028, 0xC087, 0xC08B,
    0xCCA9, 0xCCA8, 0xC0AD, 0xC0AF, 0xC02C, 0xC030,
    # TLS 1.3
    0x1301, 0x1302, 0x1303, 0x1304, 0x1305,
    # LEAD and the extra legacy rows
    0x0009, 0x0015, 0x0016, 0x003B, 0x0001,
]


def test_required_coverage():
    missing = [hex(c) for c in REQUIRED if by_code(c) is None]
    assert not missing


def test_codes_and_names_are_unique():
    for attr in ("code", "name"):
        values = [getattr(s, attr) for s in ALL_SUITES]
        assert len(values) == len(set(values)), attr
    ossl = [s.openssl_name for s in ALL_SUITES if s.openssl_name]
    assert len(ossl) == len(set(ossl))


def test_field_vocabularies():
    for s in ALL_SUITES:
        assert s.key_exchange in {"RSA", "DHE", "ECDHE", "ECDH", "NULL", "ANY"}
        assert s.authentication in {"RSA", "DSS", "ECDSA", "ECDH", "NULL", "ANY"}
        assert s.mac in {"SHA1", "SHA256", "SHA384", "AEAD", "MD5"}
        assert s.prf_hash == ("SHA384" if s.name.endswith("SHA384") else "SHA256")
        assert s.aead == (s.mac == "AEAD")
        assert s.block_cipher == s.encryption.endswith("-CBC")
        assert s.min_version <= s.max_version


def test_versions():
    assert lookup(0x000A).min_version == TLSVersion.TLSv1_0
    assert lookup(0x000A).max_version == TLSVersion.TLSv1_2
    assert lookup(0x003C).min_version == TLSVersion.TLSv1_2       # SHA-256 CBC
    assert lookup(0xC030).min_version == TLSVersion.TLSv1_2       # AEAD
    assert lookup(0xC013).min_version == TLSVersion.TLSv1_0
    for s in tls13_suites():
        assert s.min_version == s.max_version == TLSVersion.TLSv1_3
        assert (s.key_exchange, s.authentication) == ("ANY", "ANY")
    for s in tls12_suites():
        assert s.max_version == TLSVersion.TLSv1_2
    assert lookup(0x1302).prf_hash == "SHA384"
    assert lookup(0x009D).supports("1.2") and not lookup(0x009D).supports("1.1")


def test_partition_and_order():
    assert set(tls12_suites()) | set(tls13_suites()) == set(ALL_SUITES)
    assert not set(tls12_suites()) & set(tls13_suites())
    assert len(tls13_suites()) == 5
    assert ALL_SUITES.index(lookup(0x0002)) < ALL_SUITES.index(lookup(0x002F)) \
        < ALL_SUITES.index(lookup(0xC030))


def test_legacy_and_removed_flags():
    legacy = {s.code for s in ALL_SUITES if s.legacy}
    assert legacy == {0x0001, 0x0002, 0x003B, 0x0009, 0x0015, 0x000A, 0x0016}
    removed = {s.code for s in ALL_SUITES if s.removed_in_tls12}
    assert removed == {0x0009, 0x0015}
    des = lookup("TLS_RSA_WITH_DES_CBC_SHA")
    assert des.max_version == TLSVersion.TLSv1_2 and des.removed_in_tls12
    assert not lookup("AES128-SHA").legacy


def test_bits():
    tdes = lookup(0x000A)
    assert (tdes.encryption, tdes.encryption_bits, tdes.effective_bits) == ("3DES-EDE-CBC", 168, 112)
    des = lookup(0x0009)
    assert (des.encryption, des.encryption_bits, des.effective_bits) == ("DES-CBC", 56, 56)
    null = lookup(0x0002)
    assert (null.encryption, null.encryption_bits, null.mac) == ("NULL", 0, "SHA1")
    assert lookup(0x0001).mac == "MD5"
    assert lookup(0x003B).mac == "SHA256"
    assert lookup(0xCCA8).encryption_bits == 256
    assert lookup(0xC0AE).encryption == "AES-128-CCM8"


@pytest.mark.parametrize("key", [
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "tls_rsa_with_3des_ede_cbc_sha", "  DES-CBC3-SHA ",
    "des-cbc3-sha", 0x000A, 10, "0x000A", "0x000a", "000A", "0xA", "0x00,0x0A",
])
def test_lookup_key_types(key):
    assert lookup(key).code == 0x000A


def test_lookup_suite_instance_and_aliases():
    s = lookup(0xC02F)
    assert lookup(s) is s
    assert lookup("EDH-RSA-DES-CBC3-SHA").code == 0x0016
    assert lookup("DHE-RSA-DES-CBC3-SHA").code == 0x0016
    assert lookup("TLS_AES_128_GCM_SHA256").code == 0x1301
    assert lookup("ecdh-rsa-aes128-gcm-sha256").code == 0xC031


@pytest.mark.parametrize("key", ["", "TLS_RSA_WITH_RC4_128_SHA", "RC4-MD5", 0x0004, 0x1234,
                                 "0x1234", -1, 0x10000, True, 3.5, None, "nonsense"])
def test_unknown_raises(key):
    with pytest.raises(UnknownCipherSuiteError):
        lookup(key)


def test_unknown_error_suggests_and_is_configuration_error():
    with pytest.raises(UnknownCipherSuiteError) as exc:
        lookup("TLS_RSA_WITH_AES_128_CBC_SHA1")
    assert isinstance(exc.value, ConfigurationError)
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in str(exc.value)
    with pytest.raises(UnknownCipherSuiteError, match="AES128-SHA"):
        lookup("AES128-SHA1")


def test_by_code():
    assert by_code(0xC030).name == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    assert by_code("0xC030") is by_code(0xC030)
    assert by_code(0x0004) is None
    assert by_code("zz") is None


def test_lead_names_are_not_registry_names():
    """LEADTOOLS' .NET/C suite names belong to the facade (``ldicomnet.suites.to_suite``)."""
    for name in ("RsaWith3DesEdeCbcSha", "TLS_DHE_RSA_AES256_SHA"):
        with pytest.raises(UnknownCipherSuiteError):
            lookup(name)
    assert not any(k.startswith("lead") for k in lookup(0x002F).to_dict())


def test_to_dict_is_json_ready():
    d = lookup(0x000A).to_dict()
    assert d["code"] == 10 and d["code_hex"] == "0x000A"
    assert d["min_version"] == "TLSv1" and d["max_version"] == "TLSv1.2"
    assert d["legacy"] is True and d["aead"] is False
    assert d["openssl_name"] == "DES-CBC3-SHA"
    assert lookup(0xC0AF).to_dict()["code_hex"] == "0xC0AF"
    assert lookup(0x1302).to_dict()["min_version"] == "TLSv1.3"
    json.dumps([s.to_dict() for s in ALL_SUITES])
    for key in ("name", "code", "code_hex", "openssl_name", "key_exchange", "authentication",
                "encryption", "encryption_bits", "effective_bits", "mac", "prf_hash",
                "min_version", "max_version", "legacy", "aead"):
        assert key in d


def test_frozen():
    with pytest.raises(Exception):
        lookup(0x002F).code = 1   # type: ignore[misc]


def test_module_all_exports_exist():
    for name in S.__all__:
        assert hasattr(S, name)
