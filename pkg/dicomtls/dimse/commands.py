"""DIMSE Command Set (group 0000) encoding and decoding, PS3.7 section 6.3 and Annex E.

A command set is always Implicit VR Little Endian (PS3.7 6.3.1), whatever transfer syntax the
presentation context negotiated for the data set. It is a dozen small elements, sent once per
message, so it is hand-written here rather than routed through pydicom's general writer: one
``struct`` call per element and a ``join``. The bytes are identical to what pydicom (and so
pynetdicom) writes for the same elements, which the tests check for every message type.

Values are stored already encoded when they are set, so a bad value fails where it is assigned
(a local error) and ``encode()`` is only a sort and a join.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from enum import IntEnum
from typing import Any, NamedTuple, Union

from dicomtls.errors import DIMSEError, LocalProtocolError

__all__ = [
    "CommandTag", "CommandElement", "COMMAND_ELEMENTS", "TAG_BY_KEYWORD",
    "NO_DATASET", "DATASET_PRESENT", "CommandSet", "CommandValue",
]


class CommandTag(IntEnum):
    """Command elements in current use (PS3.7 Annex E, Table E.1-1); names are the keywords."""

    CommandGroupLength = 0x00000000
    AffectedSOPClassUID = 0x00000002
    RequestedSOPClassUID = 0x00000003
    CommandField = 0x00000100
    MessageID = 0x00000110
    MessageIDBeingRespondedTo = 0x00000120
    MoveDestination = 0x00000600
    Priority = 0x00000700
    CommandDataSetType = 0x00000800
    Status = 0x00000900
    OffendingElement = 0x00000901
    ErrorComment = 0x00000902
    ErrorID = 0x00000903
    AffectedSOPInstanceUID = 0x00001000
    RequestedSOPInstanceUID = 0x00001001
    EventTypeID = 0x00001002
    AttributeIdentifierList = 0x00001005
    ActionTypeID = 0x00001008
    NumberOfRemainingSuboperations = 0x00001020
    NumberOfCompletedSuboperations = 0x00001021
    NumberOfFailedSuboperations = 0x00001022
    NumberOfWarningSuboperations = 0x00001023
    MoveOriginatorApplicationEntityTitle = 0x00001030
    MoveOriginatorMessageID = 0x00001031


class CommandElement(NamedTuple):
    """One command set element of PS3.7 Annex E: keyword, VR and VM."""

    keyword: str
    vr: str
    vm: str
    name: str


_NAMES = {
    0x0000: ("UL", "1", "Command Group Length"),
    0x0002: ("UI", "1", "Affected SOP Class UID"),
    0x0003: ("UI", "1", "Requested SOP Class UID"),
    0x0100: ("US", "1", "Command Field"),
    0x0110: ("US", "1", "Message ID"),
    0x0120: ("US", "1", "Message ID Being Responded To"),
    0x0600: ("AE", "1", "Move Destination"),
    0x0700: ("US", "1", "Priority"),
    0x0800: ("US", "1", "Command Data Set Type"),
    0x0900: ("US", "1", "Status"),
    0x0901: ("AT", "1-n", "Offending Element"),
    0x0902: ("LO", "1", "Error Comment"),
    0x0903: ("US", "1", "Error ID"),
    0x1000: ("UI", "1", "Affected SOP Instance UID"),
    0x1001: ("UI", "1", "Requested SOP Instance UID"),
    0x1002: ("US", "1", "Event Type ID"),
    0x1005: ("AT", "1-n", "Attribute Identifier List"),
    0x1008: ("US", "1", "Action Type ID"),
    0x1020: ("US", "1", "Number of Remaining Sub-operations"),
    0x1021: ("US", "1", "Number of Completed Sub-operations"),
    0x1022: ("US", "1", "Number of Failed Sub-operations"),
    0x1023: ("US", "1", "Number of Warning Sub-operations"),
    0x1030: ("AE", "1", "Move Originator Application Entity Title"),
    0x1031: ("US", "1", "Move Originator Message ID"),
}

#: tag -> (keyword, VR, VM, name). Retired elements (Annex E.2) are deliberately absent: a peer
#: that sends one gets it kept as raw bytes, like any other unknown group-0000 element.
COMMAND_ELEMENTS: dict[int, CommandElement] = {
    t.value: CommandElement(t.name, *_NAMES[t.value & 0xFFFF]) for t in CommandTag
}
TAG_BY_KEYWORD: dict[str, int] = {e.keyword: tag for tag, e in COMMAND_ELEMENTS.items()}

#: CommandDataSetType values: 0x0101 means "no data set"; any other value means one follows.
#: 0x0001 is what we send for "present" (pynetdicom does the same, so bytes compare equal).
NO_DATASET = 0x0101
DATASET_PRESENT = 0x0001

# A value as the caller sees it: int (US/UL), str (UI/AE/LO), tuple of int tags (AT),
# bytes (unknown element), None (present with zero length).
CommandValue = Union[int, str, tuple, bytes, None]

_HEADER = struct.Struct("<HHI")   # group, element, value length (Implicit VR LE)
_US = struct.Struct("<H")
_UL = struct.Struct("<I")
_UNDEFINED_LENGTH = 0xFFFFFFFF
_AE_MAX = 16
_UI_MAX = 64
_LO_MAX = 64


def _keyword(tag: int) -> str:
    e = COMMAND_ELEMENTS.get(tag)
    return f"{e.keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})" if e else f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _local(tag: int, why: str) -> LocalProtocolError:
    return LocalProtocolError(f"command element {_keyword(tag)}: {why}")


# ---- encoding one value (local side: bad input is the caller's mistake) ------------------------

def _encode_value(tag: int, value: Any) -> tuple[Any, bytes]:
    """Return (normalised value, encoded value bytes) or raise LocalProtocolError."""
    elem = COMMAND_ELEMENTS.get(tag)
    if elem is None:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise _local(tag, "unknown element: value must be the raw bytes")
        raw = bytes(value)
        return raw, raw
    vr = elem.vr
    if value is None:
        return (() if vr == "AT" else None if vr in ("US", "UL") else ""), b""
    if vr == "US" or vr == "UL":
        # bool is an int subclass but never a meaningful command value
        if not isinstance(value, int) or isinstance(value, bool):
            raise _local(tag, f"{vr} value must be an int, not {type(value).__name__}")
        packer = _US if vr == "US" else _UL
        try:
            return int(value), packer.pack(value)
        except struct.error:
            raise _local(tag, f"{value} does not fit in {vr}") from None
    if vr == "AT":
        tags = (value,) if isinstance(value, int) else tuple(value)
        out = bytearray()
        for t in tags:
            if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t <= 0xFFFFFFFF:
                raise _local(tag, f"AT value {t!r} is not a 32-bit tag")
            out += _US.pack(t >> 16) + _US.pack(t & 0xFFFF)
        return tuple(int(t) for t in tags), bytes(out)
    if not isinstance(value, str):
        raise _local(tag, f"{vr} value must be a str, not {type(value).__name__}")
    if vr == "LO":
        # surrogateescape: a peer's non-ASCII comment decodes and re-encodes byte for byte
        raw = value.encode("ascii", "surrogateescape")
        limit, pad = _LO_MAX, b" "
        if "\\" in value:
            raise _local(tag, "LO is VM 1; backslash is the value separator")
    else:
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            raise _local(tag, f"{vr} value must be ASCII") from None
        limit, pad = (_UI_MAX, b"\x00") if vr == "UI" else (_AE_MAX, b" ")
    if len(raw) > limit:
        raise _local(tag, f"{vr} value is {len(raw)} bytes, the limit is {limit}")
    # PS3.5 7.1.1: even value length; UI pads with NUL, text VRs with a space
    if len(raw) & 1:
        raw += pad
    return value, raw


# ---- decoding one value (remote side: bad input is the peer's mistake) -------------------------

def _decode_value(tag: int, vr: str, raw: bytes) -> Any:
    n = len(raw)
    if vr == "US":
        if n == 0:
            return None
        if n != 2:
            raise DIMSEError(f"command element {_keyword(tag)}: US value is {n} bytes, not 2")
        return _US.unpack(raw)[0]
    if vr == "UL":
        if n == 0:
            return None
        if n != 4:
            raise DIMSEError(f"command element {_keyword(tag)}: UL value is {n} bytes, not 4")
        return _UL.unpack(raw)[0]
    if vr == "AT":
        if n % 4:
            raise DIMSEError(f"command element {_keyword(tag)}: AT value is {n} bytes, "
                             "not a multiple of 4")
        words = struct.unpack(f"<{n // 2}H", raw)
        return tuple((words[i] << 16) | words[i + 1] for i in range(0, len(words), 2))
    if vr == "LO":
        # Padding is a trailing space; NUL is tolerated because some toolkits pad with it
        return raw.decode("ascii", "surrogateescape").rstrip(" \x00")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DIMSEError(f"command element {_keyword(tag)}: {vr} value is not ASCII") from None
    # UI: trailing NUL padding; AE: leading and trailing spaces are not significant (PS3.5 6.2)
    return text.rstrip("\x00 ") if vr == "UI" else text.strip(" \x00")


class CommandSet(MutableMapping):
    """A DIMSE command set: a mapping of group-0000 tag -> value.

    Known elements take typed values (int for US/UL, str for UI/AE/LO, tuple of int tags for AT,
    None for a zero-length value). Unknown group-0000 elements hold their raw value bytes. The
    Command Group Length is never stored: ``encode()`` computes it and ``decode()`` checks it.
    Iteration is in ascending tag order, the order of the encoding.
    """

    __slots__ = ("_values", "_raw")

    def __init__(self, items: Mapping[int, Any] | Iterable[tuple[int, Any]] | None = None,
                 **keywords: Any):
        self._values: dict[int, Any] = {}
        self._raw: dict[int, bytes] = {}
        if items is not None:
            self.update(items)
        for kw, value in keywords.items():
            if kw not in TAG_BY_KEYWORD:
                raise LocalProtocolError(f"{kw!r} is not a command element keyword")
            self[TAG_BY_KEYWORD[kw]] = value

    # -- mapping protocol --
    def __getitem__(self, tag: int) -> Any:
        return self._values[tag]

    def __setitem__(self, tag: int, value: Any) -> None:
        if not isinstance(tag, int) or not 0 <= tag <= 0xFFFF:
            raise LocalProtocolError(f"{tag!r} is not a tag in group 0000")
        if tag == CommandTag.CommandGroupLength:
            raise _local(tag, "computed on encode; it cannot be set")
        tag = int(tag)
        self._values[tag], self._raw[tag] = _encode_value(tag, value)

    def __delitem__(self, tag: int) -> None:
        del self._values[tag]
        del self._raw[tag]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, tag: object) -> bool:
        return tag in self._values

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CommandSet):
            return self._raw == other._raw
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{COMMAND_ELEMENTS[t].keyword if t in COMMAND_ELEMENTS else hex(t)}={self._values[t]!r}"
            for t in self)
        return f"CommandSet({inner})"

    # -- keyword access, for readability at call sites and in tests --
    def get_keyword(self, keyword: str, default: Any = None) -> Any:
        return self._values.get(TAG_BY_KEYWORD[keyword], default)

    def raw(self, tag: int) -> bytes:
        """The encoded value bytes of one element (padding included)."""
        return self._raw[tag]

    @property
    def command_field(self) -> int | None:
        return self._values.get(CommandTag.CommandField)

    @property
    def has_dataset(self) -> bool:
        """CommandDataSetType says a data set follows (any value but 0x0101, PS3.7 E.1)."""
        v = self._values.get(CommandTag.CommandDataSetType)
        if v is None:
            raise DIMSEError("command set has no Command Data Set Type (0000,0800)")
        return v != NO_DATASET

    # -- wire format --
    def encode(self) -> bytes:
        """Implicit VR Little Endian bytes, Command Group Length first."""
        raw = self._raw
        parts = [b""]  # slot for the group length element
        pack = _HEADER.pack
        for tag in sorted(raw):
            value = raw[tag]
            parts.append(pack(0, tag, len(value)))
            parts.append(value)
        body_len = sum(len(p) for p in parts)
        parts[0] = pack(0, 0, 4) + _UL.pack(body_len)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> "CommandSet":
        """Parse a whole command set; anything malformed raises DIMSEError.

        Strict, because a command set is small and machine-written: the first element must be
        the Command Group Length and it must match the bytes that follow; every element is in
        group 0000, in ascending order, with a defined length that fits in ``data``. Odd value
        lengths are accepted (they do not break framing and some old peers send them).
        """
        mv = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        n = len(mv)
        unpack = _HEADER.unpack_from
        self = cls.__new__(cls)
        values: dict[int, Any] = {}
        raws: dict[int, bytes] = {}
        self._values, self._raw = values, raws
        group_length = None
        off, prev = 0, -1
        while off < n:
            if n - off < 8:
                raise DIMSEError(f"command set truncated: {n - off} bytes left at offset {off}, "
                                 "an element header needs 8")
            group, elem, length = unpack(mv, off)
            if group != 0:
                raise DIMSEError(f"element ({group:04X},{elem:04X}) at offset {off} is not in "
                                 "the command group 0000")
            if length == _UNDEFINED_LENGTH:
                raise DIMSEError(f"command element {_keyword(elem)} has undefined length")
            if elem <= prev:
                raise DIMSEError(f"command element {_keyword(elem)} out of order or repeated "
                                 f"(after {_keyword(prev)})")
            off += 8
            if off + length > n:
                raise DIMSEError(f"command element {_keyword(elem)} truncated: value length "
                                 f"{length}, {n - off} bytes left")
            raw = bytes(mv[off:off + length])
            off += length
            prev = elem
            info = COMMAND_ELEMENTS.get(elem)
            value = raw if info is None else _decode_value(elem, info.vr, raw)
            if elem == 0:
                if value is None:
                    raise DIMSEError("Command Group Length (0000,0000) is empty")
                group_length = value
                continue
            values[elem] = value
            raws[elem] = raw
        if group_length is None:
            raise DIMSEError("command set does not start with Command Group Length (0000,0000)")
        if group_length != n - 12:
            raise DIMSEError(f"Command Group Length (0000,0000) is {group_length} but "
                             f"{n - 12} bytes follow it")
        return self
