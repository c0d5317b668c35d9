"""DICOM Part 10 files (PS3.10 7.1): read the file meta cheaply, write preamble + meta + data set.

Reading (``read_meta``) looks only at the 128-byte preamble, "DICM", group 0002 (with a tiny
Explicit VR Little Endian reader) and the data set's first elements up to its SOP Class and
Instance UIDs (``sop_identity``); the data set is never decoded. The result says where the data
set starts (``dataset_offset``), so a sender can stream the bytes exactly as stored
(``open_dataset``: a reader whose ``readinto`` fills the sender's buffer directly; or
``iter_dataset_chunks``: bounded reads, never the whole file at once). Files whose meta our
reader does not understand fall back to pydicom's ``read_file_meta_info``.

Writing (``file_meta_bytes`` + ``Part10Writer``): the preamble, "DICM", a file meta group with
the received object's SOP class/instance, transfer syntax and the sender's AE title, then the
data set bytes unchanged.

Conversion (``convert_dataset``) only between the uncompressed little-endian syntaxes (Implicit
VR LE <-> Explicit VR LE), through pydicom: the rare path when a peer accepted only the other one.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import Iterator, Optional

from ..errors import DicomTLSError
from ..ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLEMENTATION_CLASS_UID,
                              IMPLEMENTATION_VERSION_NAME, IMPLICIT_VR_LITTLE_ENDIAN)
from .sop_identity import LONG_VRS as _LONG_VRS
from .sop_identity import dataset_sop_uids, dataset_sop_uids_with_pydicom

PREAMBLE_LENGTH = 128
HEAD_LENGTH = 64 * 1024  # what read_meta reads: preamble, meta and the data set's first elements
_fadvise = getattr(os, "posix_fadvise", None)
MAGIC = b"DICM"
#: Uncompressed little-endian syntaxes: a data set can be converted between these two.
CONVERTIBLE = (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
#: The compressed syntaxes the Storage SCP accepts and a C-GET SCU proposes, stored as sent.
COMPRESSED_TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2.4.50",     # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",     # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",     # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70",     # JPEG Lossless, First-Order Prediction (Process 14 SV1)
    "1.2.840.10008.1.2.4.80",     # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",     # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",     # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.4.91",     # JPEG 2000
    "1.2.840.10008.1.2.5",        # RLE Lossless
)
DEFAULT_CHUNK = 4 << 20

_TAG_VR = struct.Struct("<HH2s")


class Part10Error(DicomTLSError):
    """A file is not a usable DICOM Part 10 file, or its data set cannot be converted."""


@dataclass(frozen=True)
class FileMeta:
    """``sop_class_uid`` / ``sop_instance_uid`` are the data set's (0008,0016) / (0008,0018),
    what a C-STORE-RQ must name; the file meta's Media Storage values, which may differ, are
    ``media_sop_class_uid`` / ``media_sop_instance_uid`` (used when the data set has none)."""

    path: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    dataset_offset: int
    file_size: int
    media_sop_class_uid: str = ""
    media_sop_instance_uid: str = ""

    @property
    def dataset_length(self) -> int:
        return self.file_size - self.dataset_offset

    def __iter__(self):  # (sop_class_uid, sop_instance_uid, transfer_syntax_uid, dataset_offset)
        return iter((self.sop_class_uid, self.sop_instance_uid, self.transfer_syntax_uid,
                     self.dataset_offset))


def _uid(raw: bytes) -> str:
    return raw.rstrip(b"\0 ").decode("ascii", "replace").strip()


def _parse_meta(head: bytes) -> tuple[dict, int]:
    """Group 0002 elements from ``head`` (which starts at the preamble): ({elem: bytes}, end)."""
    if len(head) < PREAMBLE_LENGTH + 4 or head[PREAMBLE_LENGTH:PREAMBLE_LENGTH + 4] != MAGIC:
        raise Part10Error("no 'DICM' after the 128-byte preamble")
    off = PREAMBLE_LENGTH + 4
    values: dict[int, bytes] = {}
    end: Optional[int] = None
    while True:
        if end is not None and off >= end:
            break
        if off + 8 > len(head):
            raise ValueError("meta runs past the bytes read")
        group, elem, vr = _TAG_VR.unpack_from(head, off)
        if group != 0x0002:
            if end is None:
                break  # no group length: the meta ends where group 0002 does
            raise ValueError("group length points past the file meta")
        if not vr.isalpha() or not vr.isupper():
            raise ValueError("file meta is not Explicit VR")
        if vr in _LONG_VRS:
            (length,) = struct.unpack_from("<I", head, off + 8)
            start = off + 12
        else:
            (length,) = struct.unpack_from("<H", head, off + 6)
            start = off + 8
        if length == 0xFFFFFFFF or start + length > len(head):
            raise ValueError("meta element too long")
        values[elem] = bytes(head[start:start + length])
        off = start + length
        if elem == 0x0000 and length == 4:
            end = off + struct.unpack("<I", values[0])[0]
    return values, off


def read_meta(path: str | os.PathLike) -> FileMeta:
    """The SOP class, SOP instance, transfer syntax and data set offset of a Part 10 file,
    without decoding its data set. Raises Part10Error for anything else."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(HEAD_LENGTH)
    except OSError as exc:
        raise Part10Error(f"{path}: {exc.strerror or exc}") from exc
    try:
        values, offset = _parse_meta(head)
        ts, cls, inst = (_uid(values.get(e, b"")) for e in (0x0010, 0x0002, 0x0003))
    except Part10Error:
        raise Part10Error(f"{path}: not a DICOM Part 10 file (no 'DICM' after the preamble)") \
            from None
    except (ValueError, struct.error):
        ts, cls, inst, offset = _meta_with_pydicom(path)
    if not (ts and cls and inst):
        raise Part10Error(f"{path}: the file meta lacks "
                          f"{'TransferSyntaxUID' if not ts else 'MediaStorageSOPClassUID' if not cls else 'MediaStorageSOPInstanceUID'}")
    try:
        ds_cls, ds_inst = dataset_sop_uids(memoryview(head)[offset:], ts,
                                           complete=size <= len(head))
    except (ValueError, struct.error):
        ds_cls, ds_inst = dataset_sop_uids_with_pydicom(path)
    return FileMeta(path, ds_cls or cls, ds_inst or inst, ts, offset, size, cls, inst)


def _meta_with_pydicom(path: str) -> tuple[str, str, str, int]:
    from pydicom.filereader import read_file_meta_info, read_preamble
    try:
        meta = read_file_meta_info(path)
        with open(path, "rb") as f:
            read_preamble(f, False)
            from pydicom.filereader import _read_file_meta_info
            _read_file_meta_info(f)
            offset = f.tell()
    except Exception as exc:  # pydicom raises many kinds
        raise Part10Error(f"{path}: unreadable file meta: {exc}") from exc
    return (str(meta.get("TransferSyntaxUID", "")), str(meta.get("MediaStorageSOPClassUID", "")),
            str(meta.get("MediaStorageSOPInstanceUID", "")), offset)


def iter_dataset_chunks(meta: FileMeta, chunk_size: int = DEFAULT_CHUNK) -> Iterator[bytes]:
    """The data set bytes as stored, in chunks of ``chunk_size`` (a fresh ``bytes`` each, so a
    consumer may keep views of earlier chunks). Memory: one chunk, whatever the file size."""
    with open(meta.path, "rb") as f:
        f.seek(meta.dataset_offset)
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                return
            yield chunk


class DatasetReader:
    """The data set of a Part 10 file as a reader for ``Driver.send_dataset``: ``length`` bytes
    from ``dataset_offset``, read with ``readinto`` straight into the caller's buffer (the file
    is opened unbuffered: no intermediate copy). Opening checks that the file still has the
    size ``read_meta`` saw, so a file replaced since the scan is not sent half old, half new."""

    def __init__(self, meta: FileMeta):
        self.meta = meta
        self.length = meta.dataset_length
        self._file = open(meta.path, "rb", buffering=0)
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size != meta.file_size:
                raise Part10Error(f"{meta.path}: the file changed since it was scanned "
                                  f"({meta.file_size} -> {size} bytes)")
            self._file.seek(meta.dataset_offset)
        except BaseException:
            self._file.close()
            raise

    def readinto(self, view) -> int:
        return self._file.readinto(view)

    def readinto_many(self, views: list) -> int:
        """Fill ``views`` in order with one ``readv`` (a send buffer of 16 KB PDUs holds 16 data
        slots: one system call instead of 16); the byte count, which may fall short."""
        return os.readv(self._file.fileno(), views)

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def prefetch(path: str | os.PathLike, offset: int = 0, length: int = 0) -> None:
    """Ask the kernel to start reading ``length`` bytes (0: to the end) of ``path`` into the
    page cache in the background (POSIX_FADV_WILLNEED), so a later read finds them there: a
    sender prefetches the next file while it sends the current one. Advice only: errors and
    platforms without ``posix_fadvise`` are ignored."""
    if _fadvise is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        _fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_dataset(meta: FileMeta) -> DatasetReader:
    """``DatasetReader(meta)``; OSError or Part10Error if the file cannot be read as scanned."""
    return DatasetReader(meta)


def read_dataset(meta: FileMeta) -> bytes:
    """The whole data set (tests and the conversion path only)."""
    with open(meta.path, "rb") as f:
        f.seek(meta.dataset_offset)
        return f.read()


# ---- writing ---------------------------------------------------------------------------------

def _element(elem: int, vr: bytes, value: bytes) -> bytes:
    if vr in _LONG_VRS:
        return struct.pack("<HH2s2xI", 0x0002, elem, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, elem, vr, len(value)) + value


def _pad(text: str, pad: bytes) -> bytes:
    raw = text.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def file_meta_bytes(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str, *,
                    source_ae: Optional[str] = None) -> bytes:
    """Preamble (128 zero bytes) + "DICM" + the file meta group (Explicit VR Little Endian)."""
    body = b"".join([
        _element(0x0001, b"OB", b"\x00\x01"),
        _element(0x0002, b"UI", _pad(sop_class_uid, b"\0")),
        _element(0x0003, b"UI", _pad(sop_instance_uid, b"\0")),
        _element(0x0010, b"UI", _pad(transfer_syntax_uid, b"\0")),
        _element(0x0012, b"UI", _pad(IMPLEMENTATION_CLASS_UID, b"\0")),
        _element(0x0013, b"SH", _pad(IMPLEMENTATION_VERSION_NAME, b" ")),
    ] + ([_element(0x0016, b"AE", _pad(source_ae.strip(), b" "))]
         if source_ae and source_ae.strip() else []))
    return bytes(PREAMBLE_LENGTH) + MAGIC + _element(0x0000, b"UL", struct.pack("<I", len(body))) \
        + body


def write_part10(path: str | os.PathLike, sop_class_uid: str, sop_instance_uid: str,
                 transfer_syntax_uid: str, dataset, *, source_ae: Optional[str] = None) -> None:
    """Write a whole Part 10 file at once (``dataset``: bytes-like or an iterable of chunks)."""
    with open(path, "wb") as f:
        f.write(file_meta_bytes(sop_class_uid, sop_instance_uid, transfer_syntax_uid,
                                source_ae=source_ae))
        if isinstance(dataset, (bytes, bytearray, memoryview)):
            f.write(dataset)
        else:
            for chunk in dataset:
                f.write(chunk)


# ---- conversion (rare path) ------------------------------------------------------------------

def convert_dataset(data: bytes, from_syntax: str, to_syntax: str) -> bytes:
    """Re-encode a data set between Implicit VR LE and Explicit VR LE (pydicom decodes it);
    Part10Error for any other pair."""
    if from_syntax == to_syntax:
        return data
    if from_syntax not in CONVERTIBLE or to_syntax not in CONVERTIBLE:
        raise Part10Error(f"cannot convert a data set from {from_syntax} to {to_syntax}: only "
                          f"Implicit VR LE <-> Explicit VR LE are converted")
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset as _pyd_read
    from pydicom.filewriter import write_dataset
    try:
        ds = _pyd_read(io.BytesIO(data), from_syntax == IMPLICIT_VR_LITTLE_ENDIAN, True)
        out = DicomBytesIO()
        out.is_little_endian = True
        out.is_implicit_VR = to_syntax == IMPLICIT_VR_LITTLE_ENDIAN
        ds.set_original_encoding(from_syntax == IMPLICIT_VR_LITTLE_ENDIAN, True)
        write_dataset(out, ds)
    except Exception as exc:
        raise Part10Error(f"converting the data set to {to_syntax} failed: {exc}") from exc
    return out.getvalue()


__all__ = ["COMPRESSED_TRANSFER_SYNTAXES", "CONVERTIBLE", "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
           "DatasetReader", "FileMeta", "Part10Error", "convert_dataset", "file_meta_bytes",
           "iter_dataset_chunks", "open_dataset", "prefetch", "read_dataset", "read_meta",
           "write_part10"]
