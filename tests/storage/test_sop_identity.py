"""The SOP Class/Instance UIDs of a data set, read from its first bytes (``sop_identity``), and
``store()`` naming an object by its data set's UIDs rather than its file meta's (pydicom's
rtplan.dcm has a different SOP Instance UID in each)."""

from __future__ import annotations

import os
import shutil
import struct
import zlib

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.storage.part10 import read_dataset, read_meta, write_part10
from dicomtls.storage.scp import StorageServer, safe_filename
from dicomtls.storage.scu import store
from dicomtls.storage.sop_identity import dataset_sop_uids

IMPLICIT, EXPLICIT, BIG, DEFLATED = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                     "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")
CLS, INST = b"1.2.840.10008.5.1.4.1.1.7\0", b"1.2.3.4.5"


def explicit(group, elem, vr, value, endian="<"):
    if vr in (b"OB", b"SQ", b"UN", b"UT"):
        return struct.pack(endian + "HH2s2xI", group, elem, vr, len(value)) + value
    return struct.pack(endian + "HH2sH", group, elem, vr, len(value)) + value


def implicit(group, elem, value):
    return struct.pack("<HHI", group, elem, len(value)) + value


def explicit_dataset(endian="<"):
    inst = INST + b"\0"  # odd length padded with NUL, as UIs are
    return b"".join([explicit(0x0008, 0x0005, b"CS", b"ISO_IR 100", endian),
                     explicit(0x0008, 0x0008, b"CS", b"ORIGINAL\\PRIMARY ", endian),
                     explicit(0x0008, 0x0012, b"UN", b"\x01\x02", endian),  # a long-form VR
                     explicit(0x0008, 0x0016, b"UI", CLS, endian),
                     explicit(0x0008, 0x0018, b"UI", inst, endian),
                     explicit(0x0010, 0x0010, b"PN", b"Doe^J ", endian)])


WANT = ("1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.5")


def test_explicit_little_and_big_endian():
    assert dataset_sop_uids(explicit_dataset(), EXPLICIT) == WANT
    assert dataset_sop_uids(explicit_dataset(">"), BIG) == WANT


def test_implicit_little_endian():
    data = implicit(0x0008, 0x0016, CLS) + implicit(0x0008, 0x0018, INST + b"\0") + \
        implicit(0x0020, 0x000D, b"1.2\0")
    assert dataset_sop_uids(data, IMPLICIT) == WANT


def test_deflated_data_set_is_inflated_first():
    raw = explicit_dataset()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = deflater.compress(raw) + deflater.flush()
    assert dataset_sop_uids(data, DEFLATED, complete=True) == WANT


def test_absent_elements_are_none_only_when_the_data_set_is_complete():
    data = explicit(0x0008, 0x0016, b"UI", CLS)  # no SOP Instance UID, nothing after it
    assert dataset_sop_uids(data, EXPLICIT, complete=True) == (WANT[0], None)
    with pytest.raises(ValueError, match="end before"):
        dataset_sop_uids(data, EXPLICIT)   # the rest of the data set may still hold it


@pytest.mark.parametrize("data, why", [
    (explicit_dataset()[:40], "end"),                                         # cut short
    (struct.pack("<HH2s2xI", 0x0008, 0x0006, b"SQ", 0xFFFFFFFF), "undefined-length"),
    (b"\x08\x00", "end before"),
])
def test_what_cannot_be_walked_raises_value_error(data, why):
    with pytest.raises(ValueError, match=why):
        dataset_sop_uids(data, EXPLICIT)


def test_read_meta_falls_back_to_pydicom_past_an_undefined_length_sequence(tmp_path):
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + \
        explicit(0x0008, 0x0100, b"SH", b"eng ") + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    sequence = struct.pack("<HH2s2xI", 0x0008, 0x0006, b"SQ", 0xFFFFFFFF) + item + \
        struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)   # Language Code Sequence, undefined length
    data = sequence + explicit(0x0008, 0x0016, b"UI", CLS) + \
        explicit(0x0008, 0x0018, b"UI", b"1.2.3.999\0")
    path = tmp_path / "seq.dcm"
    write_part10(path, CLS.rstrip(b"\0").decode(), "1.2.3.4", EXPLICIT, data)
    with pytest.raises(ValueError, match="undefined-length"):
        dataset_sop_uids(data, EXPLICIT, complete=True)
    meta = read_meta(path)   # pydicom walks the sequence
    assert (meta.sop_instance_uid, meta.media_sop_instance_uid) == ("1.2.3.999", "1.2.3.4")


@pytest.mark.parametrize("name", ["rtplan.dcm", "image_dfl.dcm", "MR_small_bigendian.dcm"])
def test_store_names_the_object_by_its_data_set(name, tmp_path):
    """C-STORE-RQ Affected SOP Instance UID = the data set's (0008,0018); the SCP files the
    object under it; the data set arrives unchanged."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(get_testdata_file(name), src / name)
    ref = pydicom.dcmread(src / name, stop_before_pixels=True)
    seen = []
    with StorageServer(tmp_path / "out", timeout=20,
                       on_stored=lambda path, msg: seen.append(msg)) as server:
        os.makedirs(tmp_path / "out")
        summary = store("127.0.0.1", server.port, [src], timeout=20)
        server.close()
    (result,) = summary.results
    assert result.ok, result.error
    assert result.sop_instance_uid == ref.SOPInstanceUID
    (msg,) = seen
    assert (msg.affected_sop_class_uid, msg.affected_sop_instance_uid) == \
        (ref.SOPClassUID, ref.SOPInstanceUID)
    stored = tmp_path / "out" / safe_filename(ref.SOPInstanceUID)
    assert read_dataset(read_meta(stored)) == read_dataset(read_meta(src / name))
    if name == "rtplan.dcm":  # the case this is about: the file meta says otherwise
        assert ref.file_meta.MediaStorageSOPInstanceUID != ref.SOPInstanceUID
