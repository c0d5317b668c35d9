"""Handshake message codecs for dicomtls' own TLS 1.0-1.2 engine (pure Python, strict).

RFC 5246 7.4 (RFC 2246/4346 for the pre-1.2 differences: no signature_algorithm in digitally-signed
structures, no supported_signature_algorithms in CertificateRequest), RFC 8422 5.4/5.7 (ECDHE),
RFC 5246 7.4.7.2 (explicit DH client public value).

Every ``encode()`` returns the whole handshake message: msg_type(1) + length(3) + body, the bytes that
go into the handshake transcript. Decoders take the body only (:class:`HandshakeBuffer` splits the
stream) and raise :class:`TLSDecodeError` for a length that does not add up, a vector outside its RFC
bounds or trailing bytes (alert 50 decode_error), or a value the RFC forbids (47 illegal_parameter,
each place says why). Encoders raise ``ValueError``: a bad argument there is our bug, not the peer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from dicomtls.errors import TLSDecodeError

from ..protocol import MAX_PLAINTEXT_LENGTH, AlertDescription, ContentType, HandshakeType
from ..versions import TLSVersion
from .extensions import (Extension, _read_extensions, _Reader, _u16_list, _vec, encode_extensions,
                         find)

FINISHED_LENGTH = 12          # verify_data_length: 12 for TLS 1.0/1.1 and every 1.2 suite we run
NAMED_CURVE = 3               # ECCurveType.named_curve, RFC 8422 5.4
DEFAULT_MAX_MESSAGE = 256 * 1024
KEY_EXCHANGES = ("RSA", "DHE", "ECDHE")


def _message(msg_type: int, body: bytes) -> bytes:
    if len(body) > 0xFFFFFF:
        raise ValueError(f"handshake message body of {len(body)} bytes does not fit 24 bits")
    return bytes((msg_type,)) + len(body).to_bytes(3, "big") + body


def _u16(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} {value} out of 0..65535")
    return value.to_bytes(2, "big")


def _random(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"random must be 32 bytes, not {len(value)}")
    return bytes(value)


def _check_kx(kx: str, allowed=KEY_EXCHANGES) -> None:
    if kx not in allowed:
        raise ValueError(f"key exchange {kx!r} is not one of {allowed}")


def _is_tls12(version: int | None) -> bool:
    if version is None:
        raise ValueError("this message's layout depends on the protocol version: pass version=")
    return version >= TLSVersion.TLSv1_2


# ---- hellos ------------------------------------------------------------------------------------
@dataclass
class ClientHello:
    version: int
    random: bytes
    session_id: bytes
    cipher_suites: list[int]
    compression_methods: bytes = b"\0"
    extensions: list[Extension] = field(default_factory=list)

    msg_type: ClassVar[int] = HandshakeType.CLIENT_HELLO

    def extension(self, ext_type: int) -> bytes | None:
        return find(self.extensions, ext_type)

    def encode(self) -> bytes:
        body = b"".join((
            _u16(self.version, "client_version"), _random(self.random),
            _vec(1, self.session_id, 0, 32, "session_id"),
            _u16_list(self.cipher_suites, 2, 0xFFFE, "cipher_suites"),
            _vec(1, self.compression_methods, 1, 0xFF, "compression_methods"),
            encode_extensions(self.extensions)))
        return _message(self.msg_type, body)


def decode_client_hello(body) -> ClientHello:
    r = _Reader(body, "ClientHello")
    version = r.u16("client_version")
    random = r.raw(32, "random")
    session_id = r.vec(1, 0, 32, "session_id")
    suites = r.u16_list(2, 2, 0xFFFE, "cipher_suites")
    compression = r.vec(1, 1, 0xFF, "compression_methods")
    # RFC 5246 7.4.1.2: the extension block may be absent altogether (SSLv3/TLS 1.0 era clients);
    # then the body simply ends after compression_methods.
    extensions = _read_extensions(r) if r.remaining else []
    r.done()
    if 0 not in compression:
        # RFC 5246 7.4.1.2: the list "MUST contain ... CompressionMethod.null". The message parses,
        # so this is not decode_error; handshake_failure would claim a negotiation failure, but the
        # client broke a MUST about a field's content: illegal_parameter (RFC 5246 7.2.2 "a field in
        # the handshake was out of range"), as RFC 8446 4.1.2 also prescribes for this field.
        raise r.fail("compression_methods lacks null (0)", AlertDescription.ILLEGAL_PARAMETER)
    return ClientHello(version, random, session_id, suites, compression, extensions)


@dataclass
class ServerHello:
    version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int = 0
    extensions: list[Extension] = field(default_factory=list)

    msg_type: ClassVar[int] = HandshakeType.SERVER_HELLO

    def extension(self, ext_type: int) -> bytes | None:
        return find(self.extensions, ext_type)

    def encode(self) -> bytes:
        if not 0 <= self.compression_method <= 0xFF:
            raise ValueError(f"compression_method {self.compression_method} out of 0..255")
        body = b"".join((
            _u16(self.version, "server_version"), _random(self.random),
            _vec(1, self.session_id, 0, 32, "session_id"), _u16(self.cipher_suite, "cipher_suite"),
            bytes((self.compression_method,)), encode_extensions(self.extensions)))
        return _message(self.msg_type, body)


def decode_server_hello(body) -> ServerHello:
    r = _Reader(body, "ServerHello")
    version = r.u16("server_version")
    random = r.raw(32, "random")
    session_id = r.vec(1, 0, 32, "session_id")
    suite = r.u16("cipher_suite")
    compression = r.u8("compression_method")
    extensions = _read_extensions(r) if r.remaining else []
    r.done()
    if compression != 0:
        # Our ClientHello only ever offers null; a server picking anything else chose a value that
        # was not offered (RFC 5246 7.4.1.3): illegal_parameter.
        raise r.fail(f"compression_method {compression} was not offered",
                     AlertDescription.ILLEGAL_PARAMETER)
    return ServerHello(version, random, session_id, suite, compression, extensions)


# ---- Certificate ---------------------------------------------------------------------------------
@dataclass
class Certificate:
    certificates: list[bytes] = field(default_factory=list)   # DER, leaf first; [] = none

    msg_type: ClassVar[int] = HandshakeType.CERTIFICATE

    def encode(self) -> bytes:
        chain = b"".join(_vec(3, c, 1, 0xFFFFFF, "ASN.1Cert") for c in self.certificates)
        return _message(self.msg_type, _vec(3, chain, 0, 0xFFFFFF, "certificate_list"))


def decode_certificate(body) -> Certificate:
    r = _Reader(body, "Certificate")
    chain = r.sub(3, 0, 0xFFFFFF, "certificate_list")
    r.done()
    certs = []
    while chain.remaining:
        certs.append(chain.vec(3, 1, 0xFFFFFF, "ASN.1Cert"))
    return Certificate(certs)


# ---- ServerKeyExchange -----------------------------------------------------------------------
@dataclass
class ServerKeyExchange:
    kx: str                                   # "DHE" or "ECDHE"
    signature: bytes
    signature_algorithm: int | None = None    # TLS 1.2 only (SignatureAndHashAlgorithm)
    dh_p: bytes = b""
    dh_g: bytes = b""
    dh_ys: bytes = b""
    named_group: int = 0
    point: bytes = b""

    msg_type: ClassVar[int] = HandshakeType.SERVER_KEY_EXCHANGE

    def params_bytes(self) -> bytes:
        """ServerDHParams / ServerECDHParams as on the wire: what gets signed after
        client_random + server_random (RFC 5246 7.4.3, RFC 8422 5.4)."""
        _check_kx(self.kx, ("DHE", "ECDHE"))
        if self.kx == "DHE":
            return (_vec(2, self.dh_p, 1, 0xFFFF, "dh_p") + _vec(2, self.dh_g, 1, 0xFFFF, "dh_g")
                    + _vec(2, self.dh_ys, 1, 0xFFFF, "dh_Ys"))
        return (bytes((NAMED_CURVE,)) + _u16(self.named_group, "named_group")
                + _vec(1, self.point, 1, 0xFF, "point"))

    def encode(self) -> bytes:
        alg = b"" if self.signature_algorithm is None else _u16(self.signature_algorithm,
                                                               "signature_algorithm")
        body = self.params_bytes() + alg + _vec(2, self.signature, 0, 0xFFFF, "signature")
        return _message(self.msg_type, body)


def _signed_tail(r: _Reader, tls12: bool) -> tuple[int | None, bytes]:
    """A digitally-signed element: SignatureAndHashAlgorithm (TLS 1.2) + signature<0..2^16-1>."""
    alg = r.u16("signature_algorithm") if tls12 else None
    return alg, r.vec(2, 0, 0xFFFF, "signature")


def decode_server_key_exchange(body, kx: str, version: int) -> ServerKeyExchange:
    _check_kx(kx)
    tls12 = _is_tls12(version)
    r = _Reader(body, "ServerKeyExchange")
    if kx == "RSA":
        # RFC 5246 7.4.3: "It is not legal to send the server key exchange message for ... RSA".
        raise r.fail("not allowed with RSA key exchange", AlertDescription.UNEXPECTED_MESSAGE)
    if kx == "DHE":
        p = r.vec(2, 1, 0xFFFF, "dh_p")
        g = r.vec(2, 1, 0xFFFF, "dh_g")
        ys = r.vec(2, 1, 0xFFFF, "dh_Ys")
        alg, sig = _signed_tail(r, tls12)
        r.done()
        return ServerKeyExchange("DHE", sig, alg, dh_p=p, dh_g=g, dh_ys=ys)
    curve_type = r.u8("curve_type")
    if curve_type != NAMED_CURVE:
        # RFC 8422 5.4 deprecates explicit_prime(1)/explicit_char2(2); named_curve is the only
        # value left: anything else is a field out of range, illegal_parameter.
        raise r.fail(f"curve_type {curve_type} (only named_curve is allowed)",
                     AlertDescription.ILLEGAL_PARAMETER)
    group = r.u16("named_curve")
    point = r.vec(1, 1, 0xFF, "point")
    alg, sig = _signed_tail(r, tls12)
    r.done()
    return ServerKeyExchange("ECDHE", sig, alg, named_group=group, point=point)


# ---- CertificateRequest ----------------------------------------------------------------------
@dataclass
class CertificateRequest:
    certificate_types: bytes
    signature_algorithms: list[int] | None     # None below TLS 1.2
    authorities: list[bytes] = field(default_factory=list)   # DER DistinguishedNames

    msg_type: ClassVar[int] = HandshakeType.CERTIFICATE_REQUEST

    def encode(self) -> bytes:
        parts = [_vec(1, self.certificate_types, 1, 0xFF, "certificate_types")]
        if self.signature_algorithms is not None:
            parts.append(_u16_list(self.signature_algorithms, 2, 0xFFFE,
                                   "supported_signature_algorithms"))
        names = b"".join(_vec(2, dn, 1, 0xFFFF, "DistinguishedName") for dn in self.authorities)
        parts.append(_vec(2, names, 0, 0xFFFF, "certificate_authorities"))
        return _message(self.msg_type, b"".join(parts))


def decode_certificate_request(body, version: int) -> CertificateRequest:
    tls12 = _is_tls12(version)
    r = _Reader(body, "CertificateRequest")
    types = r.vec(1, 1, 0xFF, "certificate_types")
    algs = r.u16_list(2, 2, 0xFFFE, "supported_signature_algorithms") if tls12 else None
    names = r.sub(2, 0, 0xFFFF, "certificate_authorities")
    r.done()
    authorities = []
    while names.remaining:
        authorities.append(names.vec(2, 1, 0xFFFF, "DistinguishedName"))
    return CertificateRequest(types, algs, authorities)


# ---- empty messages ------------------------------------------------------------------------------
@dataclass
class ServerHelloDone:
    msg_type: ClassVar[int] = HandshakeType.SERVER_HELLO_DONE

    def encode(self) -> bytes:
        return _message(self.msg_type, b"")


@dataclass
class HelloRequest:
    msg_type: ClassVar[int] = HandshakeType.HELLO_REQUEST

    def encode(self) -> bytes:
        return _message(self.msg_type, b"")


def _decode_empty(body, cls):
    if len(body):
        raise TLSDecodeError(f"{cls.__name__}: body must be empty, has {len(body)} bytes")
    return cls()


def decode_server_hello_done(body) -> ServerHelloDone:
    return _decode_empty(body, ServerHelloDone)


def decode_hello_request(body) -> HelloRequest:
    return _decode_empty(body, HelloRequest)


# ---- CertificateVerify, ClientKeyExchange, Finished ------------------------------------------
@dataclass
class CertificateVerify:
    signature: bytes
    signature_algorithm: int | None = None    # TLS 1.2 only

    msg_type: ClassVar[int] = HandshakeType.CERTIFICATE_VERIFY

    def encode(self) -> bytes:
        alg = b"" if self.signature_algorithm is None else _u16(self.signature_algorithm,
                                                               "signature_algorithm")
        return _message(self.msg_type, alg + _vec(2, self.signature, 0, 0xFFFF, "signature"))


def decode_certificate_verify(body, version: int) -> CertificateVerify:
    r = _Reader(body, "CertificateVerify")
    alg, sig = _signed_tail(r, _is_tls12(version))
    r.done()
    return CertificateVerify(sig, alg)


# (length prefix width, lower bound, upper bound, field name) per key exchange, RFC 5246 7.4.7.1
# (TLS 1.0+ prefixes the encrypted premaster), 7.4.7.2 (explicit dh_Yc), RFC 8422 5.7 (ecdh_Yc).
_CKE_LAYOUT = {
    "RSA": (2, 0, 0xFFFF, "EncryptedPreMasterSecret"),
    "DHE": (2, 1, 0xFFFF, "dh_Yc"),
    "ECDHE": (1, 1, 0xFF, "ecdh_Yc"),
}


@dataclass
class ClientKeyExchange:
    kx: str                  # "RSA", "DHE" or "ECDHE"
    exchange_keys: bytes     # encrypted premaster / Yc / EC point, without its length prefix

    msg_type: ClassVar[int] = HandshakeType.CLIENT_KEY_EXCHANGE

    def encode(self) -> bytes:
        _check_kx(self.kx)
        width, lo, hi, name = _CKE_LAYOUT[self.kx]
        return _message(self.msg_type, _vec(width, self.exchange_keys, lo, hi, name))


def decode_client_key_exchange(body, kx: str) -> ClientKeyExchange:
    _check_kx(kx)
    width, lo, hi, name = _CKE_LAYOUT[kx]
    r = _Reader(body, "ClientKeyExchange")
    keys = r.vec(width, lo, hi, name)
    r.done()
    return ClientKeyExchange(kx, keys)


@dataclass
class Finished:
    verify_data: bytes

    msg_type: ClassVar[int] = HandshakeType.FINISHED

    def encode(self) -> bytes:
        if len(self.verify_data) != FINISHED_LENGTH:
            raise ValueError(f"verify_data must be {FINISHED_LENGTH} bytes")
        return _message(self.msg_type, bytes(self.verify_data))


def decode_finished(body) -> Finished:
    if len(body) != FINISHED_LENGTH:
        raise TLSDecodeError(f"Finished: verify_data is {len(body)} bytes, not {FINISHED_LENGTH}")
    return Finished(bytes(body))


# ---- dispatch ------------------------------------------------------------------------------------
def decode_handshake(msg_type: int, body, *, version: int | None = None, kx: str | None = None):
    """Decode one handshake body by type. ``version`` is needed for ServerKeyExchange,
    CertificateRequest and CertificateVerify; ``kx`` for ServerKeyExchange and ClientKeyExchange."""
    if msg_type == HandshakeType.CLIENT_HELLO:
        return decode_client_hello(body)
    if msg_type == HandshakeType.SERVER_HELLO:
        return decode_server_hello(body)
    if msg_type == HandshakeType.CERTIFICATE:
        return decode_certificate(body)
    if msg_type == HandshakeType.SERVER_KEY_EXCHANGE:
        if kx is None:
            raise ValueError("ServerKeyExchange needs kx=")
        return decode_server_key_exchange(body, kx, version)
    if msg_type == HandshakeType.CERTIFICATE_REQUEST:
        return decode_certificate_request(body, version)
    if msg_type == HandshakeType.SERVER_HELLO_DONE:
        return decode_server_hello_done(body)
    if msg_type == HandshakeType.CERTIFICATE_VERIFY:
        return decode_certificate_verify(body, version)
    if msg_type == HandshakeType.CLIENT_KEY_EXCHANGE:
        if kx is None:
            raise ValueError("ClientKeyExchange needs kx=")
        return decode_client_key_exchange(body, kx)
    if msg_type == HandshakeType.FINISHED:
        return decode_finished(body)
    if msg_type == HandshakeType.HELLO_REQUEST:
        return decode_hello_request(body)
    # Anything else (TLS 1.3 messages, NewSessionTicket we never asked for, garbage) has no place
    # in the handshakes this engine runs.
    raise TLSDecodeError(f"unknown or unsupported handshake message type {msg_type}",
                         alert=AlertDescription.UNEXPECTED_MESSAGE)


# ---- reassembly ------------------------------------------------------------------------------
class HandshakeBuffer:
    """Splits handshake-record plaintext into messages, whatever the record boundaries: a message may
    span records and a record may carry several messages (RFC 5246 6.2.1)."""

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE):
        self.max_message_size = max_message_size
        self._buf = bytearray()

    def feed(self, data) -> None:
        self._buf += data
        self._check_header()

    def _check_header(self) -> None:
        buf = self._buf
        if len(buf) >= 4:
            n = (buf[1] << 16) | (buf[2] << 8) | buf[3]
            if n > self.max_message_size:
                # Checked as soon as the header is in, so a peer cannot make us buffer 16 MiB.
                # RFC 5246 leaves a too-large message to the implementation; the length field is
                # out of the range we accept, RFC 5246 7.2.2's illegal_parameter (OpenSSL's
                # "excessive message size" answers the same).
                raise TLSDecodeError(
                    f"handshake message type {buf[0]} of {n} bytes exceeds the "
                    f"{self.max_message_size}-byte limit",
                    alert=AlertDescription.ILLEGAL_PARAMETER)

    def next_message(self) -> tuple[int, bytes, bytes] | None:
        """``(msg_type, body, raw)`` of the next complete message (raw includes the 4-byte header:
        the bytes the transcript hash takes), or None until more bytes arrive."""
        buf = self._buf
        if len(buf) < 4:
            return None
        self._check_header()
        n = (buf[1] << 16) | (buf[2] << 8) | buf[3]
        if len(buf) < 4 + n:
            return None
        raw = bytes(buf[:4 + n])
        del buf[:4 + n]
        return raw[0], raw[4:], raw

    @property
    def pending(self) -> bool:
        """Bytes are buffered that are not yet returned as a message (a partial message, or a
        complete one not yet taken): a ChangeCipherSpec must not arrive now (RFC 5246 7.1)."""
        return bool(self._buf)


# ---- ClientHello peek for the selecting server ----------------------------------------------------
def peek_client_hello(data, max_message_size: int = DEFAULT_MAX_MESSAGE) -> ClientHello | None:
    """Decode the ClientHello at the start of a TCP stream without consuming anything.

    ``data`` is every byte received so far. Reads plaintext TLS records (type 22) until the first
    handshake message is complete; returns None while more bytes are needed. Bytes after the
    ClientHello are not looked at. Raises :class:`TLSDecodeError` if the stream is not a TLS
    handshake (an SSLv2-format hello, another content type, a bad record header) or the ClientHello
    is malformed.
    """
    data = bytes(data)
    hs = HandshakeBuffer(max_message_size)
    pos, end = 0, len(data)
    while True:
        if pos < end and pos == 0 and data[0] & 0x80:
            # A 2-byte SSLv2 record header (RFC 5246 E.2 "Compatibility with SSL 2.0"): the MSB of the
            # first byte is set, which no TLS content type has.
            raise TLSDecodeError("SSLv2-format ClientHello (SSL 2.0 compatible hello): this server "
                                 "speaks TLS 1.0 and later only",
                                 alert=AlertDescription.PROTOCOL_VERSION)
        if pos < end and data[pos] != ContentType.HANDSHAKE:
            raise TLSDecodeError(f"not a TLS handshake: record content type {data[pos]} where a "
                                 f"handshake record (22) must come",
                                 alert=AlertDescription.UNEXPECTED_MESSAGE)
        if pos + 1 < end and data[pos + 1] != 3:
            raise TLSDecodeError(f"not a TLS record: version {data[pos + 1]}.x",
                                 alert=AlertDescription.PROTOCOL_VERSION)
        if end - pos < 5:
            return None
        length = (data[pos + 3] << 8) | data[pos + 4]
        if length == 0:
            # RFC 5246 6.2.1: zero-length handshake fragments MUST NOT be sent.
            raise TLSDecodeError("empty handshake record",
                                 alert=AlertDescription.UNEXPECTED_MESSAGE)
        if length > MAX_PLAINTEXT_LENGTH:
            raise TLSDecodeError(f"handshake record of {length} bytes exceeds 2^14",
                                 alert=AlertDescription.RECORD_OVERFLOW)
        if pos == 0 and end > 5 and data[5] != HandshakeType.CLIENT_HELLO:
            raise TLSDecodeError(f"first handshake message is type {data[5]}, not ClientHello",
                                 alert=AlertDescription.UNEXPECTED_MESSAGE)
        if end - pos - 5 < length:
            return None
        hs.feed(data[pos + 5:pos + 5 + length])
        msg = hs.next_message()
        if msg is not None:
            return decode_client_hello(msg[1])
        pos += 5 + length
