"""`dicomtls serve`'s lifecycle as an operator sees it, separate processes on 127.0.0.1: SIGTERM
drains the associations in flight (our `dicomtls store`, DCMTK storescu), a short
--drain-timeout aborts them, stale .partial files are swept at start. The transfers run
through a throttling TCP relay so they are reliably in flight when the signal comes (TLS goes
through it end to end: the relay only forwards bytes)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest

from conftest import require_binary
from dicomtls.errors import AssociationAborted
from dicomtls.io.association_runner import associate
from dicomtls.storage.incoming import create_partial, discard_partial, sweep_partials
from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scp import StorageServer, safe_filename
from dicomtls.tls.config import TLSConfig

from test_store import make_object

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
OBJECTS = 8
OBJECT_SIZE = 3 << 20


class SlowRelay:
    """Forwards one connection at a time from its port to ``target``; the client -> server
    direction at about ``rate`` bytes/s. ``forwarded`` fires once ``threshold`` bytes went
    that way."""

    CHUNK = 32 << 10

    def __init__(self, target_port: int, rate: float, threshold: int):
        self.target_port = target_port
        self.rate = rate
        self.threshold = threshold
        self.forwarded = threading.Event()
        self.sent = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._run, daemon=True)]
        self._threads[0].start()

    def _run(self) -> None:
        try:
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target_port))
                for a, b, slow in ((client, server, True), (server, client, False)):
                    t = threading.Thread(target=self._pump, args=(a, b, slow), daemon=True)
                    t.start()
                    self._threads.append(t)
        except OSError:
            return

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        started = time.monotonic()
        total = 0
        try:
            while True:
                data = src.recv(self.CHUNK)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
                if slow:
                    total += len(data)
                    self.sent = total
                    if total >= self.threshold:
                        self.forwarded.set()
                    ahead = total / self.rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)  # the link's pace, not a poll
        except OSError:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def tls_args(pki, role):
    cert = pki.server_cert if role == "server" else pki.client_cert
    key = pki.server_key if role == "server" else pki.client_key
    return ["--tls", "--cert", str(cert), "--key", str(key), "--ca", str(pki.ca_cert)]


def start_serve(out, *extra):
    proc = subprocess.Popen(CLI + ["serve", "0", "--out", str(out), "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    if match is None:
        proc.kill()
        raise AssertionError(f"serve did not start: {line}{proc.stderr.read()}")
    return proc, int(match.group(1)), line


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    root = tmp_path_factory.mktemp("objects")
    uids = {}
    for i in range(OBJECTS):
        path = root / f"obj{i}.dcm"
        uids[str(path)] = make_object(path, OBJECT_SIZE)
    return root, uids


def stop_and_wait(proc, limit: float):
    """SIGTERM, then the exit code, stdout, stderr and the seconds it took to exit."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=limit + 15)
    finally:
        proc.kill()
    return proc.returncode, out, err, time.monotonic() - started


def check_out_dir(out, ok_uids):
    """No .partial left; every object reported Success is there, its data set identical."""
    names = os.listdir(out)
    assert not [n for n in names if n.endswith(".partial")], names
    for path, uid in ok_uids.items():
        stored = read_meta(os.path.join(out, safe_filename(uid)))
        assert read_dataset(stored) == read_dataset(read_meta(path)), path
    return names


def store_cmd(port, root, pki):
    return subprocess.Popen(CLI + ["store", "127.0.0.1", str(port), str(root), "--json",
                                   "--quiet", "--timeout", "30", *tls_args(pki, "client")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def tls_store_in_flight(root, out, pki, drain: str, rate: float, threshold: int):
    """`serve --tls --drain-timeout DRAIN` and our `store` of ``root`` through a SlowRelay,
    yielded once the transfer is under way as (serve, scu); both are ended afterwards."""
    serve, port, _ = start_serve(out, "--drain-timeout", drain, *tls_args(pki, "server"))
    relay = SlowRelay(port, rate=rate, threshold=threshold)
    scu = None
    try:
        scu = store_cmd(relay.port, root, pki)
        assert relay.forwarded.wait(30), "the transfer did not start"
        yield serve, scu
    finally:
        relay.close()
        serve.kill()
        if scu is not None:
            scu.kill()


def successes(record, uids):
    failed = {f["path"] for f in record["failures"]}
    return {p: u for p, u in uids.items() if p not in failed}


def test_sigterm_drains_in_flight_tls_association(objects, tmp_path, pki):
    root, uids = objects
    out = tmp_path / "out"
    # ~2 s for the 24 MiB
    with tls_store_in_flight(root, out, pki, "20", 12e6, 4 << 20) as (serve, scu):
        code, out_text, err, seconds = stop_and_wait(serve, 20)
        scu_out, scu_err = scu.communicate(timeout=30)
    print(f"serve exit {code} after {seconds:.2f} s; {err}")
    assert code == 0, err
    assert seconds < 20 + 5
    assert scu.returncode == 0, scu_err
    record = json.loads(scu_out)
    assert (record["sent"], record["failed"]) == (OBJECTS, 0)
    (served,) = [json.loads(line) for line in out_text.splitlines()]
    assert (served["outcome"], served["stored"]) == ("released", OBJECTS)
    assert "1 finished, 0 aborted" in err
    names = check_out_dir(out, uids)
    assert len(names) == OBJECTS


def test_short_drain_timeout_aborts_the_association(objects, tmp_path, pki):
    root, uids = objects
    out = tmp_path / "out"
    # ~8 s for the 24 MiB
    with tls_store_in_flight(root, out, pki, "0.5", 3e6, 2 << 20) as (serve, scu):
        # an object is being received: its .partial (and the spare made ahead) exist now
        assert any(n.endswith(".partial") for n in os.listdir(out))
        code, out_text, err, seconds = stop_and_wait(serve, 0.5)
        scu_out, scu_err = scu.communicate(timeout=60)
    print(f"serve exit {code} after {seconds:.2f} s; {err}")
    assert code == 0, err
    # Bounds, not speed targets (a loaded CI machine is slow): the outcome asserts are what
    # tell an abort from a transfer that finished (~8 s) or a full drain.
    assert seconds < 20
    assert "0 finished, 1 aborted" in err
    (served,) = [json.loads(line) for line in out_text.splitlines()]
    assert served["outcome"] == "aborted" and "shutting down" in served["error"]
    record = json.loads(scu_out)
    assert scu.returncode == 1 and record["failed"] >= 1
    ok = successes(record, uids)
    assert len(ok) == record["sent"] < OBJECTS
    names = check_out_dir(out, ok)
    # objects finished but never answered may be there too; nothing else
    assert set(names) <= {safe_filename(u) for u in uids.values()}


def test_second_signal_aborts_at_once(objects, tmp_path, pki):
    root, uids = objects
    out = tmp_path / "out"
    # ~8 s for the 24 MiB
    with tls_store_in_flight(root, out, pki, "60", 3e6, 2 << 20) as (serve, scu):
        started = time.monotonic()
        serve.send_signal(signal.SIGINT)
        assert "waiting up to 60 s" in serve.stderr.readline()
        serve.send_signal(signal.SIGINT)
        out_text, err = serve.communicate(timeout=40)
        seconds = time.monotonic() - started
        scu_out, _ = scu.communicate(timeout=60)
    print(f"serve exit {serve.returncode} after {seconds:.2f} s; {err}")
    assert serve.returncode == 0, err
    assert seconds < 30 and "0 finished, 1 aborted" in err  # the drain would be 60 s
    assert json.loads(out_text)["outcome"] == "aborted"
    check_out_dir(out, successes(json.loads(scu_out), uids))


def test_stale_partials_swept_at_start(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = [".1.2.3.dcm.0123456789ab.partial", ".incoming.abcdef012345.partial"]
    for name in stale:
        (out / name).write_bytes(b"half an object")
    keep = ["1.2.3.dcm", "notes.partial", ".other.partial"]
    for name in keep:
        (out / name).write_bytes(b"x")
    serve, port, line = start_serve(out)
    try:
        assert "removed 2 stale .partial file(s)" in line
        assert sorted(os.listdir(out)) == sorted(keep)
        code, _out, err, seconds = stop_and_wait(serve, 0)
    finally:
        serve.kill()
    assert code == 0, err
    assert seconds < 15
    assert "0 finished, 0 aborted" in err


def test_sigterm_drains_dcmtk_storescu(objects, tmp_path):
    storescu = require_binary("storescu")
    root, uids = objects
    out = tmp_path / "out"
    serve, port, _ = start_serve(out, "--drain-timeout", "20")
    relay = SlowRelay(port, rate=12e6, threshold=4 << 20)
    try:
        scu = subprocess.Popen([storescu, "-aec", "ANY-SCP", "127.0.0.1", str(relay.port),
                                *sorted(uids)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        assert relay.forwarded.wait(30), "the transfer did not start"
        code, out_text, err, seconds = stop_and_wait(serve, 20)
        scu_out, _ = scu.communicate(timeout=30)
    finally:
        relay.close()
        serve.kill()
    print(f"serve exit {code} after {seconds:.2f} s; {err}")
    assert code == 0, err
    assert scu.returncode == 0, scu_out
    (served,) = [json.loads(line) for line in out_text.splitlines()]
    assert (served["outcome"], served["stored"]) == ("released", OBJECTS)
    assert len(check_out_dir(out, uids)) == OBJECTS


# ---- the library API: AssociationServer.shutdown, in one process ----------------------------
VERIFICATION = "1.2.840.10008.1.1"


def test_shutdown_aborts_an_idle_association_from_its_own_thread(tmp_path):
    server = StorageServer(tmp_path, timeout=30).start()
    port = server.port
    assoc = associate("127.0.0.1", port, contexts=[VERIFICATION], timeout=10)
    assert assoc.echo() == 0x0000
    started = time.monotonic()
    outcome = server.shutdown(0.3)
    seconds = time.monotonic() - started
    assert outcome == {"drained": 0, "aborted": 1, "stuck": 0}
    assert 0.3 <= seconds < 10  # the drain first, then the abort: not the 30 s timeout
    with pytest.raises(AssociationAborted):  # the A-ABORT reached us
        assoc.echo()
    (result,) = server.results
    assert result.outcome == "aborted" and result.echoes == 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_shutdown_lets_an_association_finish_within_the_drain(tmp_path):
    server = StorageServer(tmp_path, timeout=30).start()
    assoc = associate("127.0.0.1", server.port, contexts=[VERIFICATION], timeout=10)
    echoes = []

    def peer_finishes():   # while the server drains: still served, then released
        echoes.append(assoc.echo())
        assoc.release()

    later = threading.Timer(0.5, peer_finishes)
    later.start()
    started = time.monotonic()
    outcome = server.shutdown(20)
    seconds = time.monotonic() - started
    later.join()
    assert echoes == [0x0000]
    assert outcome == {"drained": 1, "aborted": 0, "stuck": 0}
    assert 0.5 <= seconds < 10  # it ended when the peer released, not at the 20 s drain
    (result,) = server.results
    assert (result.outcome, result.echoes) == ("released", 1)


def test_shutdown_ends_a_connection_stuck_in_its_tls_handshake(tmp_path, pki):
    config = TLSConfig.from_profile(certificate=str(pki.server_cert),
                                    private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
    server = StorageServer(tmp_path, tls_config=config, timeout=30).start()
    with socket.create_connection(("127.0.0.1", server.port)) as silent:  # no ClientHello
        deadline = time.monotonic() + 5
        while server.gate.held == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # the gate runs in its own thread: wait for it to take us
        assert server.active == 0  # not an association: no thread of its own
        started = time.monotonic()
        # Not an association yet: nothing to drain or abort; the gate closes it as it stops.
        assert server.shutdown(0.2) == {"drained": 0, "aborted": 0, "stuck": 0}
        assert time.monotonic() - started < 2  # not the handshake timeout
        assert silent.recv(10) == b""
    (result,) = server.results
    assert result.handshake_failed and result.outcome == "error"
    assert "the server stopped" in result.error


def test_sweep_partials_removes_only_partial_names(tmp_path):
    fd, path = create_partial(str(tmp_path), "1.2.3.dcm")
    os.close(fd)
    discard_partial((None, None))
    (tmp_path / "1.2.3.dcm").write_bytes(b"x")
    (tmp_path / ".x.0123456789ab.partial").mkdir()        # a directory: left alone
    (tmp_path / ".y.0123456789AB.partial").write_bytes(b"x")  # not our naming: left
    assert sweep_partials(str(tmp_path)) == 1
    assert not os.path.exists(path)
    assert sorted(os.listdir(tmp_path)) == [".x.0123456789ab.partial",
                                            ".y.0123456789AB.partial", "1.2.3.dcm"]
    assert sweep_partials(str(tmp_path / "missing")) == 0


def test_listen_backlog_is_the_system_maximum():
    ss = require_binary("ss")
    from dicomtls.io import tls_socket
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
    listener = tls_socket.listen("127.0.0.1", 0)
    try:
        port = listener.getsockname()[1]
        shown = subprocess.run([ss, "-ltnH", f"sport = :{port}"], capture_output=True,
                               text=True, timeout=10).stdout.split()
        assert int(shown[2]) == somaxconn   # State Recv-Q Send-Q: Send-Q is the backlog
    finally:
        listener.close()


def test_second_signal_right_after_the_first_aborts_without_hanging(tmp_path):
    """The second signal as soon as the first is taken (`--workers` passes them on as SIGINT
    then SIGUSR1 within milliseconds, so a worker's second handler can run inside its first):
    the handlers take no lock, so nothing deadlocks; the association in flight is aborted and
    serve exits 0. (Two identical signals sent before the first is delivered are one signal
    to the kernel: the second must follow the first's "not accepting" line.) Three rounds."""
    from dicomtls.io.association_runner import associate
    for round_ in range(3):
        serve, port, _ = start_serve(tmp_path / f"out{round_}")
        try:
            assoc = associate("127.0.0.1", port, timeout=10)
            assert assoc.echo() == 0
            serve.send_signal(signal.SIGINT)
            assert "not accepting" in serve.stderr.readline()
            serve.send_signal(signal.SIGINT)
            out, err = serve.communicate(timeout=30)
            assert serve.returncode == 0, err
            assert "0 finished, 1 aborted" in err, err
            assoc.abort()
        finally:
            serve.kill()
