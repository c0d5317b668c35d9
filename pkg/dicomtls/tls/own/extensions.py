"""Hello extension codecs for dicomtls' own TLS 1.0-1.2 engine (pure Python, strict).

RFC 5246 7.4.1.4 (the extension block), RFC 6066 3 (server_name), RFC 8422 5.1 (supported_groups,
ec_point_formats; RFC 7919 adds the ffdhe groups), RFC 5246 7.4.1.4.1 (signature_algorithms),
RFC 5746 3.2 (renegotiation_info), RFC 7366 (encrypt_then_mac), RFC 7627 (extended_master_secret).

Decoders raise :class:`TLSDecodeError` (alert 50 decode_error unless a comment says otherwise) for any
length that does not add up, a vector outside its RFC bounds, or trailing bytes. Encoders raise
``ValueError``: a bad argument there is our own bug, not the peer's. Unknown extensions are kept raw;
the engine decides what it understands.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from dicomtls.errors import TLSDecodeError

from ..protocol import AlertDescription, ExtensionType

# Signalling cipher suite values (they travel in cipher_suites, not in the extension block).
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF   # RFC 5746 3.3
TLS_FALLBACK_SCSV = 0x5600                   # RFC 7507


def extension_name(ext_type: int) -> str:
    """IANA name of an extension type dicomtls knows (``ExtensionType``), else ``0xNNNN``."""
    try:
        return ExtensionType(ext_type).name.lower()
    except ValueError:
        return f"0x{ext_type:04X}"


# ---- named groups (RFC 8422 5.1.1, RFC 7919 2) --------------------------------------------------
SECP256R1 = 23
SECP384R1 = 24
SECP521R1 = 25
X25519 = 29
X448 = 30
FFDHE2048 = 256
FFDHE3072 = 257
FFDHE4096 = 258
FFDHE6144 = 259
FFDHE8192 = 260

# The names OpenSSL's key generation takes (EVP_PKEY_Q_keygen / dt_kx_keygen_group).
GROUP_NAMES: dict[int, str] = {
    X25519: "x25519", X448: "x448", SECP256R1: "P-256", SECP384R1: "P-384", SECP521R1: "P-521",
    FFDHE2048: "ffdhe2048", FFDHE3072: "ffdhe3072", FFDHE4096: "ffdhe4096",
    FFDHE6144: "ffdhe6144", FFDHE8192: "ffdhe8192",
}
# The IANA registry names, which is also what libssl reports as the negotiated group: SessionInfo
# from both engines should then read the same.
GROUP_IANA_NAMES: dict[int, str] = {
    X25519: "x25519", X448: "x448", SECP256R1: "secp256r1", SECP384R1: "secp384r1",
    SECP521R1: "secp521r1", FFDHE2048: "ffdhe2048", FFDHE3072: "ffdhe3072",
    FFDHE4096: "ffdhe4096", FFDHE6144: "ffdhe6144", FFDHE8192: "ffdhe8192",
}
# Key size in bits as EVP_PKEY_get_bits reports it (x25519 = 253), the same numbers the libssl
# engine puts in SessionInfo.key_exchange_bits.
GROUP_BITS: dict[int, int] = {
    X25519: 253, X448: 448, SECP256R1: 256, SECP384R1: 384, SECP521R1: 521,
    FFDHE2048: 2048, FFDHE3072: 3072, FFDHE4096: 4096, FFDHE6144: 6144, FFDHE8192: 8192,
}
FFDHE_GROUPS = frozenset({FFDHE2048, FFDHE3072, FFDHE4096, FFDHE6144, FFDHE8192})
ECDHE_GROUPS = frozenset({X25519, X448, SECP256R1, SECP384R1, SECP521R1})


def group_name(code: int) -> str:
    """IANA name of a named group, or ``0xNNNN`` for one we do not know."""
    return GROUP_IANA_NAMES.get(code, f"0x{code:04X}")


# ---- EC point formats (RFC 8422 5.1.2) -----------------------------------------------------------
POINT_FORMAT_UNCOMPRESSED = 0

# ---- signature schemes (RFC 5246 7.4.1.4.1 hash/signature pairs, RFC 8446 4.2.3 names) ---------
RSA_PKCS1_SHA1 = 0x0201
RSA_PKCS1_SHA256 = 0x0401
RSA_PKCS1_SHA384 = 0x0501
RSA_PKCS1_SHA512 = 0x0601
ECDSA_SHA1 = 0x0203
ECDSA_SECP256R1_SHA256 = 0x0403
ECDSA_SECP384R1_SHA384 = 0x0503
ECDSA_SECP521R1_SHA512 = 0x0603
RSA_PSS_RSAE_SHA256 = 0x0804
RSA_PSS_RSAE_SHA384 = 0x0805
RSA_PSS_RSAE_SHA512 = 0x0806
ED25519 = 0x0807
ED448 = 0x0808
RSA_PSS_PSS_SHA256 = 0x0809
RSA_PSS_PSS_SHA384 = 0x080A
RSA_PSS_PSS_SHA512 = 0x080B

# RSA schemes the engine signs/verifies with (an rsaEncryption key): digest name for dt_sign /
# dt_verify and whether it is PSS (salt = hash length, RFC 8446 4.2.3).
SCHEME_INFO: dict[int, tuple[str, bool]] = {
    RSA_PKCS1_SHA1: ("SHA1", False), RSA_PKCS1_SHA256: ("SHA256", False),
    RSA_PKCS1_SHA384: ("SHA384", False), RSA_PKCS1_SHA512: ("SHA512", False),
    RSA_PSS_RSAE_SHA256: ("SHA256", True), RSA_PSS_RSAE_SHA384: ("SHA384", True),
    RSA_PSS_RSAE_SHA512: ("SHA512", True),
}

_SCHEME_NAMES = {
    RSA_PKCS1_SHA1: "rsa_pkcs1_sha1", RSA_PKCS1_SHA256: "rsa_pkcs1_sha256",
    RSA_PKCS1_SHA384: "rsa_pkcs1_sha384", RSA_PKCS1_SHA512: "rsa_pkcs1_sha512",
    ECDSA_SHA1: "ecdsa_sha1", ECDSA_SECP256R1_SHA256: "ecdsa_secp256r1_sha256",
    ECDSA_SECP384R1_SHA384: "ecdsa_secp384r1_sha384",
    ECDSA_SECP521R1_SHA512: "ecdsa_secp521r1_sha512",
    RSA_PSS_RSAE_SHA256: "rsa_pss_rsae_sha256", RSA_PSS_RSAE_SHA384: "rsa_pss_rsae_sha384",
    RSA_PSS_RSAE_SHA512: "rsa_pss_rsae_sha512", ED25519: "ed25519", ED448: "ed448",
    RSA_PSS_PSS_SHA256: "rsa_pss_pss_sha256", RSA_PSS_PSS_SHA384: "rsa_pss_pss_sha384",
    RSA_PSS_PSS_SHA512: "rsa_pss_pss_sha512",
}


def scheme_name(code: int) -> str:
    """RFC 8446 name of a signature scheme, or ``0xNNNN`` for one we do not know."""
    return _SCHEME_NAMES.get(code, f"0x{code:04X}")


# ---- a bounds-checked reader shared with messages.py ---------------------------------------------
class _Reader:
    """Cursor over one wire structure. Every read checks the bytes are there; ``what`` names the
    structure in error messages so a decode_error says which field was short."""

    __slots__ = ("buf", "pos", "end", "what")

    def __init__(self, data, what: str, pos: int = 0, end: int | None = None):
        self.buf = data if isinstance(data, bytes) else bytes(data)
        self.pos = pos
        self.end = len(self.buf) if end is None else end
        self.what = what

    def fail(self, why: str, alert: int = AlertDescription.DECODE_ERROR) -> TLSDecodeError:
        return TLSDecodeError(f"{self.what}: {why}", alert=alert)

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _take(self, n: int, field: str) -> int:
        p = self.pos
        if n > self.end - p:
            raise self.fail(f"truncated {field} (need {n} bytes, {self.end - p} left)")
        self.pos = p + n
        return p

    def u8(self, field: str) -> int:
        return self.buf[self._take(1, field)]

    def u16(self, field: str) -> int:
        p = self._take(2, field)
        return (self.buf[p] << 8) | self.buf[p + 1]

    def u24(self, field: str) -> int:
        p = self._take(3, field)
        return (self.buf[p] << 16) | (self.buf[p + 1] << 8) | self.buf[p + 2]

    def raw(self, n: int, field: str) -> bytes:
        p = self._take(n, field)
        return self.buf[p:p + n]

    def _vec_len(self, width: int, lo: int, hi: int, field: str, step: int) -> int:
        n = (self.u8, self.u16, self.u24)[width - 1](field + " length")
        if n < lo or n > hi:
            raise self.fail(f"{field} length {n} outside <{lo}..{hi}>")
        if n % step:
            raise self.fail(f"{field} length {n} is not a multiple of {step}")
        if n > self.end - self.pos:
            raise self.fail(f"{field} length {n} overruns the {self.remaining} bytes left")
        return n

    def vec(self, width: int, lo: int, hi: int, field: str) -> bytes:
        """An opaque vector ``<lo..hi>`` with a ``width``-byte length prefix."""
        return self.raw(self._vec_len(width, lo, hi, field, 1), field)

    def sub(self, width: int, lo: int, hi: int, field: str, step: int = 1) -> "_Reader":
        """A vector of structures: a reader over its body (this one moves past it)."""
        n = self._vec_len(width, lo, hi, field, step)
        start = self.pos
        self.pos += n
        return _Reader(self.buf, f"{self.what}.{field}", start, start + n)

    def u16_list(self, width: int, lo: int, hi: int, field: str) -> list[int]:
        n = self._vec_len(width, lo, hi, field, 2)
        p = self.pos
        self.pos = p + n
        return list(struct.unpack_from(f">{n // 2}H", self.buf, p))

    def done(self) -> None:
        if self.pos != self.end:
            raise self.fail(f"{self.end - self.pos} trailing bytes")


def _vec(width: int, data: bytes, lo: int, hi: int, field: str) -> bytes:
    """Length-prefix ``data`` for the wire, refusing what the RFC vector bounds forbid."""
    n = len(data)
    if n < lo or n > hi:
        raise ValueError(f"{field}: length {n} outside <{lo}..{hi}>")
    return n.to_bytes(width, "big") + bytes(data)


def _u16_list(values, lo: int, hi: int, field: str) -> bytes:
    try:
        body = struct.pack(f">{len(values)}H", *values)
    except struct.error as exc:
        raise ValueError(f"{field}: value out of 0..65535 ({exc})") from None
    return _vec(2, body, lo, hi, field)


# ---- the extension block ----------------------------------------------------------------------
@dataclass(frozen=True)
class Extension:
    type: int
    data: bytes = b""

    def __post_init__(self):
        if not 0 <= self.type <= 0xFFFF:
            raise ValueError(f"extension type {self.type} out of 0..65535")
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))

    def __repr__(self) -> str:
        return f"Extension({extension_name(self.type)}, {self.data.hex() or '-'})"


def encode_extensions(extensions: list[Extension], omit_empty: bool = True) -> bytes:
    """``extensions<0..2^16-1>`` with its length; b"" for an empty list when ``omit_empty`` (a hello
    without any extension leaves the block out, which every TLS 1.0+ peer accepts)."""
    if not extensions and omit_empty:
        return b""
    seen: set[int] = set()
    parts = []
    for ext in extensions:
        if ext.type in seen:
            raise ValueError(f"extension {ext.type:#06x} listed twice")
        seen.add(ext.type)
        parts.append(ext.type.to_bytes(2, "big") + _vec(2, ext.data, 0, 0xFFFF, "extension_data"))
    return _vec(2, b"".join(parts), 0, 0xFFFF, "extensions")


def _read_extensions(r: _Reader) -> list[Extension]:
    """Read an extension block (length included) from ``r``: the hello decoders use this."""
    block = r.sub(2, 0, 0xFFFF, "extensions")
    out: list[Extension] = []
    seen: set[int] = set()
    while block.remaining:
        ext_type = block.u16("extension_type")
        data = block.vec(2, 0, 0xFFFF, "extension_data")
        if ext_type in seen:
            # RFC 5246 7.4.1.4: "There MUST NOT be more than one extension of the same type."
            # The RFC names no alert. The block parses fine; it is a field value the protocol
            # forbids, which is RFC 5246 7.2.2's definition of illegal_parameter (and the alert
            # RFC 8446 4.2 peers send for the same fault).
            raise block.fail(f"duplicate extension {ext_type:#06x}",
                             AlertDescription.ILLEGAL_PARAMETER)
        seen.add(ext_type)
        out.append(Extension(ext_type, data))
    return out


def decode_extensions(data) -> list[Extension]:
    """Parse a whole extension block (2-byte length first). ``b""`` = no block = ``[]``."""
    if not data:
        return []
    r = _Reader(data, "extensions")
    out = _read_extensions(r)
    r.done()
    return out


def find(extensions: list[Extension], ext_type: int) -> bytes | None:
    """The data of extension ``ext_type``, or None if absent (b"" = present and empty)."""
    for ext in extensions:
        if ext.type == ext_type:
            return ext.data
    return None


# ---- server_name (RFC 6066 3) ------------------------------------------------------------------
_HOST_NAME = 0


def encode_server_name(host: str) -> bytes:
    """ClientHello server_name data for one DNS host name (RFC 6066: ASCII, no trailing dot, never an
    IP literal). A non-ASCII name goes out as its IDNA A-labels. The server's acknowledgement is an
    empty extension: ``Extension(SERVER_NAME, b"")``."""
    name = host[:-1] if host.endswith(".") else host
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"server_name must not be an IP address literal: {host!r}")
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        raw = name.encode("idna")
    if not raw or b"\0" in raw:
        raise ValueError(f"unusable server name {host!r}")
    entry = bytes([_HOST_NAME]) + _vec(2, raw, 1, 0xFFFF, "HostName")
    return _vec(2, entry, 1, 0xFFFF, "server_name_list")


def decode_server_name(data) -> str | None:
    """The host_name from ClientHello server_name data; None if the list holds no host_name entry.

    Entries of other name types are skipped (every entry is read as ``type + opaque<1..2^16-1>``,
    the only layout ever defined). A trailing dot is dropped. Use :func:`decode_empty` for the server's (empty) answer."""
    r = _Reader(data, "server_name")
    names = r.sub(2, 1, 0xFFFF, "server_name_list")
    r.done()
    host = None
    seen: set[int] = set()
    while names.remaining:
        name_type = names.u8("name_type")
        value = names.vec(2, 1, 0xFFFF, "name")
        if name_type in seen:
            # RFC 6066 3: "The ServerNameList MUST NOT contain more than one name of the same
            # name_type." A forbidden value, not a framing fault: illegal_parameter.
            raise names.fail(f"name_type {name_type} listed twice",
                             AlertDescription.ILLEGAL_PARAMETER)
        seen.add(name_type)
        if name_type == _HOST_NAME:
            # HostName is ASCII (RFC 6066 3; IDNs travel as A-labels). A NUL or a high byte could
            # make the name compare differently in C and Python code: refuse it outright.
            if max(value) > 0x7E or min(value) < 0x21:
                raise names.fail("host_name is not a printable ASCII name",
                                 AlertDescription.ILLEGAL_PARAMETER)
            # RFC 6066 forbids the trailing dot of an absolute name, but refusing the handshake
            # over it helps nobody: compare names without it.
            if value.endswith(b".") and len(value) > 1:
                value = value[:-1]
            if value == b".":
                raise names.fail("host_name is just '.'", AlertDescription.ILLEGAL_PARAMETER)
            host = value.decode("ascii")
    return host


# ---- supported_groups, ec_point_formats (RFC 8422 5.1, RFC 7919) --------------------------------
def encode_supported_groups(groups: list[int]) -> bytes:
    return _u16_list(groups, 2, 0xFFFF, "named_group_list")


def decode_supported_groups(data) -> list[int]:
    """NamedGroupList<2..2^16-1>, order kept; unknown groups kept (the caller ignores them)."""
    r = _Reader(data, "supported_groups")
    groups = r.u16_list(2, 2, 0xFFFF, "named_group_list")
    r.done()
    return groups


def encode_ec_point_formats(formats: bytes = b"\0") -> bytes:
    return _vec(1, bytes(formats), 1, 0xFF, "ec_point_format_list")


def decode_ec_point_formats(data) -> bytes:
    """ECPointFormatList<1..2^8-1>. Whether uncompressed (0) is in it is the engine's check
    (RFC 8422 5.1.2 ties the illegal_parameter abort to ECC being in play)."""
    r = _Reader(data, "ec_point_formats")
    formats = r.vec(1, 1, 0xFF, "ec_point_format_list")
    r.done()
    return formats


# ---- signature_algorithms (RFC 5246 7.4.1.4.1) ----------------------------------------------------
def encode_signature_algorithms(schemes: list[int]) -> bytes:
    return _u16_list(schemes, 2, 0xFFFE, "supported_signature_algorithms")


def decode_signature_algorithms(data) -> list[int]:
    """supported_signature_algorithms<2..2^16-2>, order (preference) kept, unknown codes kept."""
    r = _Reader(data, "signature_algorithms")
    schemes = r.u16_list(2, 2, 0xFFFE, "supported_signature_algorithms")
    r.done()
    return schemes


# ---- renegotiation_info (RFC 5746 3.2) ------------------------------------------------------------
def encode_renegotiation_info(verified: bytes = b"") -> bytes:
    """renegotiated_connection<0..255>: empty on an initial handshake."""
    return _vec(1, bytes(verified), 0, 0xFF, "renegotiated_connection")


def decode_renegotiation_info(data) -> bytes:
    r = _Reader(data, "renegotiation_info")
    verified = r.vec(1, 0, 0xFF, "renegotiated_connection")
    r.done()
    return verified


# ---- extensions whose data is empty (RFC 7366 encrypt_then_mac, RFC 7627 EMS, acknowledgements) ---
def decode_empty(ext_type: int, data) -> None:
    """Check an extension that must carry no data: encrypt_then_mac, extended_master_secret, the
    server's server_name / session_ticket acknowledgement."""
    if data:
        raise TLSDecodeError(
            f"{extension_name(ext_type)}: extension must be empty, has {len(data)} bytes")
