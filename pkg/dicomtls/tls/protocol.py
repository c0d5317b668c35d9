"""TLS protocol numbers, each defined once: record content types, alert levels and descriptions,
handshake message types and the hello extension types the engines name, and the plaintext record
builder for the alerts a connection sends before any record protection exists.

Values and names are the IANA "Transport Layer Security (TLS) Parameters" registries; a member is
the registry name in capitals (``AlertDescription.CLOSE_NOTIFY`` is ``close_notify``), so
``member.name.lower()`` is the name as RFC 5246/8446 and the registry spell it. Names the registry
marks ``_RESERVED`` (TLS 1.3 retired them) keep their RFC 5246 spelling: TLS 1.0-1.2 peers still
send them.

No imports from dicomtls: ``errors.py``, the root module, takes its alert names from here.
"""

from __future__ import annotations

from enum import IntEnum

MAX_PLAINTEXT_LENGTH = 1 << 14    # TLSPlaintext.length limit, RFC 5246 6.2.1 / RFC 8446 5.1


class ContentType(IntEnum):
    """TLS ContentType (record layer), RFC 5246 6.2.1, RFC 6520, RFC 9146, RFC 9147."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24
    TLS12_CID = 25
    ACK = 26


# The whole ChangeCipherSpec message: one byte, type change_cipher_spec(1) (RFC 5246 7.1).
CHANGE_CIPHER_SPEC_MESSAGE = b"\x01"

# The content types a TLS 1.0-1.2 connection without extensions may carry (RFC 5246 6.2.1).
TLS12_CONTENT_TYPES = frozenset({ContentType.CHANGE_CIPHER_SPEC, ContentType.ALERT,
                                 ContentType.HANDSHAKE, ContentType.APPLICATION_DATA})


class AlertLevel(IntEnum):
    """AlertLevel, RFC 5246 7.2 (TLS 1.3 keeps the field; every alert but close_notify and
    user_canceled is fatal there)."""

    WARNING = 1
    FATAL = 2


class AlertDescription(IntEnum):
    """Every TLS alert in the IANA "TLS Alerts" registry (RFC 5246 7.2, RFC 8446 6, and the
    RFCs the registry cites per value)."""

    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    DECRYPTION_FAILED = 21              # reserved since TLS 1.1
    RECORD_OVERFLOW = 22
    DECOMPRESSION_FAILURE = 30          # reserved since TLS 1.3
    HANDSHAKE_FAILURE = 40
    NO_CERTIFICATE = 41                 # SSL 3.0 only
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    TOO_MANY_CIDS_REQUESTED = 52        # RFC 9147
    EXPORT_RESTRICTION = 60             # reserved since TLS 1.1
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    INAPPROPRIATE_FALLBACK = 86         # RFC 7507
    USER_CANCELED = 90
    NO_RENEGOTIATION = 100              # reserved since TLS 1.3
    MISSING_EXTENSION = 109
    UNSUPPORTED_EXTENSION = 110
    CERTIFICATE_UNOBTAINABLE = 111      # RFC 6066; reserved since TLS 1.3
    UNRECOGNIZED_NAME = 112
    BAD_CERTIFICATE_STATUS_RESPONSE = 113
    BAD_CERTIFICATE_HASH_VALUE = 114    # RFC 6066; reserved since TLS 1.3
    UNKNOWN_PSK_IDENTITY = 115
    CERTIFICATE_REQUIRED = 116
    GENERAL_ERROR = 117                 # RFC 8446bis
    NO_APPLICATION_PROTOCOL = 120       # RFC 7301
    ECH_REQUIRED = 121                  # TLS Encrypted Client Hello


class HandshakeType(IntEnum):
    """HandshakeType, IANA "TLS HandshakeType" (RFC 5246 7.4, RFC 8446 4, and the RFCs the
    registry cites). The own engine runs the RFC 5246 ones; the rest are here so a message out of
    place can be named."""

    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3            # DTLS
    NEW_SESSION_TICKET = 4
    END_OF_EARLY_DATA = 5
    ENCRYPTED_EXTENSIONS = 8
    REQUEST_CONNECTION_ID = 9
    NEW_CONNECTION_ID = 10
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    CLIENT_CERTIFICATE_REQUEST = 17
    FINISHED = 20
    CERTIFICATE_URL = 21
    CERTIFICATE_STATUS = 22
    SUPPLEMENTAL_DATA = 23
    KEY_UPDATE = 24
    COMPRESSED_CERTIFICATE = 25
    EKT_KEY = 26
    MESSAGE_HASH = 254


class ExtensionType(IntEnum):
    """The hello extensions dicomtls reads or writes, IANA "TLS ExtensionType Values"."""

    SERVER_NAME = 0                     # RFC 6066 3
    SUPPORTED_GROUPS = 10               # RFC 8422 5.1 ("elliptic_curves" in RFC 4492)
    EC_POINT_FORMATS = 11               # RFC 8422 5.1
    SIGNATURE_ALGORITHMS = 13           # RFC 5246 7.4.1.4.1
    ENCRYPT_THEN_MAC = 22               # RFC 7366
    EXTENDED_MASTER_SECRET = 23         # RFC 7627
    SESSION_TICKET = 35                 # RFC 5077
    SUPPORTED_VERSIONS = 43             # TLS 1.3 only: read to spot a 1.3 client or server
    RENEGOTIATION_INFO = 0xFF01         # RFC 5746


def record_header(content_type: int, version: int, length: int) -> bytes:
    """The 5-byte TLSPlaintext/TLSCiphertext header (RFC 5246 6.2.1)."""
    return bytes((content_type, version >> 8, version & 0xFF, length >> 8, length & 0xFF))


def plaintext_records(content_type: int, version: int, payload) -> bytes:
    """``payload`` as unprotected records of at most 2^14 bytes each; one empty record for an
    empty payload (the caller decides whether that may be sent)."""
    out = bytearray()
    for i in range(0, max(len(payload), 1), MAX_PLAINTEXT_LENGTH):
        part = payload[i:i + MAX_PLAINTEXT_LENGTH]
        out += record_header(content_type, version, len(part)) + part
    return bytes(out)


def alert_message(level: int, description: int) -> bytes:
    """An Alert message (RFC 5246 7.2): level, description."""
    return bytes((level, description))


def alert_record(version: int, level: int, description: int) -> bytes:
    """An unprotected alert record: what a peer sends before ChangeCipherSpec, or when no engine
    runs yet (the engine-selecting server refusing a ClientHello it cannot read)."""
    return plaintext_records(ContentType.ALERT, version, alert_message(level, description))
