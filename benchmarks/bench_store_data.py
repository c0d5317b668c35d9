"""The data sets of bench_store.py, made with pydicom: one large multi-frame object or many
small ones, Explicit VR Little Endian, random pixel data (content does not matter to C-STORE).
Pixel Data is appended in blocks after the pydicom-written rest, so a 1 GiB object never sits
in memory."""

from __future__ import annotations

import glob
import os

MIB = 1 << 20


def _write_object(path: str, sop_class: str, rows: int, cols: int, frames: int,
                  block: bytes, repeat: int = 1) -> None:
    """Pixel Data = ``block`` x ``repeat``, appended in blocks after the pydicom-written rest
    (a 1 GiB object never sits in this process's memory)."""
    import struct
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Bench^Store"
    ds.PatientID = "BENCH"
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.save_as(path, enforce_file_format=True)
    # (7FE0,0010) OW, Explicit VR Little Endian: tag, VR, 2 reserved bytes, 4-byte length.
    with open(path, "ab") as f:
        f.write(struct.pack("<HH2s2xI", 0x7FE0, 0x0010, b"OW", len(block) * repeat))
        for _ in range(repeat):
            f.write(block)


def make_big(directory: str, mib: int) -> None:
    os.makedirs(directory)
    block = os.urandom(MIB)  # 1 MiB frame, repeated: content does not matter to C-STORE
    _write_object(os.path.join(directory, "big.dcm"), "1.2.840.10008.5.1.4.1.1.7.3",
                  512, 1024, mib, block, mib)


def make_small(directory: str, count: int) -> None:
    os.makedirs(directory)
    for i in range(count):
        _write_object(os.path.join(directory, f"obj{i:05d}.dcm"), "1.2.840.10008.5.1.4.1.1.7",
                      512, 512, 1, os.urandom(MIB // 2))


def make_client_dirs(root: str, clients: int, objects: int, size: int) -> list[str]:
    """One directory per concurrent client under ``root``, each with ``objects`` Secondary
    Capture objects of ``size`` pixel bytes (unique UIDs): the inputs of bench_workers.py and
    bench_memory.py."""
    dirs = []
    for c in range(clients):
        d = os.path.join(root, f"client{c}")
        os.makedirs(d)
        for i in range(objects):
            _write_object(os.path.join(d, f"o{i:04d}.dcm"), "1.2.840.10008.5.1.4.1.1.7",
                          512, max(1, size // 1024), 1, os.urandom(size))
        dirs.append(d)
    return dirs


def dataset_bytes(directory: str) -> tuple[list[str], int]:
    from dicomtls.storage.part10 import read_meta
    files = sorted(glob.glob(os.path.join(directory, "*.dcm")))
    return files, sum(read_meta(f).dataset_length for f in files)
