"""Checking a data set's structure as it streams in (PS3.5 7.1-7.5), without keeping it.

``StructureValidator(transfer_syntax)`` is fed the data set's bytes in whatever pieces they
arrive (``feed(view)``: the Storage SCP hands it every received PDU fragment) and says at the end
(``finish()``) whether they form a well-built data set. It raises ``DatasetStructureError``
(with the tag, the byte offset from the start of the data set, and a reason of at most 64
characters for a DIMSE Error Comment) as soon as the bytes prove the data set broken:

* tags not strictly ascending within a level (the data set, each item);
* a defined length running past the end of the enclosing item or sequence, or (at ``finish``)
  past the end of the data set: a Pixel Data declaring 2 GiB that carries 16 bytes;
* an undefined-length sequence or item never closed by its delimiter, a delimiter or an item
  where none can be, something other than an item inside a sequence, a Pixel Data fragment of
  undefined length;
* an explicit VR that is not a VR of PS3.5 Table 6.2-1, an undefined length for a VR that
  cannot have one (the transfer syntax says explicit VR and the bytes are not);
* the data set ending inside an element header.

Not checked: group lengths, value contents, even lengths, which attributes are present.

Cost: each element header is unpacked once; a value is skipped by arithmetic, never looked
at, so a 2 GiB Pixel Data costs what one fragment's bookkeeping costs. State is one small
record per open sequence or item (O(nesting depth)), plus at most 11 bytes of an element
header split across two fragments. Explicit VR ``UN`` of undefined length is walked as
Implicit VR Little Endian (PS3.5 6.2.2); in Implicit VR, elements the data dictionary knows
as SQ are walked as sequences, other defined-length values are opaque.

Deflated Explicit VR Little Endian (PS3.5 A.5) is inflated as it arrives, in bounded pieces
(``INFLATE_STEP``) that are walked and dropped, so its structure is checked as well; offsets
then count inflated bytes, and the cost is zlib's, in proportion to the inflated size. A
deflate stream that does not end is an error; up to ``DEFLATE_TRAILER`` bytes after its end
are not (the pad to an even length, or the CRC-32 and size that some writers append as gzip
does: pydicom's image_dfl.dcm has them).

``record`` names top-level elements whose values (up to ``RECORD_LIMIT`` bytes each) are kept
as they pass (``values``): the SOP Class and Instance UIDs, to compare with the C-STORE-RQ,
and the attributes an output layout sorts by.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from typing import Iterable, Optional

from ..errors import RemoteProtocolError
from .sop_identity import DEFLATED, EXPLICIT_VR_BIG_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, LONG_VRS

ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018

RECORD_LIMIT = 256         # bytes kept of a recorded value (UIDs and IDs are at most 64)
INFLATE_STEP = 1 << 20     # inflated bytes walked at a time (bounds memory on deflated data)
DEFLATE_TRAILER = 9        # bytes tolerated after a deflate stream: a gzip-like trailer + pad
_LONGEST_HEADER = 12       # explicit VR with a 4-byte length; items and implicit VR are 8

#: Per explicit VR (PS3.5 Table 6.2-1 and 7.1.2): its header length, 8 or 12 (a 4-byte
#: length), or _SQ_HEADER for SQ (12 bytes, and a sequence); a VR not here is unknown.
_SQ_HEADER = 13
_VR_HEADER = {vr.encode(): _SQ_HEADER if vr == "SQ" else 12 if vr.encode() in LONG_VRS else 8
              for vr in ("AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS "
                         "ST SV TM UC UI UL UN UR US UT UV").split()}
# The same keyed by the VR's two bytes read as a 16-bit number in the stream's byte order: an
# int key hashes for free, a fresh 2-byte ``bytes`` per element would not.
_VR_HEADER_LE = {int.from_bytes(vr, "little"): size for vr, size in _VR_HEADER.items()}
_VR_HEADER_BE = {int.from_bytes(vr, "big"): size for vr, size in _VR_HEADER.items()}

# What a level holds. The data set and each item hold data elements (tags ascending); a
# sequence holds items; encapsulated Pixel Data holds fragment items (opaque values).
_ELEMENTS, _ITEMS, _FRAGMENTS = 0, 1, 2
_NO_END = -1               # an undefined length: the level ends at its delimiter
_NO_LIMIT = 1 << 64        # nothing encloses the data set but its (as yet unknown) end

# Per encoding: (implicit VR, element header (group, element, VR as a number | 32-bit length,
# 16-bit length), 32-bit length, VR table, byte order).
_IMPLICIT_LE = (True, struct.Struct("<HHI"), struct.Struct("<I"), None, "little")
_EXPLICIT_LE = (False, struct.Struct("<HHHH"), struct.Struct("<I"), _VR_HEADER_LE, "little")
_EXPLICIT_BE = (False, struct.Struct(">HHHH"), struct.Struct(">I"), _VR_HEADER_BE, "big")


class DatasetStructureError(RemoteProtocolError):
    """A data set's encoding is broken (see the module docstring). ``offset``: where the element
    at fault starts, in bytes from the start of the data set; ``tag``: its tag as one int
    (group << 16 | element), or None; ``comment``: the reason in at most 64 characters, for a
    DIMSE Error Comment (0000,0902), PS3.7 C.5. Defined here, as ``part10.Part10Error`` is:
    ``dicomtls.errors`` holds the errors the top-level package exports."""

    def __init__(self, message: str, *, offset: Optional[int] = None,
                 tag: Optional[int] = None, comment: Optional[str] = None):
        super().__init__(message)
        self.offset, self.tag = offset, tag
        self.comment = (comment or message)[:64]


@lru_cache(maxsize=1)
def implicit_sequence_tags() -> frozenset:
    """Tags pydicom's data dictionary gives the VR SQ: in Implicit VR only the dictionary says
    which defined-length values are sequences (loaded once, when first needed)."""
    from pydicom.datadict import DicomDictionary
    return frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")


def tag_text(tag: int) -> str:
    """A tag as DICOM writes it: "(7FE0,0010)"."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Level:
    """An open data set, item, sequence or encapsulated Pixel Data. ``end`` is where a defined
    length makes it end; ``limit`` the nearest end among it and what encloses it (nothing in it
    may run past that); ``last`` the last tag seen in it; ``tag``/``offset``/``start`` its own
    element (or item), where that starts and where its value starts; ``codec`` how its contents
    are encoded; ``count`` the items a sequence has had so far."""

    __slots__ = ("kind", "end", "limit", "last", "tag", "offset", "start", "codec", "count")

    def __init__(self, kind, end, limit, tag, offset, start, codec):
        self.kind, self.end, self.limit, self.tag = kind, end, limit, tag
        self.offset, self.start, self.codec = offset, start, codec
        self.last = -1
        self.count = 0

    def describe(self) -> str:
        if self.kind == _ITEMS:
            return f"sequence {tag_text(self.tag)} at offset {self.offset}"
        if self.kind == _FRAGMENTS:
            return f"encapsulated {tag_text(self.tag)} at offset {self.offset}"
        return f"item at offset {self.offset}"


def _error(tag: Optional[int], offset: Optional[int], reason: str,
           short: str) -> DatasetStructureError:
    """``reason`` for the log; ``short`` (with the tag and offset in front, at most 64
    characters) for the C-STORE-RSP's Error Comment."""
    where = (tag_text(tag) if tag is not None else "") + \
        (f"@{offset}" if offset is not None else "")
    return DatasetStructureError(reason, offset=offset, tag=tag,
                                 comment=f"{where}: {short}" if where else short)


class StructureValidator:
    """Checks one data set encoded in ``transfer_syntax`` as its bytes arrive (see the module
    docstring). ``feed`` each piece in order, then ``finish``; both raise
    ``DatasetStructureError``, and after one has, every later call raises it again."""

    def __init__(self, transfer_syntax: str, *, record: Iterable[int] = ()):
        self.transfer_syntax = transfer_syntax
        codec = (_IMPLICIT_LE if transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN else
                 _EXPLICIT_BE if transfer_syntax == EXPLICIT_VR_BIG_ENDIAN else _EXPLICIT_LE)
        self._sequence_tags = implicit_sequence_tags() if codec[0] else frozenset()
        self._stack = [_Level(_ELEMENTS, _NO_END, _NO_LIMIT, None, 0, 0, codec)]
        self._received = 0       # (inflated) data set bytes fed so far
        self._skip = 0           # bytes of the current value still to come
        self._skipping = None    # (tag, offset, length, value start) of it, for the error
        self._carry = b""        # the start of an element header split across pieces
        self._record = frozenset(record)
        self._capture: Optional[bytearray] = None   # a recorded value split across pieces
        self._capture_tag = 0
        self._error: Optional[DatasetStructureError] = None
        self.values: dict[int, bytes] = {}
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) \
            if transfer_syntax in DEFLATED else None
        self._deflated_received = 0
        self._trailer = 0        # bytes after the end of the deflate stream

    @property
    def received(self) -> int:
        """Data set bytes fed so far (inflated bytes for a deflated data set)."""
        return self._received

    def text(self, tag: int) -> Optional[str]:
        """A recorded value as text (padding stripped); None if the data set had no such
        top-level element (so far)."""
        raw = self.values.get(tag)
        return None if raw is None else raw.decode("latin-1").strip("\0 ")

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, data) -> None:
        """Take the next piece of the data set (bytes or a memoryview; not kept)."""
        if self._error is not None:
            raise self._error
        try:
            if self._inflater is None:
                self._feed(data)
            else:
                self._inflate(data)
        except DatasetStructureError as exc:
            self._error = exc
            raise

    def _inflate(self, data) -> None:
        inflater = self._inflater
        if inflater.eof:
            self._after_deflate_stream(len(data))
            return
        self._deflated_received += len(data)
        try:
            out = inflater.decompress(data, INFLATE_STEP)
            self._feed(out)
            while inflater.unconsumed_tail or len(out) == INFLATE_STEP:
                out = inflater.decompress(inflater.unconsumed_tail, INFLATE_STEP)
                if not out:
                    break
                self._feed(out)
        except zlib.error as exc:
            # No offset: where zlib gives up depends on how the bytes were cut.
            raise _error(None, None, f"the deflated data set cannot be inflated ({exc})",
                         "cannot inflate the deflated data set") from None
        if inflater.eof:
            self._after_deflate_stream(len(inflater.unused_data))

    def _after_deflate_stream(self, count: int) -> None:
        self._trailer += count
        if self._trailer > DEFLATE_TRAILER:
            raise _error(None, None, f"more than {DEFLATE_TRAILER} bytes follow the end of the "
                         f"deflated data set", "bytes after the end of the deflate stream")

    def _feed(self, data) -> None:
        n = len(data)
        base = self._received
        self._received = base + n
        i = 0
        while i < n:
            if self._skip:                      # inside a value: arithmetic only
                take = min(self._skip, n - i)
                if self._capture is not None:
                    self._capture_more(data[i:i + take])
                self._skip -= take
                i += take
                continue
            carry = self._carry
            if carry:                           # finish the header split across pieces
                take = min(_LONGEST_HEADER - len(carry), n - i)
                joined = carry + bytes(data[i:i + take])
                j = self._walk(joined, 0, len(joined), base + i - len(carry))
                if self._skip or j >= len(carry):
                    self._carry = b""           # walk on in ``data`` itself
                    i += take if self._skip else j - len(carry)
                else:
                    self._carry = joined[j:]
                    i += take
                continue
            j = self._walk(data, i, n, base)
            if not self._skip:
                self._carry = bytes(data[j:n])
            return

    def _capture_more(self, piece) -> None:
        room = RECORD_LIMIT - len(self._capture)
        if room > 0:
            self._capture += piece[:room]
        if self._skip == len(piece):            # this piece ends the value
            self.values[self._capture_tag] = bytes(self._capture)
            self._capture = None

    def _walk(self, buf, i: int, n: int, base: int) -> int:
        """Walk the element headers in ``buf[i:n]`` (``buf[0]`` is data set byte ``base``),
        stepping over values. Returns where a header needs bytes ``buf`` does not have yet
        (the caller keeps them), or ``n`` with ``_skip`` set when a value runs past ``n``.

        The hot loop: positions are indexes into ``buf`` (``end``/``limit`` made relative once
        per level), one comparison (``stop``) stands for the three checks before a header,
        and a short explicit VR element (most of them) takes the first path."""
        stack = self._stack
        sequence_tags = self._sequence_tags
        while True:                             # per level: its state in locals
            level = stack[-1]
            kind, last = level.kind, level.last
            end, limit = level.end - base, level.limit - base   # relative to buf[0]
            stop = limit if limit < n else n    # a level's end (== limit) is before both
            implicit, header, u32, vr_header, byteorder = level.codec
            record = self._record if len(stack) == 1 else ()
            while True:                         # per element (item, fragment) of the level
                if i + 8 > stop:
                    if i == end:                # a defined-length item or sequence ends
                        stack.pop()
                        break
                    if i + 8 > limit:
                        raise self._past_limit(None, base + i, 8, "an element header")
                    level.last = last           # the header's bytes are still to come
                    return i
                if implicit:
                    group, elem, length = header.unpack_from(buf, i)
                    size = _SQ_HEADER if length == UNDEFINED_LENGTH or \
                        (group << 16 | elem) in sequence_tags else 8
                    vr = None
                else:
                    group, elem, vr, length = header.unpack_from(buf, i)
                    size = vr_header.get(vr)
                if group == 0xFFFE:             # items and delimiters: always 8 bytes
                    if not implicit:
                        (length,) = u32.unpack_from(buf, i + 4)
                    level.last = last
                    i = self._item_or_delimiter(level, group << 16 | elem, length, base + i, i)
                    if i > n:                   # a fragment's value runs past the piece
                        self._skip = i - n
                        return n
                    if stack[-1] is not level:
                        break
                    continue
                tag = group << 16 | elem
                if kind != _ELEMENTS:
                    pos = base + i
                    raise _error(tag, pos, f"{tag_text(tag)} at offset {pos} inside "
                                 f"{level.describe()}, where only items may be",
                                 f"not an item, inside {tag_text(level.tag)}")
                if size == 8:                   # a short element: no sequence, no 0xFFFFFFFF
                    if tag <= last:
                        raise self._descending(tag, last, base + i)
                    last = tag
                    value_end = i + 8 + length
                    if value_end > limit:
                        raise self._past_limit(tag, base + i, 8 + length, f"its {length} bytes")
                else:
                    if size is None:
                        raise self._unknown_vr(tag, vr.to_bytes(2, byteorder), base + i)
                    if not implicit:            # a 4-byte length after 2 reserved bytes
                        if i + 12 > limit:
                            raise self._past_limit(tag, base + i, 12, "its header")
                        if n - i < 12:
                            level.last = last
                            return i
                        (length,) = u32.unpack_from(buf, i + 8)
                    if tag <= last:
                        raise self._descending(tag, last, base + i)
                    last = tag
                    head = 8 if implicit else 12
                    if length == UNDEFINED_LENGTH:
                        level.last = last
                        stack.append(self._open_undefined(
                            level, tag, None if vr is None else vr.to_bytes(2, byteorder),
                            base + i, head, base + limit))
                        i += head
                        break
                    value_end = i + head + length
                    if value_end > limit:
                        raise self._past_limit(tag, base + i, head + length,
                                               f"its {length} bytes")
                    if size == _SQ_HEADER:      # a defined-length sequence: walk its items
                        level.last = last
                        stack.append(_Level(_ITEMS, base + value_end, base + value_end, tag,
                                            base + i, base + i + head, level.codec))
                        i += head
                        break
                    size = head
                if tag in record:
                    self._record_value(buf, tag, i + size, length, n)
                if value_end > n:               # the value goes on in the next pieces
                    level.last = last
                    self._skip = value_end - n
                    self._skipping = (tag, base + i, length, base + i + size)
                    return n
                i = value_end

    def _record_value(self, buf, tag: int, start: int, length: int, n: int) -> None:
        self.values[tag] = bytes(buf[start:min(start + length, n, start + RECORD_LIMIT)])
        if start + length > n:                  # the rest comes with the next pieces
            self._capture = bytearray(self.values.pop(tag))
            self._capture_tag = tag

    @staticmethod
    def _descending(tag: int, last: int, pos: int) -> DatasetStructureError:
        return _error(tag, pos, f"{tag_text(tag)} at offset {pos} follows {tag_text(last)}: "
                      f"tags must ascend", f"after {tag_text(last)}, tags not ascending")

    @staticmethod
    def _unknown_vr(tag: int, vr: bytes, pos: int) -> DatasetStructureError:
        shown = vr.decode() if vr.isalpha() else "0x" + vr.hex()
        return _error(tag, pos, f"{tag_text(tag)} at offset {pos} has the unknown VR {shown} "
                      f"(not explicit VR as the transfer syntax says?)", f"unknown VR {shown}")

    def _open_undefined(self, level: _Level, tag: int, vr, pos: int, head: int,
                        limit: int) -> _Level:
        """The level an undefined-length element (``head`` bytes of header at ``pos``) opens:
        a sequence (SQ; UN, whose items are Implicit VR Little Endian, PS3.5 6.2.2; anything
        in Implicit VR but Pixel Data) or encapsulated fragments (OB, OW)."""
        if vr is None:
            kind = _FRAGMENTS if tag == PIXEL_DATA else _ITEMS
            return _Level(kind, _NO_END, limit, tag, pos, pos + head, level.codec)
        if vr == b"SQ":
            return _Level(_ITEMS, _NO_END, limit, tag, pos, pos + head, level.codec)
        if vr == b"UN":
            return _Level(_ITEMS, _NO_END, limit, tag, pos, pos + head, _IMPLICIT_LE)
        if vr in (b"OB", b"OW"):
            return _Level(_FRAGMENTS, _NO_END, limit, tag, pos, pos + head, level.codec)
        raise _error(tag, pos, f"{tag_text(tag)} at offset {pos} has an undefined length, "
                     f"which VR {vr.decode()} cannot have",
                     f"undefined length for VR {vr.decode()}")

    def _item_or_delimiter(self, level: _Level, tag: int, length: int, pos: int,
                           i: int) -> int:
        """An (FFFE,xxxx) header at ``pos`` (``buf[i]``) in ``level``: open an item, skip a
        fragment, close the level; the index after what it consumed."""
        stack = self._stack
        if level.kind == _ITEMS and tag == ITEM:
            level.count += 1
            if length == UNDEFINED_LENGTH:
                stack.append(_Level(_ELEMENTS, _NO_END, level.limit, tag, pos, pos + 8,
                                    level.codec))
            else:
                end = pos + 8 + length
                if end > level.limit:
                    raise self._past_limit(tag, pos, 8 + length,
                                           f"item {level.count} of {length} bytes")
                stack.append(_Level(_ELEMENTS, end, end, tag, pos, pos + 8, level.codec))
            return i + 8
        if level.kind == _FRAGMENTS and tag == ITEM:
            if length == UNDEFINED_LENGTH:
                raise _error(tag, pos, f"a fragment of {level.describe()} at offset {pos} has "
                             f"an undefined length", "fragment of undefined length")
            if pos + 8 + length > level.limit:
                raise self._past_limit(tag, pos, 8 + length, f"a fragment of {length} bytes")
            level.count += 1
            self._skipping = (tag, pos, length, pos + 8)
            return i + 8 + length
        if (tag == SEQUENCE_DELIMITER and level.kind != _ELEMENTS) or \
                (tag == ITEM_DELIMITER and level.kind == _ELEMENTS and len(stack) > 1):
            if level.end != _NO_END:
                raise _error(tag, pos, f"a delimiter at offset {pos} in the defined-length "
                             f"{level.describe()}", "delimiter in a defined-length level")
            stack.pop()
            return i + 8
        what = {ITEM: "an item", ITEM_DELIMITER: "an item delimiter",
                SEQUENCE_DELIMITER: "a sequence delimiter"}.get(tag, "an unknown (FFFE) tag")
        where = "the data set" if len(stack) == 1 else level.describe()
        raise _error(tag, pos, f"{what} {tag_text(tag)} at offset {pos} in {where}, where it "
                     f"cannot be", f"stray {what.split(' ', 1)[1]}")

    def _past_limit(self, tag: Optional[int], pos: int, size: int, what: str):
        """``what`` (``size`` bytes from ``pos``) runs past the end of an enclosing level."""
        encloser = next(lv for lv in reversed(self._stack) if lv.end == lv.limit)
        end, until = encloser.end, pos + size
        subject = f"{tag_text(tag)} at offset {pos}: {what}" if tag is not None else \
            f"{what} at offset {pos}"
        return _error(tag, pos, f"{subject} would end at {until}, past the end of the "
                      f"{encloser.describe()} (at {end})",
                      f"ends at {until}, {_short(encloser)} ends at {end}")

    # -- the end ----------------------------------------------------------------------------
    def finish(self) -> None:
        """The data set has ended: raise unless it ended where a well-built one can."""
        if self._error is not None:
            raise self._error
        try:
            self._finish()
        except DatasetStructureError as exc:
            self._error = exc
            raise

    def _finish(self) -> None:
        inflater = self._inflater
        if inflater is not None:
            self._feed(inflater.flush())
            if not inflater.eof:
                raise _error(None, None, f"the deflated data set ends after "
                             f"{self._deflated_received} bytes, inside its deflate stream",
                             "the deflate stream is cut short")
        total = self._received
        stack = self._stack
        if self._skip:
            tag, pos, length, start = self._skipping
            raise _error(tag, pos, f"{tag_text(tag)} declares {length} bytes at offset {pos} "
                         f"but the data set ends after {total - start}",
                         f"{length} bytes declared, {total - start} sent")
        while stack[-1].end == total:           # defined-length levels ending with the data
            stack.pop()
        if self._carry:
            raise _error(None, total - len(self._carry), f"the data set ends inside an "
                         f"element header at offset {total - len(self._carry)} "
                         f"({len(self._carry)} bytes of it)", "ends inside an element header")
        if len(stack) > 1:
            level = stack[-1]
            if level.end != _NO_END:            # a defined length the data set cut short
                declared, sent = level.end - level.start, total - level.start
                raise _error(level.tag, level.offset, f"the {level.describe()} declares "
                             f"{declared} bytes but the data set ends after {sent}",
                             f"{declared} bytes declared, {sent} sent")
            raise _error(level.tag, level.offset, f"the {level.describe()} is not closed: "
                         f"the data set ends (at {total}) before its delimiter",
                         f"{_short(level)} not closed")


def _short(level: _Level) -> str:
    return {_ITEMS: "sequence", _FRAGMENTS: "fragments"}.get(level.kind, "item")


__all__ = ["DatasetStructureError", "RECORD_LIMIT", "SOP_CLASS_UID", "SOP_INSTANCE_UID",
           "StructureValidator", "implicit_sequence_tags", "tag_text"]
