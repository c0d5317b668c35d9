"""systemd notify support (``io.systemd``) and the example unit (docs/dicomtls-serve.service).

The service manager is played by a real AF_UNIX datagram socket (a path in a temporary
directory, or an abstract name) passed as $NOTIFY_SOCKET to `dicomtls serve` run as a separate
process, as systemd would. The socket has SO_PASSCRED, so each datagram carries its sender's
pid: every one must come from the server's own pid (its threads included), which is what a unit
with NotifyAccess=main accepts. Every wait is bounded (socket timeouts, proc.wait(timeout)).
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import missing_peer

from dicomtls.io import systemd
from dicomtls.io.association_runner import associate

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
UNIT = Path(__file__).resolve().parents[2] / "docs" / "dicomtls-serve.service"
WATCHDOG_USEC = 200_000   # pings expected every 0.1 s
UCRED = struct.Struct("3i")   # struct ucred: pid, uid, gid


class Manager:
    """The service manager's end: a bound AF_UNIX datagram socket; ``address`` is what goes in
    $NOTIFY_SOCKET."""

    def __init__(self, directory: Path | None = None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if directory is None:   # abstract namespace: "@name" for $NOTIFY_SOCKET
            name = f"dicomtls-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = str(directory / "notify")
            self.sock.bind(self.address)
        self.received: list[tuple[float, int, dict]] = []   # (when, sender pid, fields)

    def receive(self, timeout: float):
        """The next datagram as (monotonic time, sender pid, {field: value}); None at
        ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            data, ancdata, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
        except (TimeoutError, socket.timeout):
            return None
        pid = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = UCRED.unpack(payload[:UCRED.size])[0]
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        message = (time.monotonic(), pid, fields)
        self.received.append(message)
        return message

    def wait_for(self, key: str, timeout: float, value: str | None = None,
                 pattern: str | None = None):
        """Receive until a datagram with ``key`` (= ``value``, or matching ``pattern``)
        arrives; AssertionError at ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            message = self.receive(max(0.01, left)) if left > 0 else None
            if message is None:
                raise AssertionError(f"no {key} within {timeout} s; got "
                                     f"{[m[2] for m in self.received]}")
            got = message[2].get(key)
            if got is not None and (value is None or got == value) and \
                    (pattern is None or re.fullmatch(pattern, got)):
                return message

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def short_dir():
    """A directory whose socket path fits sun_path (108 bytes), unlike a deep tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="sdn-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def manager(short_dir):
    m = Manager(short_dir)
    yield m
    m.close()


class Serve:
    """`dicomtls serve 0 --out OUT ARGS` (or `dicomtls ARGV`) with ``env``; stderr is read by a
    thread (lines in a queue), so the process never blocks on a full pipe and no read can hang
    the test."""

    def __init__(self, out: Path, *args: str, argv: list | None = None,
                 env: dict | None = None, preexec_fn=None):
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        full_env.update(env or {})
        argv = argv if argv is not None else ["serve", "0", "--out", str(out), *args]
        self.proc = subprocess.Popen(CLI + argv,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=full_env,
                                     preexec_fn=preexec_fn)
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def port_from_stderr(self, timeout: float = 20) -> int:
        line = self.lines.get(timeout=timeout)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, f"serve did not start: {line}"
        return int(match.group(1))

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then the exit code (killed and failed if it takes longer than
        ``timeout``)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 20) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"serve did not exit in {timeout} s: {self.text()}")
        self._reader.join(5)
        return code

    def text(self) -> str:
        return "".join(self.stderr)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)


@pytest.fixture
def serve(tmp_path):
    started: list[Serve] = []

    def start(*args: str, **kwargs) -> Serve:
        s = Serve(tmp_path / "out", *args, **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


def port_of(status: str) -> int:
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", status)
    assert match, status
    return int(match.group(1))


# ---- under a service manager: `dicomtls serve` as a process ---------------------------------

def test_ready_watchdog_stopping_over_a_socket_file(manager, serve):
    s = serve("--workers", "1", env={"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    _, pid, ready = manager.wait_for("READY", 20, "1")
    assert pid == s.proc.pid
    assert "(TLS)" not in ready["STATUS"] and "writing to" in ready["STATUS"]
    # READY=1 means connections are accepted: the port it names answers at once, no retry.
    with socket.create_connection(("127.0.0.1", port_of(ready["STATUS"])), timeout=5):
        pass

    # WATCHDOG=1 every WATCHDOG_USEC / 2 = 0.1 s, from a thread of the main process.
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        manager.receive(0.5)
    pings = [(t, pid) for t, pid, f in manager.received if t >= started and "WATCHDOG" in f]
    assert {pid for _, pid in pings} == {s.proc.pid}
    assert 7 <= len(pings) <= 25, len(pings)   # ~15: not missing, not spinning
    gaps = sorted(b[0] - a[0] for a, b in zip(pings, pings[1:]))
    assert 0.07 <= gaps[len(gaps) // 2] <= 0.15, gaps   # the median: half the interval
    assert gaps[-1] < 2 * WATCHDOG_USEC / 1e6, gaps     # never near a watchdog timeout

    assert s.stop() == 0, s.text()
    _, pid, stopping = manager.wait_for("STOPPING", 5, "1")
    assert pid == s.proc.pid
    assert stopping["STATUS"] == "SIGTERM: not accepting; draining 0 association(s)"
    # The last word, and then no ping any more: the watchdog thread ended with the server.
    while manager.receive(0.3) is not None:
        pass
    fields = [f for _, _, f in manager.received]
    after = fields[fields.index(stopping):]
    assert after[-1] == {"STATUS": "stopped (0 finished, 0 aborted)"}
    assert not any("READY" in f for f in after)
    assert "Traceback" not in s.text()


def test_abstract_namespace_socket(serve):
    manager = Manager()   # "@name"
    try:
        s = serve(env={"NOTIFY_SOCKET": manager.address})
        _, pid, ready = manager.wait_for("READY", 20, "1")
        assert pid == s.proc.pid
        with socket.create_connection(("127.0.0.1", port_of(ready["STATUS"])), timeout=5):
            pass
        # no WATCHDOG_USEC: no pings
        assert manager.receive(0.4) is None
        assert s.stop() == 0, s.text()
        manager.wait_for("STOPPING", 5, "1")
    finally:
        manager.close()


def test_drain_progress_in_status(manager, serve):
    s = serve("--drain-timeout", "20", "--workers", "1",
              env={"NOTIFY_SOCKET": manager.address})
    _, _, ready = manager.wait_for("READY", 20, "1")
    port = port_of(ready["STATUS"])
    first = associate("127.0.0.1", port, timeout=10)
    second = associate("127.0.0.1", port, timeout=10)
    try:
        assert first.echo() == 0 and second.echo() == 0
        s.proc.send_signal(signal.SIGTERM)
        _, _, stopping = manager.wait_for("STOPPING", 10, "1")
        assert stopping["STATUS"] == "SIGTERM: not accepting; draining 2 association(s)"
        first.release()   # while draining, an association still ends normally
        manager.wait_for("STATUS", 10, "draining 1 association(s)")
        assert second.echo() == 0
        second.release()
        # (the drain's count is taken as shutdown starts: ``first`` may have ended by then)
        manager.wait_for("STATUS", 10, None, r"stopped \([12] finished, 0 aborted\)")
    except BaseException:
        for assoc in (first, second):
            try:
                assoc.abort()
            except Exception:
                pass
        raise
    assert s.wait() == 0, s.text()


def test_workers_parent_speaks_for_all(manager, serve):
    """`serve --workers 2`: READY=1 and the watchdog come from the parent (the main process of
    the unit) once the workers run; SIGTERM gives STOPPING=1 and the workers' totals."""
    s = serve("--workers", "2", env={"NOTIFY_SOCKET": manager.address,
                                     "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    _, pid, ready = manager.wait_for("READY", 20, "1")
    assert pid == s.proc.pid and ready["STATUS"].endswith("; 2 workers")
    port = port_of(ready["STATUS"])
    for _ in range(4):   # served by whichever worker wins the accept
        with associate("127.0.0.1", port, timeout=10) as assoc:
            assert assoc.echo() == 0
    assert s.stop() == 0, s.text()
    _, pid, stopping = manager.wait_for("STOPPING", 5, "1")
    assert pid == s.proc.pid and stopping["STATUS"].startswith("SIGTERM: not accepting")
    # (an association whose release is still being answered counts as drained)
    manager.wait_for("STATUS", 10, None, r"stopped \([0-4] finished, 0 aborted\)")
    senders = {p for _, p, f in manager.received}
    assert senders == {s.proc.pid}   # never a worker: NotifyAccess=main holds


def test_watchdog_pid_of_another_process_means_no_pings(manager, serve):
    s = serve(env={"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": str(WATCHDOG_USEC),
                   "WATCHDOG_PID": "1"})
    manager.wait_for("READY", 20, "1")
    assert manager.receive(0.5) is None
    assert s.stop() == 0, s.text()


def test_without_notify_socket_nothing_changes(serve):
    s = serve(env={"WATCHDOG_USEC": str(WATCHDOG_USEC)})   # a watchdog but no socket: ignored
    port = s.port_from_stderr()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert s.stop() == 0, s.text()
    assert "stopped (0 finished, 0 aborted)" in s.text()
    assert "Traceback" not in s.text()


def test_a_notify_socket_nobody_listens_on_does_not_stop_the_server(short_dir, serve):
    s = serve(env={"NOTIFY_SOCKET": str(short_dir / "gone"),
                   "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    port = s.port_from_stderr()
    time.sleep(0.3)   # some pings fail meanwhile
    assoc = associate("127.0.0.1", port, timeout=10)
    assert assoc.echo() == 0
    assoc.release()
    assert s.stop() == 0, s.text()
    assert "Traceback" not in s.text()


# ---- MemoryDenyWriteExecute= ---------------------------------------------------------------

PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1


def _deny_write_execute() -> None:   # in the child, before exec; kept across execve
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


# Under the restriction, what the unit's comment says: write+execute memory is refused, so
# cffi's ABI-mode ffi.callback fails (dicomtls has none; its callbacks are compiled).
PROBE = """
import mmap, cffi
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    print("wx mapped")
except PermissionError:
    print("wx refused")
try:
    cffi.FFI().callback("int(int)", lambda x: x)
    print("callback made")
except MemoryError:
    print("callback refused")
"""


def _mdwe_probe() -> str | None:
    """What PROBE prints under PR_SET_MDWE; None if this kernel has none (PR_GET_MDWE, which
    changes nothing here, fails with EINVAL before Linux 6.3)."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_GET_MDWE, 0, 0, 0, 0) < 0:
        return None
    return subprocess.run([sys.executable, "-c", PROBE], preexec_fn=_deny_write_execute,
                          capture_output=True, text=True, check=True, timeout=30).stdout


def test_write_execute_memory_is_refused_under_mdwe():
    """What the unit's comment says of MemoryDenyWriteExecute=, and that the next test's
    restriction is real: write+execute memory is refused, so cffi's ffi.callback fails."""
    probe = _mdwe_probe()
    if probe is None:
        missing_peer("prctl(PR_SET_MDWE) unsupported (Linux < 6.3)")
    assert probe.split() == ["wx", "refused", "callback", "refused"], probe


def unit_settings() -> dict:
    """{key: [values]} of the example unit (continuation lines joined)."""
    settings: dict = {}
    for line in UNIT.read_text().replace("\\\n", " ").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_units_command_runs_as_systemd_would_start_it(manager, serve, pki, tmp_path):
    """The unit's ExecStart= arguments (its port, address and paths swapped for the test's)
    with the unit's LimitNOFILE and, where the kernel has PR_SET_MDWE (Linux >= 6.3), write+execute
    memory denied like MemoryDenyWriteExecute=yes: READY=1, a TLS association with a client
    certificate, an encrypted key read with --key-password-file and a key log (so the C
    module's callbacks into Python that the CLI can reach run: key password and key log; the
    third, certificate verify, needs a Python ``verify_callback``, library API only), watchdog
    pings, SIGTERM."""
    import resource
    from dicomtls.tls.config import TLSConfig
    mdwe = _mdwe_probe() is not None
    password = tmp_path / "key-password"
    password.write_text(pki.password + "\n")
    keylog = tmp_path / "keys.log"
    swap = {"2762": "0", "0.0.0.0": "127.0.0.1", "/etc/dicomtls/server.pem": pki.server_cert,
            "/etc/dicomtls/ca.pem": pki.ca_cert, "%d/server.key": pki.server_key_encrypted,
            "%d/key-password": password, "/var/lib/dicomtls": tmp_path / "out"}
    argv = [str(swap.get(a, a)) for a in unit_settings()["ExecStart"][0].split()[1:]]
    assert not [a for a in argv if a.startswith(("/etc", "/var", "%"))], argv

    nofile = int(unit_settings()["LimitNOFILE"][0])
    nofile = min(nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])

    def as_the_unit() -> None:   # in the child, before exec; both are kept across execve
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        if mdwe:
            _deny_write_execute()

    s = serve(argv=argv + ["--keylog", str(keylog)], preexec_fn=as_the_unit,
              env={"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    _, _, ready = manager.wait_for("READY", 30, "1")
    assert "(TLS)" in ready["STATUS"]
    client = TLSConfig.from_profile(certificate=str(pki.client_cert),
                                    private_key=str(pki.client_key), ca_file=str(pki.ca_cert))
    assoc = associate("127.0.0.1", port_of(ready["STATUS"]), tls_config=client, timeout=10)
    assert assoc.echo() == 0
    assoc.release()
    manager.wait_for("WATCHDOG", 5, "1")
    assert s.stop() == 0, s.text()
    manager.wait_for("STOPPING", 5, "1")
    assert keylog.read_text().strip(), "the key log callback did not run"
    assert "Traceback" not in s.text() and "MemoryError" not in s.text(), s.text()


# ---- the module, in this process -----------------------------------------------------------

def test_no_notify_socket_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000")
    assert systemd.notify("READY=1") is False
    with systemd.ServiceNotifier() as notifier:
        assert not notifier.enabled and notifier.watchdog is None
        assert notifier.ready("x") is False
        assert notifier.stopping("y", lambda: "z") is False
        assert not notifier.running   # no thread at all


def test_notify_address_kinds():
    assert systemd.notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == \
        "/run/systemd/notify"
    assert systemd.notify_address({"NOTIFY_SOCKET": "@abc"}) == b"\0abc"
    for unusable in ("", "@", "relative/path", "vsock:2:1234"):
        assert systemd.notify_address({"NOTIFY_SOCKET": unusable}) is None
    assert systemd.notify_address({}) is None


def test_watchdog_interval():
    me = str(os.getpid())
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": me}) == 0.2
    for env in ({}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "-5"}, {"WATCHDOG_USEC": "x"},
                {"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"},
                {"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "nope"}):
        assert systemd.watchdog_interval(env) is None, env


def test_notify_sends_one_datagram_to_a_path_and_an_abstract_name(manager):
    assert systemd.notify("READY=1\nSTATUS=up", {"NOTIFY_SOCKET": manager.address})
    _, pid, fields = manager.receive(5)
    assert (pid, fields) == (os.getpid(), {"READY": "1", "STATUS": "up"})
    abstract = Manager()
    try:
        assert systemd.notify("WATCHDOG=1", {"NOTIFY_SOCKET": abstract.address})
        assert abstract.receive(5)[2] == {"WATCHDOG": "1"}
    finally:
        abstract.close()
    # nobody there: False, not an exception
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": manager.address + "-gone"}) is False


def test_status_is_one_line(manager):
    notifier = systemd.ServiceNotifier({"NOTIFY_SOCKET": manager.address})
    notifier.status("two\nlines")
    assert manager.receive(5)[2] == {"STATUS": "two lines"}


def test_watchdog_thread_stops_on_close(manager):
    notifier = systemd.ServiceNotifier({"NOTIFY_SOCKET": manager.address,
                                        "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    assert notifier.watchdog == 0.2
    notifier.ready("up")
    assert notifier.running
    assert manager.wait_for("READY", 5)[2] == {"READY": "1", "STATUS": "up"}
    manager.wait_for("WATCHDOG", 5, "1")
    manager.wait_for("WATCHDOG", 5, "1")
    notifier.close()
    assert not notifier.running
    while manager.receive(0.3) is not None:   # what was sent before close
        pass
    assert manager.receive(0.4) is None       # and nothing after


def test_stopping_reports_progress_changes_only(manager):
    left = [3]
    with systemd.ServiceNotifier({"NOTIFY_SOCKET": manager.address}) as notifier:
        notifier.stopping("draining 3", lambda: f"draining {left[0]}")
        assert manager.receive(5)[2] == {"STOPPING": "1", "STATUS": "draining 3"}
        assert manager.receive(2 * systemd.STATUS_PERIOD + 0.2) is None   # unchanged: quiet
        left[0] = 1
        assert manager.receive(2 * systemd.STATUS_PERIOD + 2)[2] == {"STATUS": "draining 1"}
    assert not notifier.running


def test_listener_failure_exits_1_so_systemd_restarts(manager):
    """No signal, the accept loop ended on its own: a failure, for Restart=on-failure."""
    from types import SimpleNamespace
    from dicomtls.cli.dicom_commands import _serve_until_signalled

    class FailedListener:
        active = 0

        def serve_forever(self):
            return None   # as when accept() fails for good

        def shutdown(self, _drain):
            return {"drained": 0, "aborted": 0, "stuck": 0}

        def stop_accepting(self):
            pass

        def abort_all(self):
            return 0

    notifier = systemd.ServiceNotifier({"NOTIFY_SOCKET": manager.address})
    args = SimpleNamespace(command="serve", drain_timeout=1.0)
    try:
        assert _serve_until_signalled(FailedListener(), args, lambda: None, notifier) == 1
    finally:
        notifier.close()
    assert manager.receive(5)[2] == {
        "STOPPING": "1", "STATUS": "the listener failed: not accepting; draining 0 "
                                   "association(s)"}


# ---- the example unit ----------------------------------------------------------------------

def test_example_unit_verifies():
    """`systemd-analyze verify` parses it as this systemd would load it: no unknown key, no
    unparsable value. ExecStart='s program must exist, so it runs this Python's dicomtls."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_peer("systemd-analyze is not installed (Debian: apt-get install systemd)")
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/dicomtls serve " in text
    unit_dir = Path(tempfile.mkdtemp(prefix="sdunit-"))
    try:
        unit = unit_dir / UNIT.name
        unit.write_text(text.replace("ExecStart=/usr/local/bin/dicomtls ",
                                     f"ExecStart={sys.executable} -m dicomtls.cli.main "))
        result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                                timeout=120)
    finally:
        shutil.rmtree(unit_dir, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr   # warnings too: a typo is only one


def test_example_unit_matches_the_cli():
    """What the unit promises of dicomtls: the options it passes exist, the stop timeout
    covers the drain, the key password comes from a file."""
    from dicomtls.cli.main import build_parser
    settings = unit_settings()
    argv = settings["ExecStart"][0].split()[1:]
    args = build_parser().parse_args([a.replace("%d", "/run/credentials/x") for a in argv])
    assert args.command == "serve" and args.tls and args.port == 2762
    assert args.key_password_file and args.key_password is None
    assert settings["Type"] == ["notify"] and settings["NotifyAccess"] == ["main"]
    assert float(settings["TimeoutStopSec"][0]) > args.drain_timeout + 3 + 3 + 5
    # every worker's default connection cap fits the descriptor limit (the unit's comment)
    from dicomtls.io.gate import ConnectionLimits
    nofile = int(settings["LimitNOFILE"][0])
    connections = min(4096, (nofile - 64) // 2)
    assert args.max_connections is None and ConnectionLimits().max_connections is None
    assert args.max_associations * 7 + (connections - args.max_associations) + 20 < nofile
    assert settings["MemoryDenyWriteExecute"] == ["yes"]
    assert args.port >= 1024 and settings["AmbientCapabilities"] == [""]
