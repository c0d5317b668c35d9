"""The DICOM half of `dicomtls demo`: C-STORE over TLS on loopback, checked byte for byte.

A Storage SCP runs in this process on 127.0.0.1 with the dev PKI's server certificate; the SCU
stores pydicom's sample objects plus synthetic 1 MiB objects (made once, cached beside the PKI)
over one mutually authenticated association, then every stored file's data set is compared with
its source's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..storage.part10 import read_dataset, read_meta
from ..storage.scp import StorageServer, safe_filename
from ..storage.scu import scan, store

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"


def sample_files() -> list[str]:
    """The test objects bundled inside the pydicom package that are Part 10 files, one per SOP
    Instance UID, whose data sets are well formed (pydicom also ships deliberately broken ones,
    which `serve` rightly refuses: ``storage.structure``). Read from the package directory:
    pydicom's get_testdata_files() would try to download its external test files first, and
    without network that can hang for minutes."""
    import pydicom.data
    bundled = Path(pydicom.data.__file__).parent / "test_files"
    metas, _bad = scan(sorted(str(p) for p in bundled.glob("*.dcm")))
    seen, out = set(), []
    for meta in metas:
        if meta.sop_instance_uid not in seen and _well_formed(meta):
            seen.add(meta.sop_instance_uid)
            out.append(meta.path)
    return out


def _well_formed(meta) -> bool:
    from ..storage.structure import DatasetStructureError, StructureValidator
    validator = StructureValidator(meta.transfer_syntax_uid)
    try:
        validator.feed(read_dataset(meta))
        validator.finish()
    except DatasetStructureError:
        return False
    return True


def synthetic_files(directory: Path, count: int, size: int = 1 << 20) -> list[str]:
    """``count`` Secondary Capture objects of ``size`` pixel bytes each (a multiple of 1 MiB;
    made once, then reused)."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    pixels = bytes(range(256)) * (max(1, size >> 20) << 12)
    for i in range(count):
        path = directory / f"synthetic-{size}-{i:04d}.dcm"
        paths.append(str(path))
        if path.exists():
            continue
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = EXPLICIT_VR_LE
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = SECONDARY_CAPTURE, meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID, ds.Modality = "DEMO^DICOMTLS", "DEMO", "OT"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        # 1 MiB frames of 1024 x 1024 8-bit pixels: any multiple of 1 MiB fits the US fields.
        ds.Rows, ds.Columns, ds.NumberOfFrames = 1024, 1024, max(1, size >> 20)
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 8, 8, 7
        ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
        ds.PixelData = pixels
        tmp = path.with_suffix(".tmp")
        pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
        os.replace(tmp, path)
    return paths


def run_store_demo(server_cfg, client_cfg, cache_dir: Path, synthetic: int) -> int:
    """Store the demo set over TLS; print session, throughput and the byte check. 0 = all good."""
    files = sample_files() + synthetic_files(cache_dir / "demo-objects", synthetic)
    with tempfile.TemporaryDirectory(prefix="dicomtls-demo-") as out_dir:
        with StorageServer(out_dir, tls_config=server_cfg, ae_title="DICOMTLS-SCP",
                           timeout=60) as server:
            summary = store("127.0.0.1", server.port, files, tls_config=client_cfg,
                            called_ae="DICOMTLS-SCP", calling_ae="DICOMTLS-DEMO",
                            server_name="localhost")
        served = server.results[-1] if server.results else None
        print(f"C-STORE over TLS: {summary.session.summary()}")
        if served is not None:
            print(f"SCP saw: {served.summary()}")
        mb = summary.bytes / 1e6
        rate = mb / summary.seconds if summary.seconds else 0.0
        print(f"stored {summary.sent} of {len(summary.results)} objects, {mb:.1f} MB in "
              f"{summary.seconds:.2f} s: {rate:.1f} MB/s, "
              f"{summary.sent / summary.seconds if summary.seconds else 0:.0f} objects/s")
        mismatches = _compare(summary, out_dir)
        failed = [r for r in summary.results if not r.ok]
        for r in failed:
            print(f"  not stored: {r.path}: {r.error or hex(r.status or 0)}")
        print(f"byte check: {summary.sent - len(mismatches)} of {summary.sent} stored data sets "
              f"are identical to their sources" + (f"; DIFFERENT: {mismatches}" if mismatches
                                                   else ""))
    return 1 if (mismatches or failed or not summary.sent) else 0


def _compare(summary, out_dir: str) -> list[str]:
    mismatches = []
    for r in summary.results:
        if not r.ok:
            continue
        stored = os.path.join(out_dir, safe_filename(r.sop_instance_uid))
        try:
            same = read_dataset(read_meta(stored)) == read_dataset(read_meta(r.path))
        except (OSError, ValueError) as exc:
            same = False
            r.error = str(exc)
        if not same and r.sent_syntax == r.transfer_syntax:
            mismatches.append(os.path.basename(r.path))
    return mismatches
