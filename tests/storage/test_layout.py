"""`serve --layout flat|patient|study` (``storage.layout``): path components made safe from
hostile values, directories made (and their entries fsynced) when an object completes, and
objects sent over 127.0.0.1 landing where the layout says, with nothing outside the output
directory and no ``.partial`` left."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid

from dicomtls.storage import incoming as incoming_module
from dicomtls.storage.incoming import make_directories
from dicomtls.storage.layout import (PATIENT_ID, SERIES_INSTANCE_UID, STUDY_INSTANCE_UID,
                                     UNKNOWN, check_layout, directories_to_sync,
                                     layout_components, safe_component)
from dicomtls.storage.part10 import write_part10
from dicomtls.storage.scp import StorageServer, safe_filename
from dicomtls.storage.scu import store

from test_store import SECONDARY_CAPTURE  # this directory is on sys.path
from test_structure import HEAD, PIXEL_DATA, ex

EXPLICIT = "1.2.840.10008.1.2.1"
CLI = [sys.executable, "-m", "dicomtls.cli.main"]


@pytest.mark.parametrize("value, component", [
    ("PID-12.3", "PID-12.3"),
    ("..", UNKNOWN), ("...", UNKNOWN), ("../../etc/passwd", "_.._etc_passwd"),
    ("a/b\\c", "a_b_c"), ("x\0y", "x_y"), ("1.2.3\0", "1.2.3"), (" spaced out ", "spaced_out"),
    (".hidden", "hidden"), ("", UNKNOWN), (None, UNKNOWN), ("Müller^Hans", "M_ller_Hans"),
    ("9" * 100, "9" * 64), ("C:\\x", "C__x"), ("*?<>|", "_____"),
])
def test_safe_component(value, component):
    assert safe_component(value) == component
    assert "/" not in component and component not in (".", "..") and "\0" not in component


def test_layout_components_and_unknown_values():
    values = {PATIENT_ID: b"P1 ", STUDY_INSTANCE_UID: b"1.2.3\0", SERIES_INSTANCE_UID: b"1.2.4"}
    assert layout_components("flat", values) == ()
    assert layout_components("patient", values) == ("P1", "1.2.3", "1.2.4")
    assert layout_components("study", values) == ("1.2.3", "1.2.4")
    assert layout_components("patient", {SERIES_INSTANCE_UID: b"/"}) == (UNKNOWN, UNKNOWN, "_")
    with pytest.raises(ValueError, match="flat, patient, study"):
        check_layout("series")
    with pytest.raises(ValueError, match="flat, patient, study"):
        StorageServer("/nonexistent", layout="by-date")


def test_directories_to_sync(tmp_path):
    root = str(tmp_path)
    leaf = os.path.join(root, "a", "b")
    assert directories_to_sync(root, leaf) == [leaf, os.path.join(root, "a"), root]
    assert directories_to_sync(root, root) == [root]


@pytest.fixture
def directory_fsyncs(monkeypatch):
    """The directories fsynced (the real fsync runs: the indirection only counts)."""
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(incoming_module, "_os_fsync", fsync)
    return synced


def test_make_directories_fsyncs_each_new_entry(tmp_path, directory_fsyncs):
    root = str(tmp_path)
    leaf = make_directories(root, ("a", "b", "c"))
    assert leaf == os.path.join(root, "a", "b", "c") and os.path.isdir(leaf)
    assert directory_fsyncs == [root, os.path.join(root, "a"), os.path.join(root, "a", "b")]
    directory_fsyncs.clear()
    make_directories(root, ("a", "b", "d"), fsync=True)   # only "d" is new
    assert directory_fsyncs == [os.path.join(root, "a", "b")]
    directory_fsyncs.clear()
    make_directories(root, ("a", "e"), fsync=False)
    assert directory_fsyncs == [] and os.path.isdir(os.path.join(root, "a", "e"))
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        make_directories(root, ("file", "x"))


def make_object(path, patient_id, study, series, *, size=20_000) -> str:
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    if patient_id is not None:
        ds.PatientID = patient_id
    if study is not None:
        ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PixelData = os.urandom(size)
    ds["PixelData"].VR = "OB"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = EXPLICIT
    ds.save_as(path, enforce_file_format=True)
    return ds.SOPInstanceUID


def all_files(root) -> list:
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


@pytest.mark.parametrize("window", [8, 1], ids=["async-window", "one-at-a-time"])
def test_patient_layout_over_the_network(tmp_path, directory_fsyncs, window):
    """Objects of two patients, one with a hostile Patient ID and one with none, land in
    DIR/<patient>/<study>/<series>/; the release fsyncs each directory renamed into and the
    ones above it, once each."""
    src = tmp_path / "src"
    src.mkdir()
    study, series_a, series_b = generate_uid(), generate_uid(), generate_uid()
    uids = {
        make_object(src / "1.dcm", "P1", study, series_a): f"P1/{study}/{series_a}",
        make_object(src / "2.dcm", "P1", study, series_a): f"P1/{study}/{series_a}",
        make_object(src / "3.dcm", "P1", study, series_b): f"P1/{study}/{series_b}",
        make_object(src / "4.dcm", "../../evil", study, series_a):
            f"_.._evil/{study}/{series_a}",
        make_object(src / "5.dcm", None, None, series_a): f"{UNKNOWN}/{UNKNOWN}/{series_a}",
    }
    out = tmp_path / "out"
    out.mkdir()
    with StorageServer(out, timeout=20, layout="patient") as server:
        summary = store("127.0.0.1", server.port, [src], timeout=20, async_window=window)
        server.close()
    assert summary.failed == 0 and summary.sent == 5
    assert all_files(out) == sorted(f"{d}/{safe_filename(uid)}" for uid, d in uids.items())
    assert all_files(tmp_path) == sorted([f"src/{n}.dcm" for n in range(1, 6)] +
                                         [f"out/{f}" for f in all_files(out)])
    leaves = {os.path.join(out, d) for d in uids.values()}
    at_release = directory_fsyncs[-len(set(
        a for leaf in leaves for a in directories_to_sync(str(out), leaf))):]
    assert set(at_release) == {a for leaf in leaves for a in directories_to_sync(str(out), leaf)}
    assert len(at_release) == len(set(at_release))


def test_layout_without_validation_still_sorts(tmp_path):
    """--validate none with a layout: the values recorded before a malformation still place
    the object (it is stored, as without validation)."""
    src = tmp_path / "truncated.dcm"
    body = HEAD + ex(PATIENT_ID, b"LO", b"P9") + ex(STUDY_INSTANCE_UID, b"UI", b"1.9\0") + \
        ex(PIXEL_DATA, b"OB", bytes(16), length=2 << 30)
    write_part10(src, SECONDARY_CAPTURE, "1.2.3.4.5", EXPLICIT, body)
    out = tmp_path / "out"
    out.mkdir()
    with StorageServer(out, timeout=20, layout="patient", validate="none") as server:
        summary = store("127.0.0.1", server.port, [src], timeout=20)
        server.close()
    assert summary.sent == 1
    assert all_files(out) == [f"P9/1.9/{UNKNOWN}/{safe_filename('1.2.3.4.5')}"]


def test_cli_serve_layout_study(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    study, series = generate_uid(), generate_uid()
    uid = make_object(src / "a.dcm", "P1", study, series)
    out = tmp_path / "out"
    serve = subprocess.Popen(CLI + ["serve", "0", "--out", str(out), "--once", "--layout",
                                    "study"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        line = serve.stderr.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        summary = store("127.0.0.1", port, [src], timeout=20)
        assert serve.wait(20) == 0
    finally:
        serve.kill()
    assert summary.sent == 1
    assert all_files(out) == [f"{study}/{series}/{safe_filename(uid)}"]
