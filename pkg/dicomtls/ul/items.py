"""Variable items of the A-ASSOCIATE PDUs (PS3.8 9.3.2-9.3.3) and the user information sub-items
(PS3.8 Annex D, PS3.7 Annex D.3.3).

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
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Union

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

# User-Identity-Type (PS3.7 Table D.3-14)
USERNAME = 1
USERNAME_AND_PASSCODE = 2
KERBEROS = 3
SAML = 4
JWT = 5

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
    item_type: ClassVar[int] = APPLICATION_CONTEXT_ITEM
    application_context_name: str = DEFAULT_APPLICATION_CONTEXT

    def encode(self) -> bytes:
        return _item(self.item_type, encode_uid(self.application_context_name,
                                                "Application-context-name"), "Application Context Item")

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        return cls(decode_uid(buf, start, end, "Application Context Item"))


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


# ---- User Information sub-items (PS3.8 Annex D, PS3.7 Annex D.3.3) -------------------------------
# ``name`` is the item's name in the standard, used in every message about it.

def _exact(cls, start: int, end: int, size: int) -> None:
    if end - start != size:
        raise _fail(f"{cls.name} at offset {start - 4}: item length {end - start}, must be {size}")


def _flag(cls, buf, off: int, field_name: str) -> bool:
    if buf[off] > 1:
        raise _fail(f"{cls.name}: {field_name} {buf[off]} at offset {off} is not 0 or 1")
    return bool(buf[off])


def _wrap(item, body: bytes, second: int = 0) -> bytes:
    return _item(item.item_type, body, item.name, second)


@dataclass(frozen=True)
class MaximumLength(_Item):
    """0x51: the largest P-DATA-TF PDU-length the sender will receive; 0 means no limit."""

    item_type: ClassVar[int] = MAXIMUM_LENGTH_SUB_ITEM
    name: ClassVar[str] = "Maximum Length Sub-Item"
    maximum_length: int

    def encode(self) -> bytes:
        if not 0 <= self.maximum_length <= 0xFFFFFFFF:
            raise ValueError(f"Maximum-length-received {self.maximum_length!r} is not a uint32")
        return _wrap(self, _U32.pack(self.maximum_length))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        _exact(cls, start, end, 4)
        return cls(_U32.unpack_from(buf, start)[0])


@dataclass(frozen=True)
class ImplementationClassUID(_Item):
    item_type: ClassVar[int] = IMPLEMENTATION_CLASS_UID_SUB_ITEM
    name: ClassVar[str] = "Implementation Class UID Sub-Item"
    implementation_class_uid: str

    def encode(self) -> bytes:
        return _wrap(self, encode_uid(self.implementation_class_uid, "Implementation-class-uid"))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        return cls(decode_uid(buf, start, end, cls.name))


@dataclass(frozen=True)
class AsynchronousOperationsWindow(_Item):
    """0x53: outstanding operations invoked / performed; 0 means unlimited (PS3.7 D.3.3.3)."""

    item_type: ClassVar[int] = ASYNCHRONOUS_OPERATIONS_WINDOW_SUB_ITEM
    name: ClassVar[str] = "Asynchronous Operations Window Sub-Item"
    maximum_number_operations_invoked: int = 1
    maximum_number_operations_performed: int = 1

    def encode(self) -> bytes:
        values = (self.maximum_number_operations_invoked, self.maximum_number_operations_performed)
        if not all(0 <= v <= 0xFFFF for v in values):
            raise ValueError(f"{self.name}: {values} are not uint16")
        return _wrap(self, struct.pack(">HH", *values))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        _exact(cls, start, end, 4)
        return cls(*struct.unpack_from(">HH", buf, start))


@dataclass(frozen=True)
class SCPSCURoleSelection(_Item):
    """0x54: in an RQ, roles proposed for a SOP class; in an AC, roles accepted (True) or not."""

    item_type: ClassVar[int] = SCP_SCU_ROLE_SELECTION_SUB_ITEM
    name: ClassVar[str] = "SCP/SCU Role Selection Sub-Item"
    sop_class_uid: str
    scu_role: bool
    scp_role: bool

    def encode(self) -> bytes:
        uid = _u16_prefixed(encode_uid(self.sop_class_uid, "SOP-class-uid"), self.name)
        return _wrap(self, uid + bytes((bool(self.scu_role), bool(self.scp_role))))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        s, e = _u16_field(buf, start, end, cls.name)
        if end - e != 2:
            raise _fail(f"{cls.name} at offset {start - 4}: {end - e} bytes after the UID, must be 2")
        return cls(decode_uid(buf, s, e, cls.name), _flag(cls, buf, e, "SCU-role"),
                   _flag(cls, buf, e + 1, "SCP-role"))


@dataclass(frozen=True)
class ImplementationVersionName(_Item):
    """0x55: 1 to 16 characters of the ISO 646 basic G0 set."""

    item_type: ClassVar[int] = IMPLEMENTATION_VERSION_NAME_SUB_ITEM
    name: ClassVar[str] = "Implementation Version Name Sub-Item"
    implementation_version_name: str

    def encode(self) -> bytes:
        v = self.implementation_version_name
        if not (isinstance(v, str) and 1 <= len(v) <= 16 and v.isascii() and v.isprintable()
                and "\\" not in v):
            raise ValueError(f"Implementation-version-name {v!r}: 1-16 printable ASCII characters")
        return _wrap(self, v.encode("ascii"))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        raw = bytes(buf[start:end])
        if not 1 <= len(raw) <= 16 or not raw.isascii():
            raise _fail(f"{cls.name} at offset {start - 4}: {raw!r} is not 1-16 ASCII characters")
        return cls(raw.decode("ascii"))


@dataclass(frozen=True)
class SOPClassExtendedNegotiation(_Item):
    """0x56: service-class specific application information for one SOP class (RQ and AC)."""

    item_type: ClassVar[int] = SOP_CLASS_EXTENDED_NEGOTIATION_SUB_ITEM
    name: ClassVar[str] = "SOP Class Extended Negotiation Sub-Item"
    sop_class_uid: str
    service_class_application_information: bytes = b""

    def encode(self) -> bytes:
        uid = _u16_prefixed(encode_uid(self.sop_class_uid, "SOP-class-uid"), self.name)
        return _wrap(self, uid + bytes(self.service_class_application_information))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        s, e = _u16_field(buf, start, end, cls.name)
        return cls(decode_uid(buf, s, e, cls.name), bytes(buf[e:end]))


@dataclass(frozen=True)
class SOPClassCommonExtendedNegotiation(_Item):
    """0x57 (A-ASSOCIATE-RQ only; PS3.7 Tables D.3-12, D.3-13).

    Its second header byte is the Sub-item-version (0), not a reserved byte; it is kept as decoded.
    Bytes after the Related-general-sop-class-identification field are a reserved extension point
    and are ignored on decode (never written).
    """

    item_type: ClassVar[int] = SOP_CLASS_COMMON_EXTENDED_NEGOTIATION_SUB_ITEM
    name: ClassVar[str] = "SOP Class Common Extended Negotiation Sub-Item"
    sop_class_uid: str
    service_class_uid: str
    related_general_sop_class_uids: tuple[str, ...] = ()
    sub_item_version: int = 0

    def __post_init__(self):
        _tuple_field(self, "related_general_sop_class_uids")

    def encode(self) -> bytes:
        if not 0 <= self.sub_item_version <= 255:
            raise ValueError(f"{self.name}: Sub-item-version {self.sub_item_version!r} is not a byte")
        uids = [self.sop_class_uid, self.service_class_uid]
        related = b"".join(_u16_prefixed(encode_uid(u, "Related-general-sop-class-uid"), self.name)
                           for u in self.related_general_sop_class_uids)
        body = b"".join(_u16_prefixed(encode_uid(u, self.name), self.name) for u in uids)
        return _wrap(self, body + _u16_prefixed(related, self.name), self.sub_item_version)

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        s1, e1 = _u16_field(buf, start, end, cls.name)
        s2, e2 = _u16_field(buf, e1, end, cls.name)
        off, e3 = _u16_field(buf, e2, end, cls.name)
        related = []
        while off < e3:
            s, off = _u16_field(buf, off, e3, cls.name + " (Related-general-sop-class-identification)")
            related.append(decode_uid(buf, s, off, cls.name))
        return cls(decode_uid(buf, s1, e1, cls.name), decode_uid(buf, s2, e2, cls.name),
                   tuple(related), byte2)


@dataclass(frozen=True)
class UserIdentityRQ(_Item):
    """0x58: the requestor's identity (PS3.7 D.3.3.7.1). Fields are opaque bytes (UTF-8 for a
    username, the token for Kerberos/SAML/JWT); the secondary field is the passcode of type 2.
    Decode keeps any User-Identity-Type: refusing an unknown one is the acceptor's decision."""

    item_type: ClassVar[int] = USER_IDENTITY_SUB_ITEM_RQ
    name: ClassVar[str] = "User Identity Sub-Item (RQ)"
    user_identity_type: int
    primary_field: bytes
    secondary_field: bytes = b""
    positive_response_requested: bool = False

    def encode(self) -> bytes:
        if self.user_identity_type not in (USERNAME, USERNAME_AND_PASSCODE, KERBEROS, SAML, JWT):
            raise ValueError(f"{self.name}: User-Identity-Type {self.user_identity_type!r} is not 1-5")
        if self.secondary_field and self.user_identity_type != USERNAME_AND_PASSCODE:
            raise ValueError(f"{self.name}: only type 2 (username and passcode) has a secondary field")
        return _wrap(self, bytes((self.user_identity_type, bool(self.positive_response_requested)))
                     + _u16_prefixed(bytes(self.primary_field), self.name)
                     + _u16_prefixed(bytes(self.secondary_field), self.name))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        if end - start < 2:
            raise _fail(f"{cls.name} at offset {start - 4}: {end - start} bytes, fixed fields need 2")
        positive = _flag(cls, buf, start + 1, "Positive-response-requested")
        s1, e1 = _u16_field(buf, start + 2, end, cls.name)
        s2, e2 = _u16_field(buf, e1, end, cls.name)
        if e2 != end:
            raise _fail(f"{cls.name} at offset {start - 4}: {end - e2} bytes after the secondary field")
        return cls(buf[start], bytes(buf[s1:e1]), bytes(buf[s2:e2]), positive)


@dataclass(frozen=True)
class UserIdentityAC(_Item):
    """0x59: the acceptor's Server-response (PS3.7 D.3.3.7.2); empty for types 1 and 2."""

    item_type: ClassVar[int] = USER_IDENTITY_SUB_ITEM_AC
    name: ClassVar[str] = "User Identity Sub-Item (AC)"
    server_response: bytes = b""

    def encode(self) -> bytes:
        return _wrap(self, _u16_prefixed(bytes(self.server_response), self.name))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        s, e = _u16_field(buf, start, end, cls.name)
        if e != end:
            raise _fail(f"{cls.name} at offset {start - 4}: {end - e} bytes after the server response")
        return cls(bytes(buf[s:e]))


@dataclass(frozen=True)
class UnknownSubItem(_Item):
    """A user information sub-item we do not know; kept so it round-trips (PS3.8 D.2 note 2: an
    acceptor shall ignore unrecognized sub-items, not reject the association)."""

    name: ClassVar[str] = "unrecognized sub-item"
    item_type: int
    data: bytes = b""

    def encode(self) -> bytes:
        if not 0 <= self.item_type <= 255:
            raise ValueError(f"sub-item type {self.item_type!r} is not a byte")
        return _wrap(self, bytes(self.data))

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        return cls(buf[start - 4], bytes(buf[start:end]))  # the type byte heads the item


SubItem = Union[MaximumLength, ImplementationClassUID, AsynchronousOperationsWindow,
                SCPSCURoleSelection, ImplementationVersionName, SOPClassExtendedNegotiation,
                SOPClassCommonExtendedNegotiation, UserIdentityRQ, UserIdentityAC, UnknownSubItem]

SUB_ITEM_CLASSES = {cls.item_type: cls for cls in (
    MaximumLength, ImplementationClassUID, AsynchronousOperationsWindow, SCPSCURoleSelection,
    ImplementationVersionName, SOPClassExtendedNegotiation, SOPClassCommonExtendedNegotiation,
    UserIdentityRQ, UserIdentityAC)}

# Sub-items PS3.7 allows at most once per user information item.
_SINGLE = frozenset({MAXIMUM_LENGTH_SUB_ITEM, IMPLEMENTATION_CLASS_UID_SUB_ITEM,
                     ASYNCHRONOUS_OPERATIONS_WINDOW_SUB_ITEM, IMPLEMENTATION_VERSION_NAME_SUB_ITEM,
                     USER_IDENTITY_SUB_ITEM_RQ, USER_IDENTITY_SUB_ITEM_AC})


@dataclass(frozen=True)
class UserInformation(_Item):
    """User Information Item 0x50: an ordered tuple of sub-items, kept in the order received so that
    decode/encode round-trips byte for byte. Lookups go through the properties below."""

    item_type: ClassVar[int] = USER_INFORMATION_ITEM
    sub_items: tuple[SubItem, ...] = field(default_factory=tuple)

    def __post_init__(self):
        _tuple_field(self, "sub_items")

    def encode(self) -> bytes:
        seen = set()
        for item in self.sub_items:
            if item.item_type in _SINGLE and item.item_type in seen:
                raise ValueError(f"User Information: sub-item 0x{item.item_type:02X} appears twice")
            seen.add(item.item_type)
        return _item(self.item_type, b"".join(i.encode() for i in self.sub_items),
                     "User Information Item")

    @classmethod
    def _parse(cls, buf, start, end, byte2=0):
        what = "User Information Item"
        items: list = []
        seen: set[int] = set()
        for t, b2, s, e in iter_items(buf, start, end, what):
            sub_cls = SUB_ITEM_CLASSES.get(t)
            if sub_cls is None:
                items.append(UnknownSubItem(t, bytes(buf[s:e])))
                continue
            if t in _SINGLE and t in seen:
                raise _fail(f"{what}: second sub-item 0x{t:02X} at offset {s - 4}",
                            ABORT_UNEXPECTED_PDU_PARAMETER)
            seen.add(t)
            items.append(sub_cls._parse(buf, s, e, b2))
        return cls(tuple(items))

    def _first(self, cls):
        return next((i for i in self.sub_items if type(i) is cls), None)

    def _all(self, cls) -> tuple:
        return tuple(i for i in self.sub_items if type(i) is cls)

    def _value(cls, attr=None):  # noqa: N805 - builds a property at class creation
        def get(self):
            item = self._first(cls)
            return item if item is None or attr is None else getattr(item, attr)
        return property(get, doc=f"The {cls.__name__} sub-item{' ' + attr if attr else ''}, or None.")

    def _every(cls):  # noqa: N805
        return property(lambda self: self._all(cls), doc=f"All {cls.__name__} sub-items, in order.")

    maximum_length = _value(MaximumLength, "maximum_length")
    implementation_class_uid = _value(ImplementationClassUID, "implementation_class_uid")
    implementation_version_name = _value(ImplementationVersionName, "implementation_version_name")
    asynchronous_operations_window = _value(AsynchronousOperationsWindow)
    user_identity = _value(UserIdentityRQ)
    user_identity_response = _value(UserIdentityAC)
    role_selections = _every(SCPSCURoleSelection)
    extended_negotiations = _every(SOPClassExtendedNegotiation)
    common_extended_negotiations = _every(SOPClassCommonExtendedNegotiation)
    unknown_sub_items = _every(UnknownSubItem)
    del _value, _every
