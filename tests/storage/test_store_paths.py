"""The bulk paths of C-STORE, end to end over loopback: small received fragments gathered into
few writes, the fsync modes (per file + directory once per association, or ``--no-fsync``),
early writeback of large objects, and a source file that changes under the SCU. The disk
indirections of ``storage.scp`` are wrapped to count calls; every call still goes to the OS."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from dicomtls.io.association_runner import accept_transport, serve_association
from dicomtls.io.tls_socket import listen
from dicomtls.storage import incoming as incoming_module
from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scp import StorageServer, StorageService, safe_filename
from dicomtls.storage.scu import store

from test_store import assert_stored_identical, make_object  # this directory is on sys.path


@pytest.fixture
def disk_calls(monkeypatch):
    """Counts of writev (with the buffers and bytes per call), fsync of files and of directories, and
    fadvise, all passed on to the real calls."""
    calls = {"writev": [], "bytes": [], "fsync_file": 0, "fsync_dir": 0, "fadvise": []}
    real_writev, real_fsync, real_fadvise = os.writev, os.fsync, os.posix_fadvise

    def writev(fd, buffers):
        calls["writev"].append(len(buffers))
        calls["bytes"].append(sum(len(b) for b in buffers))
        return real_writev(fd, buffers)

    def fsync(fd):
        calls["fsync_dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync_file"] += 1
        return real_fsync(fd)

    def fadvise(fd, offset, length, advice):
        calls["fadvise"].append((offset, length, advice))
        return real_fadvise(fd, offset, length, advice)

    monkeypatch.setattr(incoming_module, "_os_writev", writev)
    monkeypatch.setattr(incoming_module, "_os_fsync", fsync)
    monkeypatch.setattr(incoming_module, "_fadvise", fadvise)
    return calls


def test_small_pdus_are_gathered_into_few_writes(tmp_path, disk_calls):
    """An SCP announcing 16 KiB PDUs gets 16 KiB fragments; they are gathered into writev calls
    of up to 64 KiB (four fragments each, not one call per PDU), and the file is
    byte-identical."""
    src = tmp_path / "obj.dcm"
    make_object(src, 3 << 20)
    out = tmp_path / "out"
    out.mkdir()
    listener = listen("127.0.0.1", 0)
    results = []

    def serve():
        transport = accept_transport(listener, None, 20)
        results.append(serve_association(transport, [StorageService(out)], timeout=20,
                                         max_pdu_length=16384))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        summary = store("127.0.0.1", listener.getsockname()[1], [src], timeout=20)
    finally:
        thread.join(20)
        listener.close()
    assert summary.sent == 1 and results[0].stored == 1
    assert_stored_identical(summary, out)
    writes = disk_calls["writev"]
    assert max(writes) >= 4                      # several 16 KiB fragments per system call
    assert sum(disk_calls["bytes"]) >= 3 << 20
    assert max(disk_calls["bytes"]) <= incoming_module.WRITE_CALL
    assert len(writes) <= (3 << 20) // (48 << 10) + 3


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_fsync_per_file_and_directory_once_per_association(tmp_path, disk_calls, fsync):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        make_object(src / f"{i}.dcm", 20_000)
    out = tmp_path / "out"
    with StorageServer(out, timeout=20, fsync=fsync) as server:
        out.mkdir()
        summary = store("127.0.0.1", server.port, [src], timeout=20)
        server.close()
    assert summary.sent == 5
    assert_stored_identical(summary, out)
    assert (disk_calls["fsync_file"], disk_calls["fsync_dir"]) == ((5, 1) if fsync else (0, 0))


def test_large_object_writeback_starts_while_receiving(tmp_path, disk_calls):
    """With fsync, every 16 MiB written has its writeback started (fadvise DONTNEED) so the
    final fsync is short; without fsync nothing is advised."""
    src = tmp_path / "big.dcm"
    make_object(src, 40 << 20)
    for fsync in (True, False):
        out = tmp_path / f"out-{fsync}"
        with StorageServer(out, timeout=30, fsync=fsync) as server:
            out.mkdir()
            summary = store("127.0.0.1", server.port, [src], timeout=30)
            server.close()
        assert summary.sent == 1
        assert_stored_identical(summary, out)
        advised = list(disk_calls["fadvise"])
        disk_calls["fadvise"].clear()
        if fsync:
            assert len(advised) == 2 and {a for *_, a in advised} == {os.POSIX_FADV_DONTNEED}
            assert advised[0][0] == 0 and advised[1][0] == advised[0][1]  # consecutive ranges
        else:
            assert advised == []


def test_cli_serve_no_fsync(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_object(src / "a.dcm", 50_000)
    out = tmp_path / "out"
    cli = [sys.executable, "-m", "dicomtls.cli.main"]
    serve = subprocess.Popen(cli + ["serve", "0", "--out", str(out), "--once", "--no-fsync"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = serve.stderr.readline()
        assert "without fsync" in line
        port = int(line.split("127.0.0.1:")[1].split(",")[0])
        proc = subprocess.run(cli + ["store", "127.0.0.1", str(port), str(src), "--quiet"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert serve.wait(20) == 0
    finally:
        serve.kill()
    meta = read_meta(src / "a.dcm")
    stored = out / safe_filename(meta.sop_instance_uid)
    assert read_dataset(read_meta(stored)) == read_dataset(meta)


def test_file_changed_after_the_scan_fails_that_file_only(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_object(src / "1.dcm", 6 << 20)
    make_object(src / "2.dcm", 10_000)
    make_object(src / "3.dcm", 10_000)
    grown = []

    def progress(p):  # while 1.dcm is being sent, 2.dcm grows
        if not grown:
            with open(src / "2.dcm", "ab") as f:
                f.write(b"\0" * 8)
            grown.append(True)

    with StorageServer(tmp_path / "out", timeout=20) as server:
        os.makedirs(tmp_path / "out")
        summary = store("127.0.0.1", server.port, [src], timeout=20, progress=progress)
        server.close()
    r1, r2, r3 = summary.results
    assert r1.ok and r3.ok and not r2.ok and r2.status is None
    assert "changed since it was scanned" in r2.error
    assert server.results[0].outcome == "released"


def test_file_truncated_while_sending_aborts_and_leaves_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_object(src / "1.dcm", 12 << 20)
    make_object(src / "2.dcm", 10_000)
    cut = []

    def progress(p):  # after the first 4 MiB write, 1.dcm shrinks to 5 MiB
        if not cut:
            os.truncate(src / "1.dcm", 5 << 20)
            cut.append(True)

    out = tmp_path / "out"
    with StorageServer(out, timeout=20) as server:
        out.mkdir()
        summary = store("127.0.0.1", server.port, [src], timeout=20, progress=progress)
        server.close()
    r1, r2 = summary.results
    assert not r1.ok and "before its announced length" in r1.error
    assert not r2.ok and "aborted" in r2.error      # the association could not go on
    assert os.listdir(out) == []                    # the partial object was discarded
    assert server.results[0].outcome in ("aborted", "error")


class CountingService(StorageService):
    """Tracks how many C-STOREs the SCU had outstanding (received, not yet answered), the
    order of the responses and whether objects were finished in the background."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started = self.answered = self.most = 0
        self.answer_order: list = []
        self.window = None
        self.background = False

    def store_started(self, link, event):
        self.started += 1
        self.most = max(self.most, self.started - self.answered)
        self.window = link.assoc.async_window
        super().store_started(link, event)

    def store_complete(self, link, event):
        super().store_complete(link, event)
        self.background = self.background or link.has_background

    def _respond(self, link, incoming, status):
        self.answered += 1
        self.answer_order.append(incoming.message.message_id)
        super()._respond(link, incoming, status)


def serve_one(listener, service):
    results = []

    def run():
        transport = accept_transport(listener, None, 20)
        results.append(serve_association(transport, [service], timeout=20))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


@pytest.mark.parametrize("scu_window, scp_window, agreed", [
    (8, 3, (3, 1)),     # the SCP's limit wins
    (2, 8, (2, 1)),     # the SCU's proposal wins
    (1, 8, (1, 1)),     # the SCU proposes nothing: one at a time, no worker
])
def test_async_window_is_negotiated_and_honoured(tmp_path, scu_window, scp_window, agreed):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        make_object(src / f"{i:02d}.dcm", 30_000)
    out = tmp_path / "out"
    out.mkdir()
    listener = listen("127.0.0.1", 0)
    handler = CountingService(out, async_window=scp_window)
    thread, results = serve_one(listener, handler)
    try:
        summary = store("127.0.0.1", listener.getsockname()[1], [src], timeout=20,
                        async_window=scu_window)
    finally:
        thread.join(20)
        listener.close()
    assert summary.sent == 12 and results[0].stored == 12 and results[0].outcome == "released"
    assert_stored_identical(summary, out)
    assert handler.window == agreed
    assert 1 <= handler.most <= agreed[0]
    assert handler.answer_order == sorted(handler.answer_order)  # in order, all before release
    assert [n for n in os.listdir(out) if n.endswith(".partial")] == []  # spares removed
    assert handler.background == (agreed[0] != 1)   # one at a time: no worker


def test_abort_with_objects_in_flight_keeps_the_complete_ones(tmp_path):
    """The SCU dies with several objects outstanding: those received whole are finished by the
    worker (complete, under their names); the partial one is discarded; the server goes on."""
    out = tmp_path / "out"
    out.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        make_object(src / f"{i}.dcm", 200_000)
    make_object(src / "4.dcm", 8 << 20)
    client = textwrap.dedent("""\
        import os, sys
        from dicomtls.storage.scu import store
        def progress(p):
            if p.bytes_done > (4 * 200_000 + (4 << 20)):
                os._exit(3)   # vanish mid-object, without a word
        store("127.0.0.1", int(sys.argv[1]), [sys.argv[2]], timeout=20, progress=progress)
        """)
    with StorageServer(out, timeout=20) as server:
        proc = subprocess.run([sys.executable, "-c", client, str(server.port), str(src)],
                              timeout=60)
        assert proc.returncode == 3
        deadline = time.monotonic() + 10
        while not server.results and time.monotonic() < deadline:
            time.sleep(0.02)
        server.close()
    (result,) = server.results
    assert result.outcome in ("aborted", "error")
    names = sorted(os.listdir(out))
    assert not any(n.endswith(".partial") for n in names)
    assert len(names) == result.stored <= 4
    for name in names:   # whatever is there is complete
        assert read_meta(out / name).dataset_length > 200_000


def test_cli_store_async_window_option(tmp_path):
    """``dicomtls store --async-window 1`` proposes nothing (the SCP then has no worker and
    answers one at a time); out-of-range values are usage errors; the default matches the
    library's."""
    from dicomtls.cli import dicom_commands
    from dicomtls.storage import scu
    assert dicom_commands.ASYNC_WINDOW == scu.ASYNC_WINDOW
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        make_object(src / f"{i}.dcm", 20_000)
    cli = [sys.executable, "-m", "dicomtls.cli.main", "store"]
    out = tmp_path / "out"
    with StorageServer(out, timeout=20) as server:
        out.mkdir()
        proc = subprocess.run(cli + ["127.0.0.1", str(server.port), str(src), "--quiet",
                                     "--async-window", "1"], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        bad = subprocess.run(cli + ["127.0.0.1", str(server.port), str(src),
                                    "--async-window", "0"], capture_output=True, text=True,
                             timeout=60)
        assert bad.returncode == 2 and "--async-window" in bad.stderr
        server.close()
    assert len(os.listdir(out)) == 3 and server.results[0].stored == 3


def test_write_groups_cut_large_views_and_gather_small_ones():
    """What ``_flush`` hands to writev: the same bytes in the same order, no call over
    WRITE_CALL, small views gathered, a view that fits taken whole (no copy, no slice)."""
    call = incoming_module.WRITE_CALL
    big = memoryview(bytes(range(256)) * (3 * call // 256 + 1))
    small = [memoryview(bytes([i]) * 1000) for i in range(70)]
    views = [small[0], big, *small[1:], memoryview(b"x" * call)]
    groups = list(incoming_module._write_groups(views))
    assert b"".join(b"".join(bytes(v) for v in g) for g in groups) == \
        b"".join(bytes(v) for v in views)
    sizes = [sum(len(v) for v in g) for g in groups]
    assert max(sizes) == call and all(size == call for size in sizes[:-1])
    assert any(len(g) > 30 for g in groups)
    assert groups[0][0] is small[0]
    assert list(incoming_module._write_groups([])) == []
