"""Part 10 meta reading without decoding, writing preamble + meta + unchanged data set, and the
rare Implicit <-> Explicit VR LE conversion."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.storage.part10 import (FileMeta, Part10Error, convert_dataset, file_meta_bytes,
                                     iter_dataset_chunks, read_dataset, read_meta, write_part10)
from dicomtls.storage.scp import STORAGE_SOP_CLASSES, SUPPORTED, safe_filename
from dicomtls.ul.items import PresentationContextRQ
from dicomtls.ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLEMENTATION_CLASS_UID,
                                     IMPLICIT_VR_LITTLE_ENDIAN, accept_in_proposer_order)

FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
         "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm", "rtplan.dcm",
         "JPEGLSNearLossless_08.dcm"]


def _pydicom_offset(path):
    with open(path, "rb") as f:
        pydicom.filereader.read_preamble(f, False)
        pydicom.filereader._read_file_meta_info(f)
        return f.tell()


@pytest.mark.parametrize("name", FILES)
def test_read_meta_matches_pydicom(name):
    path = get_testdata_file(name)
    meta = read_meta(path)
    ref = pydicom.dcmread(path, stop_before_pixels=True)
    assert meta.media_sop_class_uid == ref.file_meta.MediaStorageSOPClassUID
    assert meta.media_sop_instance_uid == ref.file_meta.MediaStorageSOPInstanceUID
    # What a C-STORE-RQ names: the data set's own UIDs (DCMTK and pynetdicom do the same).
    assert meta.sop_class_uid == ref.SOPClassUID
    assert meta.sop_instance_uid == ref.SOPInstanceUID
    assert meta.transfer_syntax_uid == ref.file_meta.TransferSyntaxUID
    assert meta.dataset_offset == _pydicom_offset(path)
    cls, inst, ts, off = meta  # the documented 4-tuple
    assert (cls, inst, ts, off) == (meta.sop_class_uid, meta.sop_instance_uid,
                                    meta.transfer_syntax_uid, meta.dataset_offset)


@pytest.mark.parametrize("name", FILES)
def test_round_trip_dataset_bytes_identical(name, tmp_path):
    src = read_meta(get_testdata_file(name))
    out = tmp_path / "out.dcm"
    write_part10(out, src.sop_class_uid, src.sop_instance_uid, src.transfer_syntax_uid,
                 iter_dataset_chunks(src, chunk_size=1000), source_ae="SENDER")
    back = read_meta(out)
    assert read_dataset(back) == read_dataset(src)
    assert (back.sop_class_uid, back.sop_instance_uid, back.transfer_syntax_uid) == \
        (src.sop_class_uid, src.sop_instance_uid, src.transfer_syntax_uid)
    ds = pydicom.dcmread(out)
    fm = ds.file_meta
    assert fm.FileMetaInformationVersion == b"\x00\x01"
    assert fm.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert fm.SourceApplicationEntityTitle == "SENDER"
    assert fm.FileMetaInformationGroupLength == back.dataset_offset - 132 - 12
    ref = pydicom.dcmread(get_testdata_file(name))
    assert ds.SOPInstanceUID == ref.SOPInstanceUID
    assert len(ds) == len(ref)


def test_meta_bytes_are_even_and_explicit_le():
    raw = file_meta_bytes("1.2.3", "1.2.3.4", IMPLICIT_VR_LITTLE_ENDIAN)  # odd-length UIDs
    assert raw[:128] == bytes(128) and raw[128:132] == b"DICM"
    assert len(raw) % 2 == 0
    assert b"AE" not in raw[132:]  # no Source AE without one
    meta = pydicom.filereader.read_file_meta_info  # parses our bytes
    import io
    f = io.BytesIO(raw)
    pydicom.filereader.read_preamble(f, False)
    fm = pydicom.filereader._read_file_meta_info(f)
    assert fm.MediaStorageSOPInstanceUID == "1.2.3.4" and meta


def test_not_part10(tmp_path):
    bad = tmp_path / "x.txt"
    bad.write_bytes(b"hello" * 100)
    with pytest.raises(Part10Error, match="not a DICOM Part 10"):
        read_meta(bad)
    with pytest.raises(Part10Error):
        read_meta(tmp_path)  # a directory
    with pytest.raises(Part10Error):
        read_meta(get_testdata_file("ExplVR_LitEndNoMeta.dcm"))


def test_chunks_are_bounded(tmp_path):
    src = read_meta(get_testdata_file("CT_small.dcm"))
    chunks = list(iter_dataset_chunks(src, chunk_size=4096))
    assert max(len(c) for c in chunks) == 4096 and b"".join(chunks) == read_dataset(src)
    assert isinstance(src, FileMeta) and src.dataset_length == len(read_dataset(src))


@pytest.mark.parametrize("name,ts_from,ts_to", [
    ("MR_small_implicit.dcm", IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN),
    ("CT_small.dcm", EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN),
])
def test_conversion_between_little_endian_syntaxes(name, ts_from, ts_to, tmp_path):
    src = read_meta(get_testdata_file(name))
    assert src.transfer_syntax_uid == ts_from
    converted = convert_dataset(read_dataset(src), ts_from, ts_to)
    out = tmp_path / "c.dcm"
    write_part10(out, src.sop_class_uid, src.sop_instance_uid, ts_to, converted)
    ds, ref = pydicom.dcmread(out), pydicom.dcmread(src.path)
    assert ds.file_meta.TransferSyntaxUID == ts_to
    assert ds.PixelData == ref.PixelData and ds.SOPInstanceUID == ref.SOPInstanceUID
    assert convert_dataset(converted, ts_to, ts_from) is not None


def test_conversion_refused_for_compressed():
    src = read_meta(get_testdata_file("JPEG2000.dcm"))
    with pytest.raises(Part10Error, match="cannot convert"):
        convert_dataset(read_dataset(src), src.transfer_syntax_uid, EXPLICIT_VR_LITTLE_ENDIAN)


def test_safe_filename():
    assert safe_filename("1.2.3") == "1.2.3.dcm"
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd.dcm"
    assert safe_filename("1.2\0") == "1.2.dcm"
    assert safe_filename("") == "unnamed.dcm" and safe_filename("..") == "unnamed.dcm"
    assert "/" not in safe_filename("a/b") and "\\" not in safe_filename("a\\b")


def test_storage_classes_generated_and_proposer_syntax_kept():
    assert "1.2.840.10008.5.1.4.1.1.2" in STORAGE_SOP_CLASSES          # CT Image Storage
    assert "1.2.840.10008.5.1.4.1.1.7" in STORAGE_SOP_CLASSES          # Secondary Capture
    assert "1.2.840.10008.1.20.1" not in STORAGE_SOP_CLASSES           # Storage Commitment
    assert "1.2.840.10008.1.3.10" not in STORAGE_SOP_CLASSES           # DICOMDIR
    assert len(STORAGE_SOP_CLASSES) > 150
    ct = "1.2.840.10008.5.1.4.1.1.2"
    answers = accept_in_proposer_order([  # how the server answers the storage contexts
        PresentationContextRQ(1, ct, ("1.2.840.10008.1.2.4.91", IMPLICIT_VR_LITTLE_ENDIAN)),
        PresentationContextRQ(3, ct, ("1.2.3.4.5.6",)),
        PresentationContextRQ(5, "1.2.3.4", (IMPLICIT_VR_LITTLE_ENDIAN,)),
        PresentationContextRQ(7, ct, ("1.2.840.10008.1.2.2",))], SUPPORTED)
    assert [(a.result, a.transfer_syntax) for a in answers] == [
        (0, "1.2.840.10008.1.2.4.91"), (4, None), (3, None), (0, "1.2.840.10008.1.2.2")]


def test_prefetch_is_advice_only(tmp_path):
    """``prefetch`` never fails: a missing file or an odd range is ignored."""
    from dicomtls.storage.part10 import prefetch
    prefetch(tmp_path / "missing.dcm")
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    prefetch(path)
    prefetch(path, 10, 10 << 30)   # past the end
    assert path.read_bytes() == b"x" * 1000
