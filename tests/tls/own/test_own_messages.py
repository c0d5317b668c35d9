"""Handshake message codecs of the own engine: known answers, round trips, tlslite-ng cross-checks
(both directions), real ClientHellos from Python ssl and openssl s_client, HandshakeBuffer
reassembly, and the malformed cases (truncation at every offset, trailing bytes, bad lengths)."""

from __future__ import annotations

import datetime
import random
import socket
import ssl
import subprocess
import threading

import pytest

from dicomtls.errors import TLSDecodeError
from dicomtls.tls.own import extensions as ext
from dicomtls.tls.own import messages as msg
from dicomtls.tls.own.extensions import Extension
from dicomtls.tls.own.messages import (Certificate, CertificateRequest, CertificateVerify,
                                       ClientHello, ClientKeyExchange, Finished, HandshakeBuffer,
                                       HelloRequest, ServerHello, ServerHelloDone,
                                       ServerKeyExchange, peek_client_hello)
from dicomtls.tls.protocol import ExtensionType, HandshakeType

from conftest import require_module  # noqa: E402

tlslite = require_module("tlslite")
from tlslite import messages as tm  # noqa: E402
from tlslite import extensions as tx  # noqa: E402
from tlslite.constants import CertificateType  # noqa: E402
from tlslite.utils.codec import Parser  # noqa: E402

TLS10, TLS11, TLS12 = 0x0301, 0x0302, 0x0303
RC = bytes(range(32))
RS = bytes(range(32, 64))


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def fails(fn, data, alert=50):
    with pytest.raises(TLSDecodeError) as info:
        fn(data)
    assert info.value.alert == alert, str(info.value)
    return info.value


def split(raw: bytes):
    """(msg_type, body) of one whole encoded message, checking its header."""
    assert int.from_bytes(raw[1:4], "big") == len(raw) - 4
    return raw[0], raw[4:]


def parser(raw: bytes) -> Parser:
    """tlslite's parse() wants the message minus its type byte (it reads the 24-bit length)."""
    return Parser(bytearray(raw[1:]))


# ---- sample messages -----------------------------------------------------------------------------
HELLO_EXTS = [
    Extension(ExtensionType.SERVER_NAME, ext.encode_server_name("pacs.example")),
    Extension(ExtensionType.SUPPORTED_GROUPS, ext.encode_supported_groups([29, 23, 24, 256])),
    Extension(ExtensionType.EC_POINT_FORMATS, ext.encode_ec_point_formats(b"\0")),
    Extension(ExtensionType.SIGNATURE_ALGORITHMS, ext.encode_signature_algorithms([0x0804, 0x0401, 0x0201])),
    Extension(ExtensionType.ENCRYPT_THEN_MAC, b""),
    Extension(ExtensionType.EXTENDED_MASTER_SECRET, b""),
    Extension(ExtensionType.RENEGOTIATION_INFO, ext.encode_renegotiation_info(b"")),
]
CLIENT_HELLO = ClientHello(TLS12, RC, b"\x11" * 32, [0xC02F, 0x009E, 0x002F, 0x000A, 0x00FF],
                           b"\0", HELLO_EXTS)
SERVER_HELLO = ServerHello(TLS12, RS, b"\x22" * 32, 0xC02F, 0,
                           [Extension(ExtensionType.RENEGOTIATION_INFO, b"\0"),
                            Extension(ExtensionType.EXTENDED_MASTER_SECRET, b"")])
CERTIFICATE = Certificate([b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x02"])
SKE_ECDHE = ServerKeyExchange("ECDHE", b"\x5a" * 256, 0x0804, named_group=ext.X25519,
                              point=bytes(range(1, 33)))
SKE_DHE_10 = ServerKeyExchange("DHE", b"\xa5" * 128, None, dh_p=b"\xff" * 256, dh_g=b"\x02",
                               dh_ys=b"\x7f" * 256)
CERT_REQ_12 = CertificateRequest(b"\x01\x40", [0x0804, 0x0401], [b"\x30\x00", b"\x30\x02\x31\x00"])
CERT_REQ_10 = CertificateRequest(b"\x01", None, [])
CERT_VERIFY_12 = CertificateVerify(b"\x33" * 256, 0x0401)
CERT_VERIFY_10 = CertificateVerify(b"\x44" * 36)
CKE_RSA = ClientKeyExchange("RSA", b"\x55" * 256)
CKE_DHE = ClientKeyExchange("DHE", b"\x66" * 256)
CKE_ECDHE = ClientKeyExchange("ECDHE", b"\x04" + b"\x77" * 64)
FINISHED = Finished(bytes(range(12)))

# (message, decoder of a body) for everything above.
SAMPLES = [
    (CLIENT_HELLO, msg.decode_client_hello),
    (ClientHello(TLS10, RC, b"", [0x000A]), msg.decode_client_hello),
    (SERVER_HELLO, msg.decode_server_hello),
    (ServerHello(TLS10, RS, b"", 0x000A), msg.decode_server_hello),
    (CERTIFICATE, msg.decode_certificate),
    (Certificate([]), msg.decode_certificate),
    (SKE_ECDHE, lambda b: msg.decode_server_key_exchange(b, "ECDHE", TLS12)),
    (SKE_DHE_10, lambda b: msg.decode_server_key_exchange(b, "DHE", TLS10)),
    (ServerKeyExchange("ECDHE", b"s", None, named_group=23, point=b"\x04" + b"\1" * 64),
     lambda b: msg.decode_server_key_exchange(b, "ECDHE", TLS11)),
    (ServerKeyExchange("DHE", b"s", 0x0201, dh_p=b"\x17", dh_g=b"\x05", dh_ys=b"\x03"),
     lambda b: msg.decode_server_key_exchange(b, "DHE", TLS12)),
    (CERT_REQ_12, lambda b: msg.decode_certificate_request(b, TLS12)),
    (CERT_REQ_10, lambda b: msg.decode_certificate_request(b, TLS10)),
    (CERT_VERIFY_12, lambda b: msg.decode_certificate_verify(b, TLS12)),
    (CERT_VERIFY_10, lambda b: msg.decode_certificate_verify(b, TLS11)),
    (CKE_RSA, lambda b: msg.decode_client_key_exchange(b, "RSA")),
    (CKE_DHE, lambda b: msg.decode_client_key_exchange(b, "DHE")),
    (CKE_ECDHE, lambda b: msg.decode_client_key_exchange(b, "ECDHE")),
    (FINISHED, msg.decode_finished),
    (ServerHelloDone(), msg.decode_server_hello_done),
    (HelloRequest(), msg.decode_hello_request),
]
SAMPLE_IDS = [f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(SAMPLES)]


def valid_prefixes(message) -> set[int]:
    """Body lengths shorter than the whole that still decode: a hello without its extension block."""
    if isinstance(message, (ClientHello, ServerHello)) and message.extensions:
        return {len(message.encode()) - 4 - len(ext.encode_extensions(message.extensions))}
    return set()


# ---- round trips, truncation, trailing bytes -------------------------------------------------
@pytest.mark.parametrize("message,decode", SAMPLES, ids=SAMPLE_IDS)
def test_round_trip(message, decode):
    raw = message.encode()
    msg_type, body = split(raw)
    assert msg_type == message.msg_type
    assert decode(body) == message
    assert decode(bytearray(body)) == message
    assert decode(memoryview(body)) == message
    assert decode(body).encode() == raw


@pytest.mark.parametrize("message,decode", SAMPLES, ids=SAMPLE_IDS)
def test_every_truncation_fails(message, decode):
    _, body = split(message.encode())
    allowed = valid_prefixes(message)
    for i in range(len(body)):
        if i in allowed:
            assert decode(body[:i]).extensions == []
            continue
        with pytest.raises(TLSDecodeError) as info:
            decode(body[:i])
        assert info.value.alert == 50, (i, str(info.value))


@pytest.mark.parametrize("message,decode", SAMPLES, ids=SAMPLE_IDS)
@pytest.mark.parametrize("extra", [b"\0", b"\0\0", b"\xff" * 7])
def test_trailing_bytes_fail(message, decode, extra):
    _, body = split(message.encode())
    if extra == b"\0\0" and isinstance(message, (ClientHello, ServerHello)) and not message.extensions:
        assert decode(body + extra) == message    # that is an empty extension block: fine
        return
    fails(decode, body + extra)


@pytest.mark.parametrize("message,decode", SAMPLES, ids=SAMPLE_IDS)
def test_decode_handshake_dispatch(message, decode):
    msg_type, body = split(message.encode())
    kx = getattr(message, "kx", None) or "RSA"
    version = TLS12
    if isinstance(message, (ServerKeyExchange, CertificateVerify)):
        version = TLS12 if message.signature_algorithm is not None else TLS10
    if isinstance(message, CertificateRequest):
        version = TLS12 if message.signature_algorithms is not None else TLS10
    assert msg.decode_handshake(msg_type, body, version=version, kx=kx) == message


@pytest.mark.parametrize("msg_type", [3, 4, 5, 8, 21, 22, 24, 67, 254, 255])
def test_unknown_message_type_is_unexpected_message(msg_type):
    fails(lambda b: msg.decode_handshake(msg_type, b, version=TLS12, kx="RSA"), b"", alert=10)


def test_decode_handshake_needs_context():
    for t in (HandshakeType.SERVER_KEY_EXCHANGE, HandshakeType.CLIENT_KEY_EXCHANGE):
        with pytest.raises(ValueError):
            msg.decode_handshake(t, b"\0\1\2", version=TLS12)
    with pytest.raises(ValueError):
        msg.decode_handshake(HandshakeType.CERTIFICATE_REQUEST, split(CERT_REQ_12.encode())[1])
    with pytest.raises(ValueError):
        msg.decode_client_key_exchange(b"\0\1\2", "PSK")


def test_handshake_type_values():
    # RFC 5246 7.4: the messages this engine runs (the rest of the IANA registry is in
    # tests/tls/test_protocol.py).
    engine_messages = {
        "HELLO_REQUEST": 0, "CLIENT_HELLO": 1, "SERVER_HELLO": 2, "CERTIFICATE": 11,
        "SERVER_KEY_EXCHANGE": 12, "CERTIFICATE_REQUEST": 13, "SERVER_HELLO_DONE": 14,
        "CERTIFICATE_VERIFY": 15, "CLIENT_KEY_EXCHANGE": 16, "FINISHED": 20}
    assert {name: int(HandshakeType[name]) for name in engine_messages} == engine_messages


# ---- known answers ---------------------------------------------------------------------------
def test_known_answers():
    z32 = "00" * 32
    assert ClientHello(TLS10, bytes(32), b"", [0x000A]).encode() == \
        h("01 000029 0301" + z32 + "00 0002 000a 01 00")
    assert ServerHello(TLS12, bytes(32), b"", 0x002F, 0,
                       [Extension(0xFF01, b"\0")]).encode() == \
        h("02 00002d 0303" + z32 + "00 002f 00 0005 ff01 0001 00")
    assert Certificate([h("3000"), h("300100")]).encode() == h("0b 00000e 00000b 000002 3000 000003 300100")
    assert Certificate([]).encode() == h("0b 000003 000000")
    ske = ServerKeyExchange("ECDHE", b"SIG", 0x0401, named_group=29, point=b"\x01" * 32)
    assert ske.params_bytes() == h("03 001d 20" + "01" * 32)
    assert ske.encode() == h("0c 00002b 03 001d 20" + "01" * 32 + "0401 0003 534947")
    dhe = ServerKeyExchange("DHE", b"\xaa" * 4, dh_p=h("fffb"), dh_g=h("02"), dh_ys=h("1234"))
    assert dhe.params_bytes() == h("0002 fffb 0001 02 0002 1234")
    assert dhe.encode() == h("0c 000011 0002 fffb 0001 02 0002 1234 0004 aaaaaaaa")
    assert CertificateRequest(h("0140"), [0x0401, 0x0804], [h("3000")]).encode() == \
        h("0d 00000f 02 0140 0004 0401 0804 0004 0002 3000")
    assert CertificateRequest(h("01"), None, []).encode() == h("0d 000004 01 01 0000")
    assert CertificateVerify(h("0102"), 0x0804).encode() == h("0f 000006 0804 0002 0102")
    assert CertificateVerify(h("0102")).encode() == h("0f 000004 0002 0102")
    assert ClientKeyExchange("RSA", h("abcd")).encode() == h("10 000004 0002 abcd")
    assert ClientKeyExchange("DHE", h("05")).encode() == h("10 000003 0001 05")
    assert ClientKeyExchange("ECDHE", h("0405")).encode() == h("10 000003 02 0405")
    assert Finished(bytes(range(12))).encode() == h("14 00000c 000102030405060708090a0b")
    assert ServerHelloDone().encode() == h("0e 000000")
    assert HelloRequest().encode() == h("00 000000")


def test_encode_refuses_bad_arguments():
    bad = [
        lambda: ClientHello(TLS12, b"short", b"", [1]).encode(),
        lambda: ClientHello(TLS12, RC, b"x" * 33, [1]).encode(),
        lambda: ClientHello(TLS12, RC, b"", []).encode(),
        lambda: ClientHello(TLS12, RC, b"", [0x10000]).encode(),
        lambda: ClientHello(TLS12, RC, b"", [1], b"").encode(),
        lambda: ClientHello(0x10000, RC, b"", [1]).encode(),
        lambda: ServerHello(TLS12, RC, b"", 0x10000).encode(),
        lambda: ServerHello(TLS12, RC, b"", 1, 256).encode(),
        lambda: Certificate([b""]).encode(),
        lambda: ServerKeyExchange("RSA", b"").encode(),
        lambda: ServerKeyExchange("DHE", b"", dh_p=b"", dh_g=b"\2", dh_ys=b"\1").encode(),
        lambda: ServerKeyExchange("ECDHE", b"", named_group=29, point=b"").encode(),
        lambda: ServerKeyExchange("ECDHE", b"", named_group=29, point=b"x" * 256).encode(),
        lambda: ServerKeyExchange("ECDHE", b"x" * 0x10000, named_group=29, point=b"x").encode(),
        lambda: CertificateRequest(b"", None, []).encode(),
        lambda: CertificateRequest(b"\1", [], []).encode(),
        lambda: CertificateRequest(b"\1", None, [b""]).encode(),
        lambda: ClientKeyExchange("DHE", b"").encode(),
        lambda: ClientKeyExchange("ECDHE", b"x" * 256).encode(),
        lambda: ClientKeyExchange("PSK", b"x").encode(),
        lambda: Finished(b"x" * 11).encode(),
    ]
    for i, make in enumerate(bad):
        with pytest.raises(ValueError):
            make()
            pytest.fail(f"case {i} encoded")


# ---- ClientHello / ServerHello specifics -------------------------------------------------------
def ch_body(sid="00", suites="0002 002f", comp="01 00", rest="", version="0303"):
    return h(version + "00" * 32 + sid + suites + comp + rest)


def test_client_hello_without_extension_block():
    hello = msg.decode_client_hello(ch_body())
    assert hello.extensions == [] and hello.extension(ExtensionType.SERVER_NAME) is None
    assert hello.cipher_suites == [0x002F] and hello.compression_methods == b"\0"
    assert msg.decode_client_hello(ch_body(rest="0000")).extensions == []   # empty block
    # an SSLv3-era client offering DEFLATE and null, no extensions
    assert msg.decode_client_hello(ch_body(comp="02 0100", version="0300")).version == 0x0300


def test_client_hello_extension_lookup():
    hello = msg.decode_client_hello(split(CLIENT_HELLO.encode())[1])
    assert ext.decode_server_name(hello.extension(ExtensionType.SERVER_NAME)) == "pacs.example"
    assert hello.extension(ExtensionType.EXTENDED_MASTER_SECRET) == b""
    assert hello.extension(ExtensionType.SESSION_TICKET) is None
    assert ext.TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites


@pytest.mark.parametrize("kw,alert", [
    (dict(suites="0000"), 50),                  # cipher_suites<2..2^16-2>: empty
    (dict(suites="0001 00"), 50),               # odd length
    (dict(suites="0003 002f00"), 50),
    (dict(suites="0004 002f"), 50),             # overruns
    (dict(comp="00"), 50),                      # compression_methods<1..2^8-1>: empty
    (dict(comp="02 00"), 50),                   # overruns
    (dict(comp="01 01"), 47),                   # null missing
    (dict(comp="03 010240"), 47),
    (dict(sid="21" + "00" * 33), 50),           # session_id<0..32>
    (dict(sid="ff" + "00" * 255), 50),
    (dict(rest="00"), 50),                      # half an extension block length
    (dict(rest="0004 0017 0000 00"), 50),       # bytes after the block
    (dict(rest="0008 0017 0000 0017 0000"), 47),  # duplicate extension
    (dict(rest="0002 0017"), 50),
])
def test_client_hello_malformed(kw, alert):
    fails(msg.decode_client_hello, ch_body(**kw), alert)


def test_server_hello_specifics():
    base = "0303" + "00" * 32 + "00 c02f"
    assert msg.decode_server_hello(h(base + "00")).extensions == []
    assert msg.decode_server_hello(h(base + "00 0000")).extensions == []
    fails(msg.decode_server_hello, h(base + "01"), 47)          # compression not offered
    fails(msg.decode_server_hello, h(base + "00 000a ff01 0001 00 ff01 0001 00"), 47)  # duplicate
    fails(msg.decode_server_hello, h("0303" + "00" * 32 + "21" + "00" * 33 + "c02f 00"))
    hello = msg.decode_server_hello(split(SERVER_HELLO.encode())[1])
    assert hello.extension(ExtensionType.RENEGOTIATION_INFO) == b"\0"
    assert hello.extension(ExtensionType.SERVER_NAME) is None


# ---- other messages: specific malformations ---------------------------------------------------
def test_certificate_malformed():
    fails(msg.decode_certificate, h("000003 000000"))                  # an empty ASN.1Cert
    fails(msg.decode_certificate, h("000006 000002 3000 00"))           # a byte left in the list
    fails(msg.decode_certificate, h("000004 000002 3000"))             # list says 4, has 5
    fails(msg.decode_certificate, h("000005 000003 3000"))             # cert overruns the list
    fails(msg.decode_certificate, h("ffffff 000002 3000"))
    fails(msg.decode_certificate, b"")


def test_server_key_exchange_malformed():
    ecdhe_tail = "001d 01 04 0401 0001 00"
    fails(lambda b: msg.decode_server_key_exchange(b, "ECDHE", TLS12), h("01" + ecdhe_tail), 47)
    fails(lambda b: msg.decode_server_key_exchange(b, "ECDHE", TLS12), h("02" + ecdhe_tail), 47)
    fails(lambda b: msg.decode_server_key_exchange(b, "ECDHE", TLS12), h("ff" + ecdhe_tail), 47)
    fails(lambda b: msg.decode_server_key_exchange(b, "ECDHE", TLS12), h("03 001d 00 0401 0000"))
    # the same TLS 1.2 body read as TLS 1.0 leaves bytes over; a 1.0 body read as 1.2 is short
    body12 = split(SKE_ECDHE.encode())[1]
    fails(lambda b: msg.decode_server_key_exchange(b, "ECDHE", TLS10), body12)
    body10 = split(SKE_DHE_10.encode())[1]
    fails(lambda b: msg.decode_server_key_exchange(b, "DHE", TLS12), body10)
    fails(lambda b: msg.decode_server_key_exchange(b, "DHE", TLS10), h("0000 0001 02 0001 03 0000"))
    fails(lambda b: msg.decode_server_key_exchange(b, "DHE", TLS10), h("0001 17 0000 0001 03 0000"))
    fails(lambda b: msg.decode_server_key_exchange(b, "DHE", TLS10), h("0001 17 0001 02 0000 0000"))
    fails(lambda b: msg.decode_server_key_exchange(b, "RSA", TLS12), body12, 10)
    with pytest.raises(ValueError):
        msg.decode_server_key_exchange(body12, "ECDHE", None)


def test_server_key_exchange_fields():
    ske = msg.decode_server_key_exchange(split(SKE_ECDHE.encode())[1], "ECDHE", TLS12)
    assert (ske.kx, ske.named_group, ske.point, ske.signature_algorithm) == \
        ("ECDHE", 29, bytes(range(1, 33)), 0x0804)
    assert ske.params_bytes() == h("03 001d 20") + bytes(range(1, 33))
    dhe = msg.decode_server_key_exchange(split(SKE_DHE_10.encode())[1], "DHE", TLS10)
    assert dhe.signature_algorithm is None and dhe.dh_g == b"\x02"
    assert dhe.params_bytes() == split(SKE_DHE_10.encode())[1][:2 + 256 + 3 + 2 + 256]


def test_certificate_request_malformed():
    d12 = lambda b: msg.decode_certificate_request(b, TLS12)  # noqa: E731
    d10 = lambda b: msg.decode_certificate_request(b, TLS10)  # noqa: E731
    fails(d10, h("00 0000"))                      # certificate_types<1..2^8-1>
    fails(d12, h("01 01 0000 0000"))              # supported_signature_algorithms<2..2^16-2>
    fails(d12, h("01 01 0003 040108 0000"))       # odd
    fails(d10, h("01 01 0002 0000"))              # an empty DistinguishedName
    fails(d10, h("01 01 0003 0002 30"))           # DN overruns the list
    fails(d10, h("01 01 0005 0002 3000"))         # list overruns the body
    fails(d10, split(CERT_REQ_12.encode())[1])    # 1.2 layout read as 1.0


def test_certificate_verify_and_client_key_exchange_malformed():
    fails(lambda b: msg.decode_certificate_verify(b, TLS12), h("0401 0003 0102"))
    fails(lambda b: msg.decode_certificate_verify(b, TLS10), h("0401 0003 0102"))
    assert msg.decode_certificate_verify(h("0401 0000"), TLS12).signature == b""
    fails(lambda b: msg.decode_client_key_exchange(b, "DHE"), h("0000"))
    fails(lambda b: msg.decode_client_key_exchange(b, "ECDHE"), h("00"))
    fails(lambda b: msg.decode_client_key_exchange(b, "ECDHE"), h("0000"))
    fails(lambda b: msg.decode_client_key_exchange(b, "RSA"), h("0003 0102"))
    # SSLv3's unprefixed encrypted premaster is not TLS: its first bytes read as a length
    fails(lambda b: msg.decode_client_key_exchange(b, "RSA"), b"\x55" * 256)


@pytest.mark.parametrize("size", [0, 1, 11, 13, 32, 36, 48])
def test_finished_bad_length(size):
    fails(msg.decode_finished, b"\1" * size)
    fails(lambda b: msg.decode_handshake(HandshakeType.FINISHED, b), b"\1" * size)


@pytest.mark.parametrize("decode", [msg.decode_server_hello_done, msg.decode_hello_request])
def test_empty_messages_refuse_a_body(decode):
    fails(decode, b"\0")
    fails(decode, b"\0" * 100)


# ---- HandshakeBuffer --------------------------------------------------------------------------
FLIGHT = [SERVER_HELLO, CERTIFICATE, SKE_ECDHE, CERT_REQ_12, ServerHelloDone()]


def drain(buf: HandshakeBuffer) -> list:
    out = []
    while (m := buf.next_message()) is not None:
        out.append(m)
    return out


def expected_flight():
    return [(m.msg_type, m.encode()[4:], m.encode()) for m in FLIGHT]


def test_buffer_coalesced_flight():
    buf = HandshakeBuffer()
    assert not buf.pending and buf.next_message() is None
    buf.feed(b"".join(m.encode() for m in FLIGHT))
    assert buf.pending
    assert drain(buf) == expected_flight()
    assert not buf.pending


def test_buffer_one_byte_feeds():
    wire = b"".join(m.encode() for m in FLIGHT)
    buf, got = HandshakeBuffer(), []
    ends = set()
    pos = 0
    for m in FLIGHT:
        pos += len(m.encode())
        ends.add(pos)
    for i in range(len(wire)):
        buf.feed(wire[i:i + 1])
        got.extend(drain(buf))
        # between messages nothing is pending; inside one, something is
        assert buf.pending == (i + 1 not in ends), i
    assert got == expected_flight()


def test_buffer_random_fragmentation():
    wire = b"".join(m.encode() for m in FLIGHT) * 3
    rng = random.Random(5246)
    for _ in range(50):
        buf, got, pos = HandshakeBuffer(), [], 0
        while pos < len(wire):
            n = rng.choice((1, 2, 3, 4, 5, 7, 100, 300, 16384))
            buf.feed(memoryview(wire)[pos:pos + n])
            pos += n
            got.extend(drain(buf))
        assert got == expected_flight() * 3 and not buf.pending


def test_buffer_pending_with_unread_message_and_empty_body():
    buf = HandshakeBuffer()
    buf.feed(ServerHelloDone().encode())
    assert buf.pending                           # a complete message not taken yet counts
    assert buf.next_message() == (14, b"", h("0e000000"))
    assert not buf.pending
    buf.feed(b"\x14\x00")                        # half a header
    assert buf.pending and buf.next_message() is None


def test_buffer_oversize():
    buf = HandshakeBuffer()
    with pytest.raises(TLSDecodeError) as info:
        buf.feed(b"\x0b" + (256 * 1024 + 1).to_bytes(3, "big"))   # refused on the header alone
    assert info.value.alert == 47
    buf = HandshakeBuffer()
    buf.feed(b"\x0b" + (256 * 1024).to_bytes(3, "big"))           # exactly the limit is fine
    buf.feed(b"\0" * (256 * 1024 - 1))
    assert buf.next_message() is None
    buf.feed(b"\0")
    assert len(buf.next_message()[1]) == 256 * 1024
    small = HandshakeBuffer(max_message_size=12)
    small.feed(FINISHED.encode())
    assert small.next_message()[0] == 20
    with pytest.raises(TLSDecodeError) as info:
        for b in CERT_VERIFY_10.encode():                          # 38-byte body, 1 byte at a time
            small.feed(bytes((b,)))
    assert info.value.alert == 47
    huge = HandshakeBuffer()
    with pytest.raises(TLSDecodeError):
        huge.feed(h("01ffffff"))


# ---- peek_client_hello ------------------------------------------------------------------------
def records(payload: bytes, sizes, version=b"\x03\x01", content_type=22) -> bytes:
    out, pos, i = b"", 0, 0
    while pos < len(payload):
        n = sizes[i % len(sizes)]
        chunk = payload[pos:pos + n]
        out += bytes((content_type,)) + version + len(chunk).to_bytes(2, "big") + chunk
        pos += n
        i += 1
    return out


def test_peek_one_record_every_prefix():
    wire = records(CLIENT_HELLO.encode(), [16384])
    for i in range(len(wire)):
        assert peek_client_hello(wire[:i]) is None, i
    assert peek_client_hello(wire) == CLIENT_HELLO
    assert peek_client_hello(wire + b"\x17\x03\x03\x00\x05hello") == CLIENT_HELLO   # not looked at


@pytest.mark.parametrize("sizes", [[1], [2, 3], [4], [5, 200], [100]])
def test_peek_fragmented_records(sizes):
    wire = records(CLIENT_HELLO.encode(), sizes)
    for i in range(0, len(wire), 7):
        assert peek_client_hello(wire[:i]) is None
    assert peek_client_hello(wire) == CLIENT_HELLO


def test_peek_large_client_hello_spanning_full_records():
    big = ClientHello(TLS12, RC, b"", list(range(1, 20000)), b"\0",
                      [Extension(0xFFCE, b"p" * 30000)])
    wire = records(big.encode(), [16384])
    assert wire.count(b"\x16\x03\x01\x40\x00") >= 2
    assert peek_client_hello(wire) == big


@pytest.mark.parametrize("wire,alert,words", [
    (h("802e0103010015"), 70, "SSLv2"),                     # SSLv2 CLIENT-HELLO, TLS 1.0 inside
    (h("80"), 70, "SSLv2"),
    (b"GET / HTTP/1.1\r\n", 10, "not a TLS handshake"),
    (h("1503010002022800"), 10, "content type 21"),
    (h("17"), 10, "content type 23"),
    (h("1602"), 70, "version"),
    (h("160301 0000"), 10, "empty"),
    (h("160301 4001"), 22, "2^14"),
    (h("160301 0004 02000000"), 10, "not ClientHello"),
    (h("160301 0001 0b"), 10, "not ClientHello"),
])
def test_peek_not_a_tls_client_hello(wire, alert, words):
    err = fails(peek_client_hello, wire, alert)
    assert words in str(err)


def test_peek_later_record_of_another_type_or_malformed_hello():
    raw = CLIENT_HELLO.encode()
    wire = records(raw[:10], [10]) + h("140301 0001 01")
    fails(peek_client_hello, wire, 10)
    bad = bytearray(raw)
    bad[4 + 2 + 32 + 1 + 32 + 2 + 10 + 1] = 1                     # compression list {1}
    fails(peek_client_hello, records(bytes(bad), [16384]), 47)
    short = raw[:1] + (len(raw) - 5).to_bytes(3, "big") + raw[4:-1]   # header says one byte less
    fails(peek_client_hello, records(short, [16384]))


# ---- tlslite-ng cross-checks -------------------------------------------------------------------
@pytest.fixture(scope="module")
def der_chain():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = []
    now = datetime.datetime.now(datetime.timezone.utc)
    for name in ("leaf.example", "ca.example"):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        out.append(cert.public_bytes(serialization.Encoding.DER))
    return out


def test_tlslite_client_hello_both_ways():
    raw = CLIENT_HELLO.encode()
    theirs = tm.ClientHello().parse(parser(raw))
    assert theirs.client_version == (3, 3) and bytes(theirs.random) == RC
    assert bytes(theirs.session_id) == b"\x11" * 32
    assert theirs.cipher_suites == CLIENT_HELLO.cipher_suites
    assert [e.extType for e in theirs.extensions] == [e.type for e in HELLO_EXTS]
    assert bytes(theirs.server_name) == b"pacs.example"
    assert bytes(theirs.write()) == raw
    made = tm.ClientHello().create((3, 1), bytearray(RS), bytearray(b"\x01\x02"), [0x0035, 0x00FF],
                                   extensions=[tx.SNIExtension().create(hostname=bytearray(b"a.b")),
                                               tx.TLSExtension(extType=23).create(bytearray())])
    ours = msg.decode_client_hello(bytes(made.write())[4:])
    assert (ours.version, ours.random, ours.session_id, ours.cipher_suites) == \
        (TLS10, RS, b"\x01\x02", [0x0035, 0x00FF])
    assert ext.decode_server_name(ours.extension(ExtensionType.SERVER_NAME)) == "a.b"
    assert ours.extension(23) == b""
    assert ours.encode() == bytes(made.write())
    bare = tm.ClientHello().create((3, 1), bytearray(RC), bytearray(), [0x000A])
    assert msg.decode_client_hello(bytes(bare.write())[4:]).extensions == []


def test_tlslite_server_hello_both_ways():
    raw = SERVER_HELLO.encode()
    theirs = tm.ServerHello().parse(parser(raw))
    assert theirs.server_version == (3, 3) and theirs.cipher_suite == 0xC02F
    assert bytes(theirs.random) == RS and bytes(theirs.session_id) == b"\x22" * 32
    assert [e.extType for e in theirs.extensions] == [0xFF01, 23]
    made = tm.ServerHello().create((3, 3), bytearray(RC), bytearray(b"\x05" * 32), 0x009E,
                                   extensions=[tx.RenegotiationInfoExtension().create(bytearray()),
                                               tx.TLSExtension(extType=22).create(bytearray())])
    ours = msg.decode_server_hello(bytes(made.write())[4:])
    assert (ours.version, ours.random, ours.session_id, ours.cipher_suite) == \
        (TLS12, RC, b"\x05" * 32, 0x009E)
    assert ours.extensions == [Extension(0xFF01, b"\0"), Extension(22, b"")]
    assert ours.encode() == bytes(made.write())


def test_tlslite_certificate_both_ways(der_chain):
    from tlslite.x509 import X509
    from tlslite.x509certchain import X509CertChain
    raw = Certificate(der_chain).encode()
    theirs = tm.Certificate(CertificateType.x509, (3, 3)).parse(parser(raw))
    assert [bytes(c.writeBytes()) for c in theirs.cert_chain.x509List] == der_chain
    parsed = []
    for d in der_chain:
        cert = X509()
        cert.parseBinary(bytearray(d))
        parsed.append(cert)
    chain = X509CertChain(parsed)
    made = bytes(tm.Certificate(CertificateType.x509, (3, 3)).create(chain).write())
    assert made == raw
    assert msg.decode_certificate(made[4:]).certificates == der_chain
    empty = bytes(tm.Certificate(CertificateType.x509, (3, 1)).create(X509CertChain([])).write())
    assert msg.decode_certificate(empty[4:]) == Certificate([])


def test_tlslite_server_key_exchange_both_ways():
    # ECDHE_RSA, TLS 1.2
    theirs = tm.ServerKeyExchange(0xC02F, (3, 3)).parse(parser(SKE_ECDHE.encode()))
    assert (theirs.curve_type, theirs.named_curve) == (3, 29)
    assert bytes(theirs.ecdh_Ys) == SKE_ECDHE.point and bytes(theirs.signature) == SKE_ECDHE.signature
    assert (theirs.hashAlg, theirs.signAlg) == (8, 4)
    made = tm.ServerKeyExchange(0xC013, (3, 3)).createECDH(3, 23, bytearray(b"\x04" + b"\x09" * 64))
    made.hashAlg, made.signAlg, made.signature = 4, 1, bytearray(b"\x10" * 128)
    ours = msg.decode_server_key_exchange(bytes(made.write())[4:], "ECDHE", TLS12)
    assert ours == ServerKeyExchange("ECDHE", b"\x10" * 128, 0x0401, named_group=23,
                                     point=b"\x04" + b"\x09" * 64)
    assert ours.encode() == bytes(made.write())
    assert ours.params_bytes() == bytes(made.writeParams())
    # DHE_RSA, TLS 1.0 (no SignatureAndHashAlgorithm)
    theirs = tm.ServerKeyExchange(0x0033, (3, 1)).parse(parser(SKE_DHE_10.encode()))
    assert theirs.dh_p == int.from_bytes(SKE_DHE_10.dh_p, "big") and theirs.dh_g == 2
    assert bytes(theirs.signature) == SKE_DHE_10.signature
    made = tm.ServerKeyExchange(0x0033, (3, 1)).createDH(0xC7 << 2040, 5, 0x1234567)
    made.signature = bytearray(b"\x20" * 64)
    ours = msg.decode_server_key_exchange(bytes(made.write())[4:], "DHE", TLS10)
    assert int.from_bytes(ours.dh_p, "big") == 0xC7 << 2040 and ours.dh_g == b"\x05"
    assert ours.dh_ys == h("01234567") and ours.signature_algorithm is None
    assert ours.params_bytes() == bytes(made.writeParams())


def test_tlslite_certificate_request_both_ways():
    theirs = tm.CertificateRequest((3, 3)).parse(parser(CERT_REQ_12.encode()))
    assert list(theirs.certificate_types) == [1, 64]
    assert list(theirs.supported_signature_algs) == [(8, 4), (4, 1)]
    assert [bytes(a) for a in theirs.certificate_authorities] == CERT_REQ_12.authorities
    made = bytes(tm.CertificateRequest((3, 3)).create(
        [1], [bytearray(b"\x30\x00")], [(6, 1), (8, 6)]).write())
    assert msg.decode_certificate_request(made[4:], TLS12) == \
        CertificateRequest(b"\1", [0x0601, 0x0806], [b"\x30\x00"])
    made10 = bytes(tm.CertificateRequest((3, 2)).create([1, 2], []).write())
    assert msg.decode_certificate_request(made10[4:], TLS11) == CertificateRequest(b"\1\2", None, [])
    theirs10 = tm.CertificateRequest((3, 1)).parse(parser(CERT_REQ_10.encode()))
    assert list(theirs10.certificate_types) == [1]


def test_tlslite_client_key_exchange_both_ways():
    for suite, kx, sample in ((0x002F, "RSA", CKE_RSA), (0x0033, "DHE", CKE_DHE),
                              (0xC02F, "ECDHE", CKE_ECDHE)):
        theirs = tm.ClientKeyExchange(suite, (3, 3)).parse(parser(sample.encode()))
        value = {"RSA": lambda: bytes(theirs.encryptedPreMasterSecret),
                 "DHE": lambda: theirs.dh_Yc.to_bytes(256, "big"),
                 "ECDHE": lambda: bytes(theirs.ecdh_Yc)}[kx]()
        assert value == sample.exchange_keys
    made = tm.ClientKeyExchange(0x002F, (3, 1)).createRSA(bytearray(b"\x01" * 128))
    assert msg.decode_client_key_exchange(bytes(made.write())[4:], "RSA").exchange_keys == b"\1" * 128
    made = tm.ClientKeyExchange(0x0033, (3, 3)).createDH(0xABCDEF)
    assert msg.decode_client_key_exchange(bytes(made.write())[4:], "DHE").exchange_keys == h("abcdef")
    made = tm.ClientKeyExchange(0xC02F, (3, 3)).createECDH(bytearray(b"\x04" + b"\x02" * 96))
    ours = msg.decode_client_key_exchange(bytes(made.write())[4:], "ECDHE")
    assert ours.exchange_keys == b"\x04" + b"\x02" * 96 and ours.encode() == bytes(made.write())


def test_tlslite_certificate_verify_and_finished_both_ways():
    theirs = tm.CertificateVerify((3, 3)).parse(parser(CERT_VERIFY_12.encode()))
    assert bytes(theirs.signature) == CERT_VERIFY_12.signature
    assert tuple(theirs.signatureAlgorithm) == (4, 1)
    theirs = tm.CertificateVerify((3, 1)).parse(parser(CERT_VERIFY_10.encode()))
    assert bytes(theirs.signature) == CERT_VERIFY_10.signature
    made = bytes(tm.CertificateVerify((3, 3)).create(bytearray(b"\x09" * 64), (8, 5)).write())
    assert msg.decode_certificate_verify(made[4:], TLS12) == CertificateVerify(b"\x09" * 64, 0x0805)
    made = bytes(tm.CertificateVerify((3, 2)).create(bytearray(b"\x08" * 36)).write())
    assert msg.decode_certificate_verify(made[4:], TLS11) == CertificateVerify(b"\x08" * 36)
    theirs = tm.Finished((3, 3)).parse(parser(FINISHED.encode()))
    assert bytes(theirs.verify_data) == FINISHED.verify_data
    made = bytes(tm.Finished((3, 1)).create(bytearray(b"\x0f" * 12)).write())
    assert msg.decode_finished(made[4:]) == Finished(b"\x0f" * 12)
    assert made == Finished(b"\x0f" * 12).encode()


# ---- real ClientHellos from Python ssl and openssl s_client -------------------------------------
def capture_client_hello(start_client, timeout: float = 15.0):
    """Listen on loopback, let ``start_client(port)`` connect, read until peek_client_hello has the
    whole hello, then hang up. Returns (hello, bytes read)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(timeout)
    stop = start_client(srv.getsockname()[1])
    try:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(timeout)
            data = b""
            while True:
                hello = peek_client_hello(data)
                if hello is not None:
                    return hello, data
                chunk = conn.recv(4096)
                assert chunk, "client hung up before its ClientHello was complete"
                data += chunk
    finally:
        srv.close()
        stop()


def python_ssl_client(maximum_version):
    def start(port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = maximum_version

        def run():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
                    with ctx.wrap_socket(sock, server_hostname="pacs.example"):
                        pass
            except (OSError, ssl.SSLError):
                pass  # we hang up after the hello: the handshake is meant to fail

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return lambda: thread.join(15)
    return start


def check_real_hello(hello: ClientHello, data: bytes, tls13: bool):
    types = [e.type for e in hello.extensions]
    assert ext.decode_server_name(hello.extension(ExtensionType.SERVER_NAME)) == "pacs.example"
    assert hello.version == TLS12 and len(hello.random) == 32
    assert 0 in hello.compression_methods
    assert (ExtensionType.SUPPORTED_VERSIONS in types) == tls13
    groups = ext.decode_supported_groups(hello.extension(ExtensionType.SUPPORTED_GROUPS))
    assert ext.X25519 in groups or ext.SECP256R1 in groups
    schemes = ext.decode_signature_algorithms(hello.extension(ExtensionType.SIGNATURE_ALGORITHMS))
    assert ext.RSA_PSS_RSAE_SHA256 in schemes or ext.RSA_PKCS1_SHA256 in schemes
    if hello.extension(ExtensionType.EC_POINT_FORMATS) is not None:
        assert 0 in ext.decode_ec_point_formats(hello.extension(ExtensionType.EC_POINT_FORMATS))
    for empty in (ExtensionType.EXTENDED_MASTER_SECRET, ExtensionType.ENCRYPT_THEN_MAC):
        if hello.extension(empty) is not None:
            ext.decode_empty(empty, hello.extension(empty))
    if hello.extension(ExtensionType.RENEGOTIATION_INFO) is not None:
        assert ext.decode_renegotiation_info(hello.extension(ExtensionType.RENEGOTIATION_INFO)) == b""
    else:
        assert ext.TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites
    # our re-encoding is byte-identical to what the client sent, and tlslite agrees on the parse
    raw = hello.encode()
    assert raw in data
    theirs = tm.ClientHello().parse(parser(raw))
    assert theirs.cipher_suites == hello.cipher_suites
    assert [e.extType for e in theirs.extensions] == types
    # and it survives any record fragmentation
    assert peek_client_hello(records(raw, [7, 300])) == hello


@pytest.mark.interop
def test_real_client_hello_python_ssl_tls12():
    hello, data = capture_client_hello(python_ssl_client(ssl.TLSVersion.TLSv1_2))
    check_real_hello(hello, data, tls13=False)
    assert any(s in hello.cipher_suites for s in (0xC02F, 0xC030, 0xC02B, 0xC02C))


@pytest.mark.interop
def test_real_client_hello_python_ssl_tls13_capable():
    hello, data = capture_client_hello(python_ssl_client(ssl.TLSVersion.MAXIMUM_SUPPORTED))
    check_real_hello(hello, data, tls13=True)
    assert 0x1301 in hello.cipher_suites or 0x1302 in hello.cipher_suites


@pytest.mark.interop
def test_real_client_hello_openssl_s_client():
    from conftest import require_binary
    openssl = require_binary("openssl")
    procs = []

    def start(port):
        proc = subprocess.Popen([openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
                                 "-servername", "pacs.example"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)

        def stop():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return stop

    hello, data = capture_client_hello(start)
    check_real_hello(hello, data, tls13=False)
    assert procs and procs[0].returncode is not None


# ---- mutation fuzzing: only TLSDecodeError may escape, and what decodes re-encodes identically ----
@pytest.mark.parametrize("message,decode", SAMPLES, ids=SAMPLE_IDS)
def test_mutations_decode_canonically_or_raise(message, decode):
    _, body = split(message.encode())
    rng = random.Random(len(body) * 31 + message.msg_type)
    for _ in range(400):
        data = bytearray(body)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            elif data:
                del data[rng.randrange(len(data))]
        try:
            decoded = decode(bytes(data))
        except TLSDecodeError as exc:
            assert exc.alert in (47, 50)
            continue
        again = decoded.encode()[4:]
        # the one non-canonical form: a hello with an empty extension block re-encodes without it
        assert again == bytes(data) or (again + b"\0\0" == bytes(data)
                                        and isinstance(decoded, (ClientHello, ServerHello)))


def test_decode_speed():
    """Plain struct code: a full ClientHello decodes in well under a millisecond."""
    import time
    body = split(CLIENT_HELLO.encode())[1]
    start = time.perf_counter()
    for _ in range(2000):
        msg.decode_client_hello(body)
    assert (time.perf_counter() - start) / 2000 < 0.0005
