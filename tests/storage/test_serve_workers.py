"""`dicomtls serve --workers 2` as an operator runs it: one port, two worker processes, eight
concurrent `dicomtls store` clients, C-FINDs that see what either worker stored, a worker
killed and restarted, SIGTERM with every object on disk. Separate processes on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dicomtls.qr.scu import find

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm",
         "JPEGLSNearLossless_08.dcm", "ExplVR_BigEnd.dcm", "JPGExtended.dcm"]


def _children(pid: int) -> set:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(x) for x in f.read().split()}


def _start(out, *extra):
    proc = subprocess.Popen(CLI + ["serve", "0", "--out", str(out), "--workers", "2", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"127\.0\.0\.1:(\d+).*; 2 workers$", line.strip())
    if match is None:
        proc.kill()
        raise AssertionError(f"serve did not start: {line}")
    return proc, int(match.group(1))


def _wait_for(predicate, limit: float):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_eight_clients_two_workers_find_and_restart(tmp_path):
    out = tmp_path / "out"
    proc, port = _start(out)
    try:
        workers = _wait_for(lambda: len(_children(proc.pid)) == 2 and _children(proc.pid), 5)
        assert len(workers) == 2
        clients = [subprocess.Popen(CLI + ["store", "127.0.0.1", str(port),
                                           get_testdata_file(name), "--quiet"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                   for name in FILES]
        assert [c.wait(timeout=60) for c in clients] == [0] * len(FILES)
        stored = sorted(p.name for p in out.iterdir())
        assert len(stored) == len(FILES) and not any(".partial" in n for n in stored)
        # Whichever worker answers a C-FIND sees the objects the other one stored.
        counts = set()
        for _ in range(6):
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = ""
            result = find("127.0.0.1", port, query, timeout=10)
            assert result.status == 0x0000
            counts.add(len(result.matches))
        assert len(counts) == 1 and counts.pop() >= 1
        # A worker that dies is started again; the port never stops answering.
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        replaced = _wait_for(lambda: len(_children(proc.pid)) == 2
                             and victim not in _children(proc.pid) and _children(proc.pid), 5)
        assert replaced and victim not in replaced
        again = subprocess.run(CLI + ["echo", "127.0.0.1", str(port)], capture_output=True,
                               timeout=30)
        assert again.returncode == 0, again.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "worker 0" in err or "worker 1" in err   # the restart was logged
    assert re.search(r"stopped \(\d+ finished, 0 aborted\)", err), err


def test_workers_do_not_outlive_their_parent(tmp_path):
    """The supervisor killed outright (SIGKILL: no handler runs): its workers get SIGTERM from
    the kernel (PR_SET_PDEATHSIG), drain and exit instead of serving on as orphans."""
    proc, port = _start(tmp_path / "out")
    workers = _wait_for(lambda: len(_children(proc.pid)) == 2 and _children(proc.pid), 5)
    assert len(workers) == 2
    proc.kill()
    proc.wait(timeout=10)

    def all_gone() -> bool:
        return not any(os.path.exists(f"/proc/{pid}") and
                       open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] != "Z"
                       for pid in workers)
    assert _wait_for(all_gone, 10), "a worker outlived its parent"
