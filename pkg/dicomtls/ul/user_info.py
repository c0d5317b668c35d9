"""The User Information item (0x50) and its sub-items (PS3.8 Annex D, PS3.7 Annex D.3.3).

Same conventions as ``items``: ``encode() -> bytes`` writes the whole item, ``decode(data)`` reads
exactly one whole item, ``_parse(buf, start, end, byte2)`` is what the PDU decoder calls.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Union

from ..errors import ABORT_UNEXPECTED_PDU_PARAMETER
from .items import (ASYNCHRONOUS_OPERATIONS_WINDOW_SUB_ITEM, IMPLEMENTATION_CLASS_UID_SUB_ITEM,
                    IMPLEMENTATION_VERSION_NAME_SUB_ITEM, MAXIMUM_LENGTH_SUB_ITEM,
                    SCP_SCU_ROLE_SELECTION_SUB_ITEM, SOP_CLASS_COMMON_EXTENDED_NEGOTIATION_SUB_ITEM,
                    SOP_CLASS_EXTENDED_NEGOTIATION_SUB_ITEM, USER_IDENTITY_SUB_ITEM_AC,
                    USER_IDENTITY_SUB_ITEM_RQ, USER_INFORMATION_ITEM, _U32, _fail, _item, _Item,
                    _tuple_field, _u16_field, _u16_prefixed, decode_uid, encode_uid, iter_items)

# User-Identity-Type (PS3.7 Table D.3-14)
USERNAME = 1
USERNAME_AND_PASSCODE = 2
KERBEROS = 3
SAML = 4
JWT = 5


# Sub-items: ``name`` is the item's name in the standard, used in every message about it.

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
    """Implementation Class UID Sub-Item (0x52, PS3.7 D.3.3.2): who built the peer's software."""

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


__all__ = [
    "AsynchronousOperationsWindow", "ImplementationClassUID", "ImplementationVersionName",
    "JWT", "KERBEROS", "MaximumLength", "SAML", "SCPSCURoleSelection",
    "SOPClassCommonExtendedNegotiation", "SOPClassExtendedNegotiation", "SUB_ITEM_CLASSES",
    "SubItem", "USERNAME", "USERNAME_AND_PASSCODE", "UnknownSubItem", "UserIdentityAC",
    "UserIdentityRQ", "UserInformation",
]
