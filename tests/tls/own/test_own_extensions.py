"""Hello extension codecs of the own engine: known answers, round trips, tlslite-ng cross-checks, and
every malformed encoding we can name (each must raise TLSDecodeError with the right alert)."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import require_module

from dicomtls.errors import TLSDecodeError
from dicomtls.tls.own import extensions as ext
from dicomtls.tls.own.extensions import Extension
from dicomtls.tls.protocol import ExtensionType

tlslite_ext = require_module("tlslite.extensions")
from tlslite.utils.codec import Parser  # noqa: E402


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def decode_fails(fn, data, alert=50):
    with pytest.raises(TLSDecodeError) as info:
        fn(data)
    assert info.value.alert == alert, str(info.value)
    assert info.value.alert_sent == alert
    return info.value


def every_truncation_fails(fn, data, alert=50):
    for i in range(len(data)):
        with pytest.raises(TLSDecodeError) as info:
            fn(data[:i])
        assert info.value.alert == alert, (i, str(info.value))


# ---- constants ---------------------------------------------------------------------------------
def test_constants():
    assert (ExtensionType.SERVER_NAME, ExtensionType.SUPPORTED_GROUPS, ExtensionType.EC_POINT_FORMATS, ExtensionType.SIGNATURE_ALGORITHMS,
            ExtensionType.ENCRYPT_THEN_MAC, ExtensionType.EXTENDED_MASTER_SECRET, ExtensionType.SESSION_TICKET,
            ExtensionType.RENEGOTIATION_INFO) == (0, 10, 11, 13, 22, 23, 35, 0xFF01)
    assert ext.TLS_EMPTY_RENEGOTIATION_INFO_SCSV == 0x00FF and ext.TLS_FALLBACK_SCSV == 0x5600
    assert (ext.X25519, ext.SECP256R1, ext.SECP384R1, ext.SECP521R1) == (29, 23, 24, 25)
    assert [ext.FFDHE2048, ext.FFDHE3072, ext.FFDHE4096, ext.FFDHE6144, ext.FFDHE8192] == \
        list(range(256, 261))
    assert ext.GROUP_NAMES[ext.X25519] == "x25519"
    assert ext.GROUP_NAMES[ext.SECP256R1] == "P-256"
    assert ext.GROUP_NAMES[ext.SECP384R1] == "P-384"
    assert ext.GROUP_NAMES[ext.SECP521R1] == "P-521"
    for code in range(256, 261):
        assert ext.GROUP_NAMES[code] == f"ffdhe{ext.GROUP_BITS[code]}"
    assert ext.GROUP_BITS[ext.X25519] == 253 and ext.GROUP_BITS[ext.SECP384R1] == 384
    assert set(ext.GROUP_NAMES) == set(ext.GROUP_BITS) == set(ext.GROUP_IANA_NAMES)
    assert ext.group_name(ext.SECP256R1) == "secp256r1" and ext.group_name(0x1234) == "0x1234"


def test_signature_schemes():
    assert (ext.RSA_PKCS1_SHA1, ext.RSA_PKCS1_SHA256, ext.RSA_PKCS1_SHA384,
            ext.RSA_PKCS1_SHA512) == (0x0201, 0x0401, 0x0501, 0x0601)
    assert (ext.RSA_PSS_RSAE_SHA256, ext.RSA_PSS_RSAE_SHA384,
            ext.RSA_PSS_RSAE_SHA512) == (0x0804, 0x0805, 0x0806)
    assert (ext.ECDSA_SECP256R1_SHA256, ext.ECDSA_SECP384R1_SHA384) == (0x0403, 0x0503)
    assert ext.SCHEME_INFO == {
        0x0201: ("SHA1", False), 0x0401: ("SHA256", False), 0x0501: ("SHA384", False),
        0x0601: ("SHA512", False), 0x0804: ("SHA256", True), 0x0805: ("SHA384", True),
        0x0806: ("SHA512", True)}
    assert ext.scheme_name(0x0804) == "rsa_pss_rsae_sha256"
    assert ext.scheme_name(0x0403) == "ecdsa_secp256r1_sha256"
    assert ext.scheme_name(0x0301) == "0x0301"


# ---- the extension block ---------------------------------------------------------------------
def test_extension_dataclass():
    e = Extension(23, bytearray(b"ab"))
    assert e.data == b"ab" and type(e.data) is bytes
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.type = 1
    with pytest.raises(ValueError):
        Extension(0x10000, b"")
    with pytest.raises(ValueError):
        Extension(-1, b"")
    assert "extended_master_secret" in repr(Extension(23, b""))


def test_block_known_answer_and_round_trip():
    exts = [Extension(ExtensionType.EXTENDED_MASTER_SECRET, b""), Extension(ExtensionType.RENEGOTIATION_INFO, b"\0")]
    wire = ext.encode_extensions(exts)
    assert wire == h("0009 0017 0000 ff01 0001 00")
    assert ext.decode_extensions(wire) == exts
    assert ext.find(exts, ExtensionType.RENEGOTIATION_INFO) == b"\0"
    assert ext.find(exts, ExtensionType.EXTENDED_MASTER_SECRET) == b""
    assert ext.find(exts, ExtensionType.SERVER_NAME) is None


def test_block_empty():
    assert ext.encode_extensions([]) == b""
    assert ext.encode_extensions([], omit_empty=False) == b"\0\0"
    assert ext.decode_extensions(b"") == []
    assert ext.decode_extensions(b"\0\0") == []


def test_block_unknown_extensions_kept_raw():
    exts = [Extension(0x0A0A, b""), Extension(0xFFFF, b"\x01\x02" * 100), Extension(43, h("0403030302"))]
    assert ext.decode_extensions(ext.encode_extensions(exts)) == exts


def test_block_encode_refuses_duplicates_and_oversize():
    with pytest.raises(ValueError):
        ext.encode_extensions([Extension(23, b""), Extension(23, b"")])
    with pytest.raises(ValueError):
        ext.encode_extensions([Extension(1, b"x" * 0x10000)])
    with pytest.raises(ValueError):  # each fits, the block does not
        ext.encode_extensions([Extension(1, b"x" * 0x8000), Extension(2, b"x" * 0x8000)])


def test_block_duplicate_is_illegal_parameter():
    decode_fails(ext.decode_extensions, h("0008 0017 0000 0017 0000"), alert=47)
    # not adjacent: renegotiation_info, server_name (empty), renegotiation_info again
    decode_fails(ext.decode_extensions, h("000e ff01 0001 00 0000 0000 ff01 0001 00"), alert=47)


@pytest.mark.parametrize("wire", [
    "00",                       # half a length
    "0001 00",                  # block shorter than a type
    "0003 0017 00",             # type then half a length
    "0004 0017 0001",           # says 1 data byte, none there
    "0005 0017 0002 00",        # says 2, has 1
    "0004 0017 0000 00",        # block length 4 but 5 bytes follow: trailing byte
    "0004 0017 0000 0000",      # two trailing bytes
    "0005 0017 0000",           # block length overruns the input
    "ffff 0017 0000",
])
def test_block_malformed(wire):
    decode_fails(ext.decode_extensions, h(wire))


def test_block_every_truncation():
    wire = ext.encode_extensions([Extension(0, ext.encode_server_name("a.example")),
                                  Extension(23, b""), Extension(0xFF01, b"\0")])
    # b"" is "no block" (valid); every other prefix is broken.
    for i in range(1, len(wire)):
        decode_fails(ext.decode_extensions, wire[:i])


# ---- server_name -------------------------------------------------------------------------------
def test_server_name_known_answer():
    data = ext.encode_server_name("example.org")
    assert data == h("000e 00 000b") + b"example.org"
    assert ext.decode_server_name(data) == "example.org"


def test_server_name_encoding_rules():
    assert ext.decode_server_name(ext.encode_server_name("host.example.")) == "host.example"
    assert ext.decode_server_name(ext.encode_server_name("bücher.example")) == "xn--bcher-kva.example"
    for bad in ("127.0.0.1", "::1", "fe80::1", "", ".", "a\0b"):
        with pytest.raises(ValueError):
            ext.encode_server_name(bad)
    long_name = "a" * 63 + ".example"
    assert ext.decode_server_name(ext.encode_server_name(long_name)) == long_name


def test_server_name_trailing_dot_dropped():
    assert ext.decode_server_name(h("0007 00 0004") + b"a.b.") == "a.b"
    decode_fails(ext.decode_server_name, h("0004 00 0001 2e"), 47)


def test_server_name_other_types_skipped():
    # name_type 1 (undefined) entry then a host_name: the host name is found.
    data = h("0013 01 0003 414243 00 000a") + b"pacs.local"
    assert ext.decode_server_name(data) == "pacs.local"
    assert ext.decode_server_name(h("0006 01 0003 414243")) is None


@pytest.mark.parametrize("wire,alert", [
    ("", 50), ("00", 50), ("0000", 50),          # list<1..2^16-1> may not be empty
    ("0003 00 0000", 50),                          # HostName<1..2^16-1> may not be empty
    ("0004 00 0001 61 00", 50),                    # list length 4 but 5 bytes inside
    ("0005 00 0002 61", 50),                       # name overruns the list
    ("0004 00 0001 61 ff", 50),                    # trailing byte after the list
    ("0004 00 0001", 50),                          # list longer than the data
    ("0008 00 0001 61 00 0001 62", 47),            # two host_names (RFC 6066 3)
    ("0004 00 0001 00", 47),                       # NUL
    ("0006 00 0003 61c3bc", 47),                   # non-ASCII
    ("0006 00 0003 612062", 47),                   # space
    ("0005 00 0002 610a", 47),                     # control character
])
def test_server_name_malformed(wire, alert):
    decode_fails(ext.decode_server_name, h(wire), alert)


def test_server_name_every_truncation():
    every_truncation_fails(ext.decode_server_name, ext.encode_server_name("store.hospital.example"))


def test_server_name_vs_tlslite():
    ours = ext.encode_server_name("dicom.example.org")
    theirs = tlslite_ext.SNIExtension().parse(Parser(bytearray(ours)))
    assert bytes(theirs.hostNames[0]) == b"dicom.example.org"
    made = tlslite_ext.SNIExtension().create(hostname=bytearray(b"pacs.example"))
    assert bytes(made.extData) == ext.encode_server_name("pacs.example")
    assert ext.decode_server_name(bytes(made.extData)) == "pacs.example"


# ---- supported_groups / ec_point_formats ---------------------------------------------------------
def test_supported_groups():
    groups = [ext.X25519, ext.SECP256R1, ext.SECP384R1, ext.FFDHE2048, 0x0A0A]
    data = ext.encode_supported_groups(groups)
    assert data == h("000a 001d 0017 0018 0100 0a0a")
    assert ext.decode_supported_groups(data) == groups
    every_truncation_fails(ext.decode_supported_groups, data)
    for bad in ("0000", "0001 00", "0003 001d00", "0002 001d 00", "0004 001d", "", "00"):
        decode_fails(ext.decode_supported_groups, h(bad))
    with pytest.raises(ValueError):
        ext.encode_supported_groups([])
    with pytest.raises(ValueError):
        ext.encode_supported_groups([0x10000])
    theirs = tlslite_ext.SupportedGroupsExtension().parse(Parser(bytearray(data)))
    assert list(theirs.groups) == groups
    made = tlslite_ext.SupportedGroupsExtension().create([23, 24, 29, 257])
    assert ext.decode_supported_groups(bytes(made.extData)) == [23, 24, 29, 257]


def test_ec_point_formats():
    assert ext.encode_ec_point_formats() == h("0100")
    assert ext.encode_ec_point_formats(b"\0\1\2") == h("03000102")
    assert ext.decode_ec_point_formats(h("03000102")) == b"\0\1\2"
    assert ext.decode_ec_point_formats(h("0101")) == b"\1"   # the engine checks for 0, not the codec
    for bad in ("", "00", "0200", "010000", "02"):
        decode_fails(ext.decode_ec_point_formats, h(bad))
    with pytest.raises(ValueError):
        ext.encode_ec_point_formats(b"")
    with pytest.raises(ValueError):
        ext.encode_ec_point_formats(b"\0" * 256)
    theirs = tlslite_ext.ECPointFormatsExtension().parse(Parser(bytearray(h("020001"))))
    assert list(theirs.formats) == [0, 1]
    made = tlslite_ext.ECPointFormatsExtension().create([0])
    assert ext.decode_ec_point_formats(bytes(made.extData)) == b"\0"


# ---- signature_algorithms ------------------------------------------------------------------------
def test_signature_algorithms():
    schemes = [ext.RSA_PSS_RSAE_SHA256, ext.RSA_PKCS1_SHA256, ext.ECDSA_SECP256R1_SHA256,
               ext.RSA_PKCS1_SHA1]
    data = ext.encode_signature_algorithms(schemes)
    assert data == h("0008 0804 0401 0403 0201")
    assert ext.decode_signature_algorithms(data) == schemes
    every_truncation_fails(ext.decode_signature_algorithms, data)
    for bad in ("0000", "0001 04", "0003 040108", "0002 0401 00", "0004 0401"):
        decode_fails(ext.decode_signature_algorithms, h(bad))
    with pytest.raises(ValueError):
        ext.encode_signature_algorithms([])
    with pytest.raises(ValueError):   # <2..2^16-2>: 32768 schemes are one too many
        ext.encode_signature_algorithms([0x0401] * 32768)
    decode_fails(ext.decode_signature_algorithms, h("ffff") + b"\4\1" * 32767 + b"\4")
    theirs = tlslite_ext.SignatureAlgorithmsExtension().parse(Parser(bytearray(data)))
    assert [(a << 8) | b for a, b in theirs.sigalgs] == schemes
    made = tlslite_ext.SignatureAlgorithmsExtension().create([(6, 1), (8, 5), (2, 1)])
    assert ext.decode_signature_algorithms(bytes(made.extData)) == [0x0601, 0x0805, 0x0201]


# ---- renegotiation_info, empty extensions --------------------------------------------------------
def test_renegotiation_info():
    assert ext.encode_renegotiation_info() == b"\0"
    assert ext.decode_renegotiation_info(b"\0") == b""
    client_vd, server_vd = bytes(range(12)), bytes(range(100, 112))
    data = ext.encode_renegotiation_info(client_vd + server_vd)
    assert data == b"\x18" + client_vd + server_vd
    assert ext.decode_renegotiation_info(data) == client_vd + server_vd
    assert ext.decode_renegotiation_info(b"\xff" + b"v" * 255) == b"v" * 255
    with pytest.raises(ValueError):
        ext.encode_renegotiation_info(b"v" * 256)
    for bad in (b"", b"\x01", b"\x0c" + client_vd[:11], b"\0\0", b"\x01ab"):
        decode_fails(ext.decode_renegotiation_info, bad)
    theirs = tlslite_ext.RenegotiationInfoExtension().parse(Parser(bytearray(data)))
    assert bytes(theirs.renegotiated_connection) == client_vd + server_vd
    made = tlslite_ext.RenegotiationInfoExtension().create(bytearray(client_vd))
    assert ext.decode_renegotiation_info(bytes(made.extData)) == client_vd


@pytest.mark.parametrize("ext_type", [ExtensionType.ENCRYPT_THEN_MAC, ExtensionType.EXTENDED_MASTER_SECRET,
                                      ExtensionType.SERVER_NAME, ExtensionType.SESSION_TICKET])
def test_decode_empty(ext_type):
    assert ext.decode_empty(ext_type, b"") is None
    err = decode_fails(lambda d: ext.decode_empty(ext_type, d), b"\0")
    assert ext.extension_name(ext_type) in str(err)


# ---- mutation fuzzing: only TLSDecodeError escapes; what decodes re-encodes identically ----------
@pytest.mark.parametrize("decode,encode,sample", [
    (ext.decode_server_name, ext.encode_server_name, ext.encode_server_name("a.pacs.example")),
    (ext.decode_supported_groups, ext.encode_supported_groups, ext.encode_supported_groups([29, 23])),
    (ext.decode_ec_point_formats, ext.encode_ec_point_formats, ext.encode_ec_point_formats(b"\0\1")),
    (ext.decode_signature_algorithms, ext.encode_signature_algorithms,
     ext.encode_signature_algorithms([0x0804, 0x0401])),
    (ext.decode_renegotiation_info, ext.encode_renegotiation_info,
     ext.encode_renegotiation_info(b"\1" * 12)),
    (ext.decode_extensions, ext.encode_extensions,
     ext.encode_extensions([Extension(23, b""), Extension(0, b"\0\1")])),
])
def test_mutations(decode, encode, sample):
    import random
    rng = random.Random(len(sample))
    for _ in range(500):
        data = bytearray(sample)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            elif data:
                del data[rng.randrange(len(data))]
        try:
            value = decode(bytes(data))
        except TLSDecodeError as exc:
            assert exc.alert in (47, 50)
            continue
        if decode is ext.decode_server_name:
            if value is None:   # only entries of other name types
                continue
            # other-type entries are skipped, so only a lone host_name re-encodes identically
            if len(data) == 5 + len(value):
                assert encode(value) == bytes(data)
        elif decode is ext.decode_extensions and not value:
            assert bytes(data) in (b"", b"\0\0")
        else:
            assert encode(value) == bytes(data)
