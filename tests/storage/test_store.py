"""C-STORE end to end, our SCU -> our SCP over real loopback sockets (plain and TLS): every stored
file's data set is byte-compared with its source; aborted transfers leave nothing behind; a
failing output directory answers 0xA700 and the server keeps serving."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid

from dicomtls.storage import incoming as incoming_module
from dicomtls.storage import scp as scp_module
from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scp import StorageServer, safe_filename
from dicomtls.storage.scu import store
from dicomtls.tls.config import TLSConfig
from dicomtls.ul.negotiation import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
SAMPLES = ["CT_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm",
           "SC_rgb_rle.dcm", "ExplVR_BigEnd.dcm", "rtplan.dcm", "rtdose.dcm",
           "JPEGLSNearLossless_08.dcm", "JPGExtended.dcm"]


def make_object(path, size: int, *, syntax=EXPLICIT_VR_LITTLE_ENDIAN, uid=None) -> str:
    """A Secondary Capture object whose data set carries ``size`` bytes of OB Pixel Data."""
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = uid or generate_uid()
    ds.PatientName = "Test^Store"
    ds.Modality = "OT"
    ds.PixelData = os.urandom(16) * (size // 16)
    ds["PixelData"].VR = "OB"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=True)
    return ds.SOPInstanceUID


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """pydicom samples (unique SOP Instance UIDs) + 30 small synthetic objects, in a tree."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "samples").mkdir()
    (root / "synthetic" / "deeper").mkdir(parents=True)
    for name in SAMPLES:
        shutil.copy(get_testdata_file(name), root / "samples" / name)
    for i in range(30):
        sub = root / "synthetic" / ("deeper" if i % 2 else "")
        make_object(sub / f"obj{i}.dcm", 1000 + 977 * i,
                    syntax=IMPLICIT_VR_LITTLE_ENDIAN if i % 3 == 0 else EXPLICIT_VR_LITTLE_ENDIAN)
    (root / "samples" / "README.txt").write_text("not DICOM")
    return root


def tls_pair(pki):
    server = TLSConfig.from_profile(certificate=str(pki.server_cert),
                                    private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
    client = TLSConfig.from_profile(certificate=str(pki.client_cert),
                                    private_key=str(pki.client_key), ca_file=str(pki.ca_cert))
    return server, client


def assert_stored_identical(summary, out_dir):
    for r in summary.results:
        if not r.ok:
            continue
        stored = read_meta(os.path.join(out_dir, safe_filename(r.sop_instance_uid)))
        assert stored.transfer_syntax_uid == r.transfer_syntax, r.path
        assert read_dataset(stored) == read_dataset(read_meta(r.path)), r.path


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_store_tree_byte_identical(corpus, tmp_path, pki, use_tls):
    server_cfg, client_cfg = tls_pair(pki) if use_tls else (None, None)
    seen = []
    with StorageServer(tmp_path / "out", tls_config=server_cfg, timeout=20) as server:
        os.makedirs(tmp_path / "out")
        summary = store("127.0.0.1", server.port, [corpus], tls_config=client_cfg,
                        calling_ae="OURSCU", timeout=20, progress=seen.append)
        server.close()
    assert summary.sent == len(SAMPLES) + 30
    (bad,) = [r for r in summary.results if not r.ok]  # README.txt
    assert bad.path.endswith("README.txt") and "not a DICOM Part 10" in bad.error
    assert (summary.session is not None) == use_tls
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        safe_filename(r.sop_instance_uid) for r in summary.results if r.ok)
    assert_stored_identical(summary, tmp_path / "out")
    first_ok = next(r for r in summary.results if r.ok)
    ds = pydicom.dcmread(tmp_path / "out" / safe_filename(first_ok.sop_instance_uid))
    assert ds.file_meta.SourceApplicationEntityTitle == "OURSCU"
    (result,) = server.results
    assert (result.outcome, result.stored, result.failed) == ("released", summary.sent, 0)
    assert result.bytes_received == summary.bytes
    assert seen and seen[-1].objects_done == summary.sent and seen[-1].bytes_done == summary.bytes
    assert (result.session is not None) == use_tls and "objects received" in result.summary()


def test_large_object_streamed_in_bounded_pieces(tmp_path):
    """A 24 MiB object crosses in several flushes and arrives byte-identical."""
    src = tmp_path / "big.dcm"
    make_object(src, 24 << 20)
    calls = []
    with StorageServer(tmp_path / "out", timeout=20) as server:
        os.makedirs(tmp_path / "out")
        summary = store("127.0.0.1", server.port, [src], timeout=20, progress=calls.append)
        server.close()
    assert summary.sent == 1 and summary.failed == 0
    assert len(calls) >= 6  # progress after every 4 MiB flush: the file was never sent at once
    assert_stored_identical(summary, tmp_path / "out")


def test_concurrent_associations(corpus, tmp_path):
    summaries = []
    with StorageServer(tmp_path / "out", timeout=20) as server:
        os.makedirs(tmp_path / "out")
        threads = [threading.Thread(target=lambda: summaries.append(
            store("127.0.0.1", server.port, [corpus / "synthetic"], timeout=20)))
            for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        server.close()
    assert [s.sent for s in summaries] == [30] * 4
    assert len(server.results) == 4 and all(r.outcome == "released" for r in server.results)
    assert_stored_identical(summaries[0], tmp_path / "out")


def test_conversion_when_only_the_other_little_endian_is_accepted(tmp_path, monkeypatch):
    """The SCP accepts only Explicit VR LE: an Implicit VR LE file is converted; a JPEG 2000 file
    fails with a clear error; the others still go."""
    src = tmp_path / "src"
    src.mkdir()
    uid_i = make_object(src / "implicit.dcm", 5000, syntax=IMPLICIT_VR_LITTLE_ENDIAN)
    make_object(src / "explicit.dcm", 5000)
    shutil.copy(get_testdata_file("JPEG2000.dcm"), src / "j2k.dcm")
    only_explicit = {uid: (EXPLICIT_VR_LITTLE_ENDIAN,) for uid in scp_module.SUPPORTED}
    monkeypatch.setattr(scp_module, "SUPPORTED", only_explicit)
    with StorageServer(tmp_path / "out", timeout=20) as server:
        os.makedirs(tmp_path / "out")
        summary = store("127.0.0.1", server.port, [src], timeout=20)
        server.close()
    by_name = {os.path.basename(r.path): r for r in summary.results}
    assert by_name["explicit.dcm"].ok and by_name["implicit.dcm"].ok
    assert by_name["implicit.dcm"].sent_syntax == EXPLICIT_VR_LITTLE_ENDIAN
    assert not by_name["j2k.dcm"].ok and "cannot be converted" in by_name["j2k.dcm"].error
    stored = pydicom.dcmread(tmp_path / "out" / safe_filename(uid_i))
    assert stored.file_meta.TransferSyntaxUID == EXPLICIT_VR_LITTLE_ENDIAN
    assert stored.PixelData == pydicom.dcmread(src / "implicit.dcm").PixelData


def test_unwritable_directory_gives_a700_and_server_goes_on(tmp_path):
    src = tmp_path / "a.dcm"
    make_object(src, 10000)
    out = tmp_path / "out"
    with StorageServer(out, timeout=20) as server:  # the directory does not exist (yet)
        first = store("127.0.0.1", server.port, [src], timeout=20)
        out.mkdir()
        second = store("127.0.0.1", server.port, [src], timeout=20)
        server.close()
    (r,) = first.results
    assert r.status == 0xA700 and "Out of Resources" in r.error
    assert second.sent == 1 and os.listdir(out) == [safe_filename(second.results[0].sop_instance_uid)]
    assert sorted((x.stored, x.failed) for x in server.results) == [(0, 1), (1, 0)]


@pytest.mark.parametrize("size,fail_after,thread", [
    (3 << 20, 1 << 20, "association"),
    (12 << 20, 6 << 20, "dicomtls-writer"),   # past incoming.WRITER_FROM: the writer's thread
], ids=["written-inline", "written-by-the-writer"])
def test_disk_full_mid_object_gives_a700_and_next_object_stored(tmp_path, monkeypatch, size,
                                                                 fail_after, thread):
    assert (size > incoming_module.WRITER_FROM) == (thread == "dicomtls-writer")
    src = tmp_path / "src"
    src.mkdir()
    make_object(src / "1.dcm", size)
    make_object(src / "2.dcm", 100_000)
    real_writev, written, failed = os.writev, [0], []

    def full_disk(fd, buffers):  # the disk fills once, ``fail_after`` into the first object
        if written[0] > fail_after and not failed:
            failed.append(threading.current_thread().name)
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_writev(fd, buffers)
        written[0] += n
        return n

    monkeypatch.setattr(incoming_module, "_os_writev", full_disk)
    with StorageServer(tmp_path / "out", timeout=20) as server:
        os.makedirs(tmp_path / "out")
        summary = store("127.0.0.1", server.port, [src], timeout=20)
        server.close()
    r1, r2 = summary.results
    assert r1.status == 0xA700 and "No space left" in r1.error
    assert r2.ok
    assert os.listdir(tmp_path / "out") == [safe_filename(r2.sop_instance_uid)]  # no .partial
    assert failed[0].startswith("dicomtls-writer") == (thread == "dicomtls-writer")


CLIENT = textwrap.dedent("""\
    import sys, time
    from dicomtls.storage.scu import store
    def progress(p):
        if p.bytes_done >= 8 << 20:
            print("MID", flush=True)
            time.sleep(120)
    store("127.0.0.1", int(sys.argv[1]), [sys.argv[2]], timeout=60, progress=progress)
    """)


@pytest.mark.parametrize("use_tls", [False], ids=["plain"])
def test_killed_client_mid_object_leaves_no_file(tmp_path, use_tls):
    big = tmp_path / "big.dcm"
    make_object(big, 50 << 20)
    small = tmp_path / "small.dcm"
    make_object(small, 2000)
    out = tmp_path / "out"
    out.mkdir()
    with StorageServer(out, timeout=20) as server:
        proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(server.port), str(big)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "MID"
            deadline = time.monotonic() + 10
            while not any(n.endswith(".partial") for n in os.listdir(out)):
                assert time.monotonic() < deadline, "no .partial file while receiving"
                time.sleep(0.05)
        finally:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + 10
        while not server.results:
            assert time.monotonic() < deadline, "the server did not notice the dead peer"
            time.sleep(0.05)
        assert os.listdir(out) == []  # neither the .partial nor a .dcm
        after = store("127.0.0.1", server.port, [small], timeout=20)
        server.close()
    assert after.sent == 1
    assert os.listdir(out) == [safe_filename(after.results[0].sop_instance_uid)]
    first = server.results[0]
    assert first.outcome in ("aborted", "error") and first.stored == 0


def test_cli_store_json_and_serve_once(corpus, tmp_path):
    out = tmp_path / "out"
    serve = subprocess.Popen([sys.executable, "-m", "dicomtls.cli.main", "serve", "0", "--out",
                              str(out), "--once", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = serve.stderr.readline()
        port = int(line.split("127.0.0.1:")[1].split(",")[0])
        proc = subprocess.run([sys.executable, "-m", "dicomtls.cli.main", "store", "127.0.0.1",
                               str(port), str(corpus / "synthetic"), "--json", "--aet", "CLI"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert (record["sent"], record["failed"]) == (30, 0)
        assert record["bytes"] > 0 and record["seconds"] > 0 and record["session"] is None
        assert "obj/s" in proc.stderr and "MB/s" in proc.stderr
        assert serve.wait(20) == 0
        served = json.loads(serve.stdout.read())
        assert (served["stored"], served["calling_ae"], served["outcome"]) == (30, "CLI",
                                                                                 "released")
    finally:
        serve.kill()
    assert len(os.listdir(out)) == 30
