"""Variable items of the A-ASSOCIATE PDUs (PS3.8 9.3.2-9.3.3) and the field codecs they share.

The User Information item and its sub-items (PS3.8 Annex D, PS3.7 Annex D.3.3) live in ``user_info``,
which builds on the codecs here.

Every item is ``type(1) reserved(1) item-length(2)`` followed by its body. Each class here has
``encode() -> bytes`` (the whole item) and ``decode(data)`` (exactly one whole item). The PDU decoder
calls the private ``_parse(buf, start, end)`` on slices of the PDU instead, so that error messages
name offsets within the PDU being decoded.

Decoding is tolerant where PS3.8 says "shall not be tested" (reserved bytes, padding of UIDs, the
transfer syntax of a rejected presentation context) and strict about lengths: any item whose length
runs past its container, or a fixed-size item of the wrong size, raises ``PDUError``. Values are
validated on *encode* (``ValueError``): what we decoded from a peer may be kept and inspected even when
we would never send it.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import ClassVar, Iterator

from ..errors import (ABORT_INVALID_PDU_PARAMETER_VALUE, ABORT_UNEXPECTED_PDU_PARAMETER,
                      ABORT_UNRECOGNIZED_PDU_PARAMETER, PDUError)

DEFAULT_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # DICOM Application Context Name (PS3.7 A.2.1)

# Item types (PS3.8 Tables 9-11..9-21, Annex D; PS3.7 Annex D.3.3)
APPLICATION_CONTEXT_ITEM = 0x10
PRESENTATION_CONTEXT_ITEM_RQ = 0x20
PRESENTATION_CONTEXT_ITEM_AC = 0x21
ABSTRACT_SYNTAX_SUB_ITEM = 0x30
TRANSFER_SYNTAX_SUB_ITEM = 0x40
USER_INFORMATION_ITEM = 0x50
MAXIMUM_LENGTH_SUB_ITEM = 0x51
IMPLEMENTATION_CLASS_UID_SUB_ITEM = 0x52
ASYNCHRONOUS_OPERATIONS_WINDOW_SUB_ITEM = 0x53
SCP_SCU_ROLE_SELECTION_SUB_ITEM = 0x54
IMPLEMENTATION_VERSION_NAME_SUB_ITEM = 0x55
SOP_CLASS_EXTENDED_NEGOTIATION_SUB_ITEM = 0x56
SOP_CLASS_COMMON_EXTENDED_NEGOTIATION_SUB_ITEM = 0x57
USER_IDENTITY_SUB_ITEM_RQ = 0x58
USER_IDENTITY_SUB_ITEM_AC = 0x59

# Item types that exist somewhere in an A-ASSOCIATE PDU: meeting one in the wrong place is an
# "unexpected" parameter (abort reason 5); any other type is "unrecognized" (reason 4).
KNOWN_ITEM_TYPES = frozenset({0x10, 0x20, 0x21, 0x30, 0x40, 0x50, *range(0x51, 0x5A)})

# Presentation context AC Result/Reason (PS3.8 Table 9-18)
ACCEPTANCE = 0
USER_REJECTION = 1
NO_REASON = 2  # provider rejection
ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
TRANSFER_SYNTAXES_NOT_SUPPORTED = 4
RESULT_NAMES = {0: "acceptance", 1: "user-rejection", 2: "no-reason",
                3: "abstract-syntax-not-supported", 4: "transfer-syntaxes-not-supported"}

_HDR = struct.Struct(">BBH")  # item-type, reserved (sub-item-version for 0x57), item-length
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_UID_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*\Z")


def _fail(message: str, reason: int = ABORT_INVALID_PDU_PARAMETER_VALUE) -> PDUError:
    return PDUError(message, abort_reason=reason)


# ---- field codecs --------------------------------------------------------------------------------

def encode_uid(uid: str, what: str = "UID") -> bytes:
    """A UID as PS3.8 sends it: ASCII, no padding (PS3.8 Annex F: UIDs in PDUs are never padded).

    Leading zeros inside a component are tolerated so that UIDs decoded from a peer can be echoed back
    (an acceptor echoes role-selection and extended-negotiation UIDs); everything else of PS3.5 9.1 is
    enforced.
    """
    if not isinstance(uid, str) or not uid.isascii() or len(uid) > 64 or not _UID_RE.match(uid):
        raise ValueError(f"{what}: {uid!r} is not a UID (digits and dots, 1-64 characters)")
    return uid.encode("ascii")


def decode_uid(buf: memoryview, start: int, end: int, what: str) -> str:
    """The UID in ``buf[start:end]`` without its padding; PDUError naming ``what`` when it is not
    ASCII or longer than 64 characters."""
    raw = bytes(buf[start:end])
    # Peers pad UIDs to even length with one NUL (PS3.5 habit) or with spaces; neither is significant.
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    raw = raw.rstrip(b" ")
    if not raw.isascii():
        raise _fail(f"{what} at offset {start}: UID is not ASCII: {raw[:64]!r}")
    if len(raw) > 64:
        raise _fail(f"{what} at offset {start}: UID of {len(raw)} characters (max 64)")
    return raw.decode("ascii")


def _item(item_type: int, body: bytes, what: str, second: int = 0) -> bytes:
    if len(body) > 0xFFFF:
        raise ValueError(f"{what}: {len(body)} bytes do not fit a 2-byte item length")
    return _HDR.pack(item_type, second, len(body)) + body


def _u16_prefixed(value: bytes, what: str) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"{what}: {len(value)} bytes do not fit a 2-byte length field")
    return _U16.pack(len(value)) + value


def iter_items(buf: memoryview, start: int, end: int, where: str) -> Iterator[tuple[int, int, int, int]]:
    """Walk the items in ``buf[start:end]``: yield ``(type, byte2, body_start, body_end)``.

    Raises PDUError when an item header is cut short or an item-length runs past ``end``.
    """
    off = start
    while off < end:
        if end - off < 4:
            raise _fail(f"{where}: truncated item header at offset {off} ({end - off} of 4 bytes)")
        item_type, byte2, length = _HDR.unpack_from(buf, off)
        body = off + 4
        if body + length > end:
            raise _fail(f"{where}: item 0x{item_type:02X} at offset {off} has length {length} "
                        f"but only {end - body} bytes remain before offset {end}")
        yield item_type, byte2, body, body + length
        off = body + length


def _u16_field(buf: memoryview, off: int, end: int, what: str) -> tuple[int, int]:
    """Read a 2-byte length and check the value it announces fits before ``end``: (start, stop)."""
    if off + 2 > end:
        raise _fail(f"{what}: length field at offset {off} runs past the item end {end}")
    (n,) = _U16.unpack_from(buf, off)
    if off + 2 + n > end:
        raise _fail(f"{what}: length {n} at offset {off} runs past the item end {end}")
    return off + 2, off + 2 + n


def _tuple_field(obj, attr: str) -> None:
    """Frozen dataclasses take lists for convenience but keep tuples (hashable, immutable)."""
    value = getattr(obj, attr)
    if not isinstance(value, tuple):
        object.__setattr__(obj, attr, tuple(value))


class _Item:
    item_type: ClassVar[int]

    @classmethod
    def decode(cls, data: bytes | memoryview):
        """Decode exactly one whole item, header included."""
        buf = memoryview(data).cast("B")
        if len(buf) < 4:
            raise _fail(f"{cls.__name__}: truncated item header ({len(buf)} of 4 bytes)")
        item_type, byte2, length = _HDR.unpack_from(buf, 0)
        expected = getattr(cls, "item_type", item_type)  # UnknownSubItem takes any type
        if item_type != expected:
            raise _fail(f"{cls.__name__}: item type 0x{item_type:02X}, expected 0x{expected:02X}",
                        ABORT_UNEXPECTED_PDU_PARAMETER)
        if 4 + length != len(buf):
            raise _fail(f"{cls.__name__}: item length {length} but {len(buf) - 4} bytes given")
        return cls._parse(buf, 4, 4 + length, byte2)


# ---- A-ASSOCIATE items ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ApplicationContextItem(_Item):
    """Application Context Item (0x10, PS3.8 9.3.2.1): the DICOM application context name."""

    item_type: ClassVar[int] = APPLICATION_CONTEXT_ITEM
    application_context_name: str = DEFAULT_APPLICATION_CONTEXT

    def encode(self) -> bytes:
        return _item(self.item_type, encode_uid(self.application_context_name,
                                                "Application-context-name"), "Application Context Item")

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        name = decode_uid(buf, start, end, "Application Context Item")
        # Unlike the other UIDs (kept as decoded, checked on encode), this one is checked here.
        # PS3.8 9.3.2.1 (Table 9-12) requires a valid Application-context-name, structured as a
        # UID (Annex F, PS3.5 9.1): a value that is no UID at all (empty, "1.2.840.10008.3*1.1.1")
        # is an invalid PDU parameter value (reason 6, PS3.8 Table 9-26), refused like any
        # malformed field: the RQ is an invalid PDU (Evt19), answered with the state table's
        # A-ABORT (in Sta2 AA-1, service-user source), never offered to the caller. A
        # well-formed name other than DICOM's is a negotiation matter instead:
        # negotiation.check_request answers A-ASSOCIATE-RJ 1/1/2 (PS3.8 7.1.1.2).
        # Left to accept(), the AC echoed the name and its encode raised ValueError.
        if not _UID_RE.match(name):
            raise _fail(f"Application Context Item at offset {start}: {name[:64]!r} is not a "
                        f"UID (PS3.8 9.3.2.1)")
        return cls(name)


def _check_context_id(context_id: int, what: str) -> None:
    if not isinstance(context_id, int) or not (1 <= context_id <= 255 and context_id % 2 == 1):
        raise ValueError(f"{what}: Presentation-context-ID {context_id!r} is not an odd number 1-255")


def _parse_context_id(buf, start, end, what) -> int:
    if end - start < 4:
        raise _fail(f"{what} at offset {start}: {end - start} bytes, the fixed fields need 4")
    context_id = buf[start]
    # PS3.8 9.3.2.2: odd integers 1-255. An even ID can never match a proposal, so it is refused here
    # rather than carried up to the negotiation.
    if context_id % 2 == 0:
        raise _fail(f"{what} at offset {start}: Presentation-context-ID {context_id} is not odd")
    return context_id


@dataclass(frozen=True)
class PresentationContextRQ(_Item):
    """Presentation Context Item 0x20: one abstract syntax, one or more transfer syntaxes."""

    item_type: ClassVar[int] = PRESENTATION_CONTEXT_ITEM_RQ
    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]

    def __post_init__(self):
        _tuple_field(self, "transfer_syntaxes")

    def encode(self) -> bytes:
        _check_context_id(self.context_id, "Presentation Context Item")
        if not self.transfer_syntaxes:
            raise ValueError("Presentation Context Item: at least one transfer syntax is required")
        parts = [bytes((self.context_id, 0, 0, 0)),
                 _item(ABSTRACT_SYNTAX_SUB_ITEM, encode_uid(self.abstract_syntax, "Abstract-syntax-name"),
                       "Abstract Syntax Sub-Item")]
        for ts in self.transfer_syntaxes:
            parts.append(_item(TRANSFER_SYNTAX_SUB_ITEM, encode_uid(ts, "Transfer-syntax-name"),
                               "Transfer Syntax Sub-Item"))
        return _item(self.item_type, b"".join(parts), "Presentation Context Item")

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        what = "Presentation Context Item (RQ)"
        context_id = _parse_context_id(buf, start, end, what)
        abstract, transfers = None, []
        for t, _, s, e in iter_items(buf, start + 4, end, what):
            if t == ABSTRACT_SYNTAX_SUB_ITEM:
                if abstract is not None:
                    raise _fail(f"{what} {context_id}: second Abstract Syntax Sub-Item at offset {s - 4}",
                                ABORT_UNEXPECTED_PDU_PARAMETER)
                abstract = decode_uid(buf, s, e, "Abstract Syntax Sub-Item")
            elif t == TRANSFER_SYNTAX_SUB_ITEM:
                transfers.append(decode_uid(buf, s, e, "Transfer Syntax Sub-Item"))
            else:
                raise _sub_item_error(t, s - 4, what)
        if abstract is None:
            raise _fail(f"{what} {context_id} at offset {start - 4}: no Abstract Syntax Sub-Item")
        if not transfers:
            raise _fail(f"{what} {context_id} at offset {start - 4}: no Transfer Syntax Sub-Item")
        return cls(context_id, abstract, tuple(transfers))


def _sub_item_error(item_type: int, offset: int, where: str) -> PDUError:
    if item_type in KNOWN_ITEM_TYPES:
        return _fail(f"{where}: unexpected item 0x{item_type:02X} at offset {offset}",
                     ABORT_UNEXPECTED_PDU_PARAMETER)
    return _fail(f"{where}: unrecognized item 0x{item_type:02X} at offset {offset}",
                 ABORT_UNRECOGNIZED_PDU_PARAMETER)


@dataclass(frozen=True)
class PresentationContextAC(_Item):
    """Presentation Context Item 0x21: the acceptor's answer for one proposed context.

    PS3.8 Table 9-18 says the item *contains* one Transfer Syntax Sub-Item whatever the result, and
    that for a rejection its value "shall not be tested". So: decode accepts a rejected context with
    no sub-item or with any content (``transfer_syntax`` is then whatever decoded, or None); encode
    always writes exactly one sub-item, empty when ``transfer_syntax`` is None, because some peers
    (GDCM) read the sub-item unconditionally.
    """

    item_type: ClassVar[int] = PRESENTATION_CONTEXT_ITEM_AC
    context_id: int
    result: int = ACCEPTANCE
    transfer_syntax: str | None = None

    @property
    def accepted(self) -> bool:
        return self.result == ACCEPTANCE

    def encode(self) -> bytes:
        _check_context_id(self.context_id, "Presentation Context Item (AC)")
        if self.result not in RESULT_NAMES:
            raise ValueError(f"Presentation Context Item (AC): Result/Reason {self.result!r} is not 0-4")
        if self.result == ACCEPTANCE and self.transfer_syntax is None:
            raise ValueError("Presentation Context Item (AC): an accepted context needs a transfer syntax")
        ts = b"" if self.transfer_syntax is None else encode_uid(self.transfer_syntax,
                                                                 "Transfer-syntax-name")
        body = bytes((self.context_id, 0, self.result, 0)) + _item(TRANSFER_SYNTAX_SUB_ITEM, ts,
                                                                   "Transfer Syntax Sub-Item")
        return _item(self.item_type, body, "Presentation Context Item (AC)")

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        what = "Presentation Context Item (AC)"
        context_id = _parse_context_id(buf, start, end, what)
        result = buf[start + 2]
        if result not in RESULT_NAMES:
            raise _fail(f"{what} {context_id} at offset {start - 4}: Result/Reason {result} is not 0-4")
        found: list[tuple[int, int]] = []
        for t, _, s, e in iter_items(buf, start + 4, end, what):
            if t != TRANSFER_SYNTAX_SUB_ITEM:
                raise _sub_item_error(t, s - 4, what)
            found.append((s, e))
        if result != ACCEPTANCE:
            ts = None
            if len(found) == 1:
                try:  # not significant: keep it if it reads as a UID, never fail on it
                    ts = decode_uid(buf, found[0][0], found[0][1], "Transfer Syntax Sub-Item") or None
                except PDUError:
                    ts = None
            elif len(found) > 1:
                raise _fail(f"{what} {context_id}: {len(found)} Transfer Syntax Sub-Items (max 1)",
                            ABORT_UNEXPECTED_PDU_PARAMETER)
            return cls(context_id, result, ts)
        if len(found) != 1:
            raise _fail(f"{what} {context_id} at offset {start - 4}: accepted with {len(found)} "
                        f"Transfer Syntax Sub-Items (exactly 1 required)",
                        ABORT_UNEXPECTED_PDU_PARAMETER if found else ABORT_INVALID_PDU_PARAMETER_VALUE)
        return cls(context_id, result, decode_uid(buf, found[0][0], found[0][1],
                                                  "Transfer Syntax Sub-Item"))


__all__ = [
    "ABSTRACT_SYNTAX_NOT_SUPPORTED", "ABSTRACT_SYNTAX_SUB_ITEM", "ACCEPTANCE",
    "APPLICATION_CONTEXT_ITEM", "ASYNCHRONOUS_OPERATIONS_WINDOW_SUB_ITEM", "ApplicationContextItem",
    "DEFAULT_APPLICATION_CONTEXT", "IMPLEMENTATION_CLASS_UID_SUB_ITEM",
    "IMPLEMENTATION_VERSION_NAME_SUB_ITEM", "KNOWN_ITEM_TYPES", "MAXIMUM_LENGTH_SUB_ITEM",
    "NO_REASON", "PRESENTATION_CONTEXT_ITEM_AC", "PRESENTATION_CONTEXT_ITEM_RQ",
    "PresentationContextAC", "PresentationContextRQ", "RESULT_NAMES",
    "SCP_SCU_ROLE_SELECTION_SUB_ITEM", "SOP_CLASS_COMMON_EXTENDED_NEGOTIATION_SUB_ITEM",
    "SOP_CLASS_EXTENDED_NEGOTIATION_SUB_ITEM", "TRANSFER_SYNTAXES_NOT_SUPPORTED",
    "TRANSFER_SYNTAX_SUB_ITEM", "USER_IDENTITY_SUB_ITEM_AC", "USER_IDENTITY_SUB_ITEM_RQ",
    "USER_INFORMATION_ITEM", "USER_REJECTION", "decode_uid", "encode_uid", "iter_items",
]
