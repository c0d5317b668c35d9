"""The SOP Class and SOP Instance UIDs a data set carries, read from its first bytes.

A C-STORE-RQ names the object it carries (Affected SOP Class/Instance UID), and that must be
what the data set says, (0008,0016) and (0008,0018): a file's meta (Media Storage SOP Class/
Instance UID) may disagree (pydicom's rtplan.dcm does), and DCMTK and pynetdicom both take the
data set's values. Decoding the whole data set for two elements would cost a pydicom parse per
file, so ``dataset_sop_uids`` walks the elements from the start of the data set, skipping
values, until it passes (0008,0018): groups 0000-0008 hold only short elements in practice.

Anything it cannot walk (an undefined-length element before (0008,0018), bytes that end too
soon) raises ValueError; the caller then asks pydicom (``dataset_sop_uids_with_pydicom``).
"""

from __future__ import annotations

import struct
import zlib
from typing import Optional

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
#: Syntaxes whose data set is deflated (PS3.5 A.5): Deflated Explicit VR LE, JPIP Referenced Deflate.
DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95")
#: Enough inflated bytes to get past group 0008's UIDs.
INFLATE_LIMIT = 64 * 1024

# Explicit VR: these VRs have a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
            b"UT", b"UV"}
_SOP_CLASS, _SOP_INSTANCE = 0x0016, 0x0018


def _uid(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0 ").decode("ascii", "replace").strip()


def dataset_sop_uids(data: bytes, transfer_syntax: str, *,
                     complete: bool = False) -> tuple[Optional[str], Optional[str]]:
    """(SOP Class UID, SOP Instance UID) from the first bytes of a data set encoded in
    ``transfer_syntax``; None for an element the data set does not have. ``complete``: ``data``
    is the whole data set (so ending before (0008,0018) means the elements are absent).
    ValueError when the elements cannot be reached in ``data``."""
    if transfer_syntax in DEFLATED:
        try:
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            data = inflater.decompress(data, INFLATE_LIMIT)
        except zlib.error as exc:
            raise ValueError(f"cannot inflate the data set: {exc}") from None
        complete = complete and inflater.eof
    implicit = transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN
    endian = ">" if transfer_syntax == EXPLICIT_VR_BIG_ENDIAN else "<"
    tag_struct, u16, u32 = (struct.Struct(endian + f) for f in ("HH", "H", "I"))
    found: dict[int, str] = {}
    off, end = 0, len(data)
    while True:
        if off + 8 > end:
            if complete and off == end:
                break
            raise ValueError("the bytes end before (0008,0018) was passed")
        group, elem = tag_struct.unpack_from(data, off)
        if group > 0x0008 or (group == 0x0008 and elem > _SOP_INSTANCE):
            break
        if implicit:
            (length,) = u32.unpack_from(data, off + 4)
            start = off + 8
        elif bytes(data[off + 4:off + 6]) in LONG_VRS:
            if off + 12 > end:
                raise ValueError("the bytes end inside an element header")
            (length,) = u32.unpack_from(data, off + 8)
            start = off + 12
        else:
            (length,) = u16.unpack_from(data, off + 6)
            start = off + 8
        if length == 0xFFFFFFFF:
            raise ValueError(f"undefined-length element ({group:04X},{elem:04X}) before "
                             f"(0008,0018)")
        if start + length > end:
            raise ValueError("the bytes end inside an element value")
        if group == 0x0008 and elem in (_SOP_CLASS, _SOP_INSTANCE):
            found[elem] = _uid(data[start:start + length])
        off = start + length
    return found.get(_SOP_CLASS) or None, found.get(_SOP_INSTANCE) or None


def dataset_sop_uids_with_pydicom(path: str) -> tuple[Optional[str], Optional[str]]:
    """The same through pydicom (the rare file ``dataset_sop_uids`` cannot walk)."""
    try:
        import pydicom
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "SOPInstanceUID"])
    except Exception:  # pydicom raises many kinds; the file meta's values are used then
        return None, None
    return (str(getattr(ds, "SOPClassUID", "") or "") or None,
            str(getattr(ds, "SOPInstanceUID", "") or "") or None)


__all__ = ["DEFLATED", "dataset_sop_uids", "dataset_sop_uids_with_pydicom"]
