"""C-STORE throughput over 127.0.0.1: `dicomtls store` -> `dicomtls serve` beside DCMTK 3.6.7
`storescu` -> `storescp`, plain TCP and TLS, one large object and many small ones, same run.

    python benchmarks/bench_store.py [--repeat 3] [--quick] [--big-mib 256] [--small 500]
        [--baseline PKG_ROOT] [--fsync on|off|both] [--window1] [--big [MIB]] [--only A|B]

``--baseline PKG_ROOT`` runs a second copy of ours from another source root (e.g. an export of an
earlier commit with its compiled extension copied in) in the same run, interleaved with the
others, so "before" and "after" see the same machine load. ``--fsync`` picks how `dicomtls
serve` runs: ``on`` (the default, safe: every file fsynced before its rename and its C-STORE-RSP),
``off`` (``serve --no-fsync``: like storescp, a crash may lose files already answered), or
``both`` (one row each); the table says which. A baseline older than ``--no-fsync`` always runs
with fsync. ``--big [MIB]`` (default 1024) only measures the peak RSS of our SCU and SCP sending
one MIB-MiB object, plain and TLS, beside storescu/storescp.

Datasets (made with pydicom in a temp dir, Explicit VR Little Endian, random pixel data):

* A: one Multi-frame Grayscale Word Secondary Capture object with --big-mib MiB of OW PixelData
  (1 MiB frames);
* B: --small Secondary Capture objects of 0.5 MiB PixelData each (512 x 512 x 16 bit), unique SOP
  Instance UIDs.

Rows, per dataset: ours over TLS 1.3 (dev PKI, mutual authentication) and plain TCP; DCMTK over
plain TCP and over TLS (``+tls key cert +cf ca +py``: BCP 195 non-downgrading, mutual
authentication). storescp runs with ``+B`` (bit preserving: the received data set goes straight to
the file) and ``-od DIR``; ``dicomtls serve`` also streams each data set to disk. The DCMTK TLS
protocol and suite are read from a separate ``-d`` probe association (one small object: ``-d``
logs dump every data set, too costly inside the timed runs).

Reported, best of --repeat (these machines are noisy): wall clock of the SCU process from spawn
to exit as MB/s (1 MB = 10^6 bytes of data set, i.e. the bytes C-STORE carries) and objects/s;
for ours also the SCU's own JSON ``seconds`` (association to release, interpreter start-up and
file scan excluded); the ratio ours/DCMTK for the same transport (wall clock). Peak RSS of SCU and
SCP for dataset A: every SCU and SCP runs under GNU ``/usr/bin/time -f %M`` (the "Maximum
resident set size" of ``time -v``; ``apt-get install -y time`` if it is missing).

The whole benchmark runs inside a private network namespace: when ``ip -o link`` shows anything
but ``lo``, the script re-executes itself under ``unshare -n`` (``unshare -rn`` when not root) with
``lo`` up, so storescp 3.6.7 (which can only bind the wildcard address) never listens on a real
interface. Needs: root or unprivileged user namespaces, iproute2, DCMTK at /usr/bin (absolute
paths: pynetdicom installs Python scripts named storescu/storescp that shadow them on PATH).
Every subprocess has a timeout; temp dirs are removed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"
TIME = "/usr/bin/time"  # GNU time (apt-get install -y time)
NETNS_MARK = "DICOMTLS_BENCH_STORE_NETNS"
MIB = 1 << 20
DCMTK_MAX_PDU = 131072  # storescu/storescp -pdu maximum (their default is 16384)


# -- network namespace -------------------------------------------------------------------------

def _links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]


def ensure_isolated(script: str | None = None) -> None:
    """Re-exec ``script`` (default this one: another benchmark passes its own ``__file__``)
    under ``unshare -n`` unless only ``lo`` is visible; never returns if it re-execs."""
    script = os.path.abspath(script or __file__)
    name = os.path.basename(script)
    if _links() == ["lo"]:
        up = subprocess.run(["ip", "-o", "link", "show", "lo"], capture_output=True, text=True,
                            timeout=10).stdout
        if "UP" not in up.split(">")[0]:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
        return
    if os.environ.get(NETNS_MARK):
        sys.exit(f"{name}: still not isolated after unshare: links {_links()}")
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit(f"{name}: unshare (util-linux) is needed to isolate the peers")
    for flags in ("-n", "-rn"):
        probe = subprocess.run([unshare, flags, "sh", "-c", "ip link set lo up"],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            break
    else:
        sys.exit(f"{name}: cannot create a network namespace: {probe.stderr.strip()}")
    os.environ[NETNS_MARK] = "1"
    argv = [unshare, flags, "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
            sys.executable, script, *sys.argv[1:]]
    sys.stdout.flush()
    os.execv(unshare, argv)


# -- processes -----------------------------------------------------------------------------------

class Child:
    """A subprocess run under ``/usr/bin/time -f %M`` for its peak RSS (KiB).

    Not ``os.wait4`` on our own child: the kernel carries the forking process's RSS high-water
    mark across fork + exec into ru_maxrss, so every child of this (large) benchmark process
    would report at least our own peak. GNU time is a small process, so what it forks starts
    from almost nothing. It ignores SIGINT while waiting: ``wait(interrupt=True)`` sends SIGINT to the
    process group (the session is new), which ends the program and lets time report.
    """

    def __init__(self, cmd, *, stdout, stderr, rss_file, env=None):
        self.cmd = cmd
        self.rss_file = rss_file
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([TIME, "-f", "%M", "-o", rss_file, *cmd], stdout=stdout,
                                     stderr=stderr, env=env, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.rc = None
        self.wall = None

    def alive(self) -> bool:
        if self.rc is not None:
            return False
        if self.proc.poll() is None:
            return True
        self._done()
        return False

    def _done(self):
        self.wall = time.perf_counter() - self.t0
        self.rc = self.proc.returncode

    @property
    def maxrss_kib(self) -> int:
        with open(self.rss_file) as f:  # "Command exited with non-zero status N" may come first
            return int(f.read().split()[-1])

    def wait(self, timeout: float, *, interrupt: bool = False) -> int:
        if self.rc is not None:
            return self.rc
        if interrupt:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"killed after {timeout} s: {' '.join(self.cmd)}") from None
        self._done()
        return self.rc

    def kill(self) -> None:
        if self.rc is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(30)
            self._done()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    needle = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[1].endswith(needle.strip()) and fields[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def wait_listening(server: Child, port: int, log: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not listening(port):
        if not server.alive():
            raise RuntimeError(f"{server.cmd[0]} exited ({server.rc}) before listening:\n"
                               + _tail(log))
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"{server.cmd[0]} not listening after {timeout} s:\n" + _tail(log))
        time.sleep(0.01)


def _tail(path: str, n: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# -- datasets: bench_store_data.py (this directory is on sys.path when run as a script) -------

from bench_store_data import dataset_bytes, make_big, make_small  # noqa: E402


# -- one run per tool ----------------------------------------------------------------------------

class Run:
    def __init__(self, wall, inner, scu_rss, scp_rss, protocol=None):
        self.wall, self.inner, self.scu_rss, self.scp_rss = wall, inner, scu_rss, scp_rss
        self.protocol = protocol


def _fresh(path: str) -> str:
    """An empty output directory; then ``os.sync()``, so no run pays for the writeback of what
    the previous run (another tool, or a no-fsync variant) left dirty."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    os.sync()
    return path


#: Memory ``warm_pages`` makes hot per byte of the run: the files' page cache plus the buffers
#: of both processes, with room to spare.
WARM_FACTOR = 3
WARM_CHUNK = 16 << 20


def warm_pages(directory: str, nbytes: int) -> None:
    """Write and delete a ``WARM_FACTOR * nbytes`` file in ``directory``, just before a run.

    Why: on these VMs the guest hands free memory back to the host about 2 s after it is freed
    (virtio-balloon free page reporting), and touching such a page again costs a host fault:
    writing a new 64 MiB file runs at about 420 MB/s on cold pages and at 6 GB/s right after
    the same amount was freed (measured here). Every run allocates page cache for the files it
    stores, so without this a run's speed depends on how long the machine idled before it and
    on which stack ran just before; with it, each stack starts from the same hot free memory.
    """
    path = os.path.join(directory, ".warm-pages")
    chunk = bytes(WARM_CHUNK)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        left = WARM_FACTOR * nbytes
        while left > 0:
            left -= os.write(fd, chunk[:min(left, WARM_CHUNK)])
    finally:
        os.close(fd)
        os.unlink(path)


def _check_out(out: str, count: int, nbytes: int, who: str) -> None:
    names = os.listdir(out)
    stored = [n for n in names if not n.startswith(".")]
    size = sum(os.path.getsize(os.path.join(out, n)) for n in stored)
    if len(stored) != count or len(names) != count or size < nbytes:
        raise RuntimeError(f"{who}: {len(stored)} files ({len(names)} entries, {size} bytes) "
                           f"stored, expected {count} (>= {nbytes} bytes)")


def run_ours(work, src, count, nbytes, pki, use_tls, timeout, *, root=None,
             fsync=True, store_args=()) -> Run:
    """``root``: the source root to run (PYTHONPATH), None for the installed package;
    ``fsync`` False runs ``serve --no-fsync``; ``store_args``: more `dicomtls store` options."""
    port = free_port()
    out = _fresh(os.path.join(work, "out"))
    tls_common = ["--tls", "--ca", str(pki.ca_cert), "--min-version", "1.3",
                  "--max-version", "1.3"] if use_tls else []
    scp_log, scp_json = os.path.join(work, "serve.log"), os.path.join(work, "serve.json")
    cli = [sys.executable, "-m", "dicomtls.cli.main"]
    env = dict(os.environ)
    if root is not None:
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    with open(scp_json, "w") as so, open(scp_log, "w") as se:
        server = Child(cli + ["serve", str(port), "--out", out, "--once", "--json",
                              "--timeout", str(timeout)] + tls_common +
                       ([] if fsync else ["--no-fsync"]) +
                       (["--cert", str(pki.server_cert), "--key", str(pki.server_key)]
                        if use_tls else []), stdout=so, stderr=se, env=env,
                       rss_file=os.path.join(work, "serve.rss"))
    try:
        wait_listening(server, port, scp_log)
        scu_log, scu_json = os.path.join(work, "store.log"), os.path.join(work, "store.json")
        warm_pages(out, nbytes)
        with open(scu_json, "w") as so, open(scu_log, "w") as se:
            client = Child(cli + ["store", "127.0.0.1", str(port), src, "--json", "--quiet",
                                  "--timeout", str(timeout), *store_args] + tls_common +
                           (["--cert", str(pki.client_cert), "--key", str(pki.client_key)]
                            if use_tls else []), stdout=so, stderr=se, env=env,
                           rss_file=os.path.join(work, "store.rss"))
            client.wait(timeout)
        out_text = open(scu_json).read()
        if client.rc != 0:
            raise RuntimeError(f"dicomtls store rc={client.rc}:\n{out_text}\n" + _tail(scu_log))
        server.wait(60)
        if server.rc != 0:
            raise RuntimeError(f"dicomtls serve rc={server.rc}:\n" + _tail(scp_log))
    finally:
        server.kill()
    record = json.loads(out_text.strip().splitlines()[-1])
    if (record["sent"], record["failed"], record["bytes"]) != (count, 0, nbytes):
        raise RuntimeError(f"dicomtls store: {record}")
    served = json.loads(open(scp_json).read().strip().splitlines()[-1])
    if served["stored"] != count:
        raise RuntimeError(f"dicomtls serve: {served}")
    _check_out(out, count, nbytes, "dicomtls serve")
    protocol = None
    if record["session"]:
        s = record["session"]
        protocol = f"{s.get('protocol')} {s.get('cipher_suite')}"
    return Run(client.wall, record["seconds"], client.maxrss_kib, server.maxrss_kib, protocol)


def _dcmtk_tls(pki, role):
    key, cert = (pki.client_key, pki.client_cert) if role == "scu" else \
        (pki.server_key, pki.server_cert)
    return ["+tls", str(key), str(cert), "+cf", str(pki.ca_cert), "+py"]


def run_dcmtk(work, files, count, nbytes, pki, use_tls, timeout, pdu, *, debug=False,
              nodelay=True) -> Run:
    port = free_port()
    # DCMTK 3.6.7 leaves Nagle on unless TCP_NODELAY=1 is in the environment; with it on, every
    # small object waits for a delayed ACK (~40 ms here).
    env = dict(os.environ, TCP_NODELAY="1" if nodelay else "0")  # the namespace is ours alone; any free port will do
    out = _fresh(os.path.join(work, "out"))
    verbosity = ["-d"] if debug else []
    scp_log = os.path.join(work, "storescp.log")
    with open(scp_log, "w") as se:
        server = Child([STORESCP, *verbosity, "+B", "-od", out, "-pdu", str(pdu),
                        "-ta", str(int(timeout)), "-td", str(int(timeout))] +
                       (_dcmtk_tls(pki, "scp") if use_tls else []) + [str(port)],
                       stdout=se, stderr=subprocess.STDOUT, env=env,
                       rss_file=os.path.join(work, "storescp.rss"))
    try:
        wait_listening(server, port, scp_log)
        scu_log = os.path.join(work, "storescu.log")
        warm_pages(out, nbytes)
        with open(scu_log, "w") as se:
            client = Child([STORESCU, *verbosity, "-pdu", str(pdu), "-to", str(int(timeout)),
                            "-ta", str(int(timeout)), "-td", str(int(timeout))] +
                           (_dcmtk_tls(pki, "scu") if use_tls else []) +
                           ["127.0.0.1", str(port), *files], stdout=se, stderr=subprocess.STDOUT,
                           env=env, rss_file=os.path.join(work, "storescu.rss"))
            client.wait(timeout)
        if client.rc != 0:
            raise RuntimeError(f"storescu rc={client.rc}:\n" + _tail(scu_log))
        time.sleep(0.05)  # storescp closes the last file on the A-RELEASE it has answered
        server.wait(30, interrupt=True)
    finally:
        server.kill()
    log = open(scu_log, errors="replace").read()
    if re.search(r"^[EF]:", log, re.M):
        raise RuntimeError("storescu reported errors:\n" + _tail(scu_log))
    _check_out(out, count, nbytes, "storescp")
    protocol = None
    if debug:
        proto = re.search(r"Protocol\s*:\s*([^\s,]+)", log)
        suite = re.search(r"Ciphersuite\s*:\s*([^\s,]+)", log)
        if proto and suite:
            protocol = f"{proto.group(1)} {suite.group(1)}"
    return Run(client.wall, None, client.maxrss_kib, server.maxrss_kib, protocol)


def fsync_cost(work, files) -> float:
    """Seconds fsync adds to writing ``files`` once each: best of 3 (write + fsync) minus best
    of 3 (write only), dirty pages flushed (os.sync) before every trial."""
    blobs = [open(f, "rb").read() for f in files]
    best = {}
    for do_sync in (False, True) * 3:
        out = _fresh(os.path.join(work, "fsync"))
        os.sync()
        t0 = time.perf_counter()
        for i, data in enumerate(blobs):
            fd = os.open(os.path.join(out, f"{i}.dcm"), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, data)
            if do_sync:
                os.fsync(fd)
            os.close(fd)
        took = time.perf_counter() - t0
        best[do_sync] = min(best.get(do_sync, took), took)
    shutil.rmtree(os.path.join(work, "fsync"), ignore_errors=True)
    return best[True] - best[False]


# -- main ----------------------------------------------------------------------------------------

def compile_tree(root: str) -> None:
    """Byte-compile a source root: this environment may set PYTHONDONTWRITEBYTECODE, and a tree
    with stale .pyc files would pay the compiler at every CLI start (``.ci/setup`` precompiles
    the installed package, so this is the deployed state)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", root], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)


def _variants(args) -> list[tuple[str, object, bool, tuple]]:
    """(label, source root or None, fsync, store options) for every "ours" row."""
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.fsync]
    out = [("ours", None, fsync, ()) for fsync in modes]
    if args.window1:
        out.append(("ours window 1", None, True, ("--async-window", "1")))
    if args.baseline:
        out.append(("baseline", args.baseline, True, ()))
    return out


def _fsync_label(fsync: bool) -> str:
    return "fsync" if fsync else "no-fsync"


def _name(variant) -> str:
    return f"{variant[0]} ({_fsync_label(variant[2])})"


def run_big(args, tmp, pki) -> None:
    """Peak RSS of SCU and SCP for one ``args.big``-MiB object (the data set must stream)."""
    src = os.path.join(tmp, "BIG")
    t0 = time.perf_counter()
    make_big(src, args.big)
    files, nbytes = dataset_bytes(src)
    print(f"{args.big} MiB object made in {time.perf_counter() - t0:.1f} s", flush=True)
    work = os.path.join(tmp, "work")
    os.makedirs(work, exist_ok=True)
    print(f"\nPeak RSS sending one {args.big} MiB object ({nbytes / MIB:.0f} MiB of data set), "
          f"MiB; wall clock of the SCU process")
    print(f"{'who':26} {'transport':9} {'SCU RSS':>8} {'SCP RSS':>8} {'wall s':>7} {'MB/s':>7}")
    for transport, use_tls in (("plain", False), ("TLS", True)):
        rows = []
        for v in _variants(args):
            r = run_ours(work, src, 1, nbytes, pki, use_tls, args.timeout, root=v[1],
                         fsync=v[2], store_args=v[3])
            rows.append((_name(v), r))
        r = run_dcmtk(work, files, 1, nbytes, pki, use_tls, args.timeout, args.dcmtk_pdu)
        rows.append(("storescu -> storescp +B", r))
        for who, r in rows:
            print(f"{who:26} {transport:9} {r.scu_rss / 1024:8.1f} {r.scp_rss / 1024:8.1f} "
                  f"{r.wall:7.2f} {nbytes / 1e6 / r.wall:7.1f}", flush=True)
        shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="64 MiB / 100 objects smoke run")
    ap.add_argument("--big-mib", type=int, default=None, help="dataset A size (default 256)")
    ap.add_argument("--small", type=int, default=None, help="dataset B count (default 500)")
    ap.add_argument("--only", choices=("A", "B"), help="run one dataset only")
    ap.add_argument("--dcmtk-pdu", type=int, default=DCMTK_MAX_PDU,
                    help=f"storescu/storescp -pdu (default {DCMTK_MAX_PDU}, their maximum)")
    ap.add_argument("--dcmtk-nagle", action="store_true",
                    help="run DCMTK without TCP_NODELAY=1 (its default: Nagle stays on)")
    ap.add_argument("--timeout", type=float, default=600.0, help="per subprocess, seconds")
    ap.add_argument("--baseline", metavar="PKG_ROOT",
                    help="also run ours from this source root (rows labelled 'baseline')")
    ap.add_argument("--fsync", choices=("on", "off", "both"), default="on",
                    help="dicomtls serve with fsync (on, default), --no-fsync (off) or both")
    ap.add_argument("--big", type=int, nargs="?", const=1024, metavar="MIB",
                    help="only measure peak RSS for one MIB-MiB object (default 1024)")
    ap.add_argument("--window1", action="store_true",
                    help="add a row: ours with store --async-window 1 (one C-STORE at a time, "
                         "as storescu sends)")
    args = ap.parse_args()
    big_mib = args.big_mib or (64 if args.quick else 256)
    small = args.small or (100 if args.quick else 500)
    for exe, pkg in ((STORESCU, "dcmtk"), (STORESCP, "dcmtk"), (TIME, "time")):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench_store: {exe} is missing (apt-get install -y {pkg})")
    if args.baseline:
        args.baseline = os.path.abspath(args.baseline)
        if not os.path.isfile(os.path.join(args.baseline, "dicomtls", "__init__.py")):
            sys.exit(f"bench_store: {args.baseline} has no dicomtls/__init__.py")
    ensure_isolated()

    import dicomtls
    from dicomtls.crypto.devpki import create_dev_pki
    for root in filter(None, (os.path.dirname(os.path.dirname(dicomtls.__file__)),
                              args.baseline)):
        compile_tree(root)
    tmp = tempfile.mkdtemp(prefix="bench_store.")
    try:
        pki = create_dev_pki(os.path.join(tmp, "pki"))
        if args.big:
            run_big(args, tmp, pki)
            return 0
        t0 = time.perf_counter()
        datasets = []
        if args.only in (None, "A"):
            make_big(os.path.join(tmp, "A"), big_mib)
            datasets.append(("A", f"1 x {big_mib} MiB", os.path.join(tmp, "A")))
        make_small(os.path.join(tmp, "B"), small if args.only in (None, "B") else 1)
        if args.only in (None, "B"):
            datasets.append(("B", f"{small} x 0.5 MiB", os.path.join(tmp, "B")))
        print(f"datasets made in {time.perf_counter() - t0:.1f} s in {tmp}; "
              f"network namespace links: {', '.join(_links())}", flush=True)
        work = os.path.join(tmp, "work")
        os.makedirs(work)

        # DCMTK's negotiated TLS parameters, from a -d probe with one small object.
        probe_files = sorted(glob.glob(os.path.join(tmp, "B", "*.dcm")))[:1]
        _, probe_bytes = dataset_bytes(os.path.join(tmp, "B"))
        probe = run_dcmtk(work, probe_files, 1, probe_bytes // len(
            glob.glob(os.path.join(tmp, "B", "*.dcm"))), pki, True, 60, args.dcmtk_pdu,
            debug=True)
        dcmtk_tls = probe.protocol or "(not found in -d log)"

        variants = _variants(args)
        print(f"\nC-STORE over 127.0.0.1, SCU process wall clock (spawn to exit), best of "
              f"{args.repeat}, runs interleaved (every variant and DCMTK once per repeat, the "
              f"order rotated)")
        header = (f"{'dataset':16} {'transport':9} {'variant':26} {'MB/s':>7} {'obj/s':>7} "
                  f"{'JSON s':>7} {'MB/s':>7} {'DCMTK MB/s':>10} {'obj/s':>7} {'ratio':>6}")
        print(header)
        print("-" * len(header), flush=True)
        rss = {}
        protocols = {}
        for key, label, src in datasets:
            files, nbytes = dataset_bytes(src)
            count = len(files)
            for transport, use_tls in (("plain", False), ("TLS", True)):
                ours = {v: [] for v in variants}
                theirs = []
                sequence = [*variants, None]   # None: DCMTK
                for repeat in range(args.repeat):
                    # Rotated every repeat: each run pays a little for the one before it (the
                    # file system still settling), so no tool may always come first.
                    shift = repeat % len(sequence)
                    for v in sequence[shift:] + sequence[:shift]:
                        if v is None:
                            theirs.append(run_dcmtk(work, files, count, nbytes, pki, use_tls,
                                                    args.timeout, args.dcmtk_pdu,
                                                    nodelay=not args.dcmtk_nagle))
                        else:
                            ours[v].append(run_ours(work, src, count, nbytes, pki, use_tls,
                                                    args.timeout, root=v[1], fsync=v[2],
                                                    store_args=v[3]))
                best_t = min(theirs, key=lambda r: r.wall)
                mb = nbytes / 1e6
                for v in variants:
                    runs = ours[v]
                    best_o = min(runs, key=lambda r: r.wall)
                    best_i = min(r.inner for r in runs)
                    if use_tls:
                        protocols[v[0]] = best_o.protocol
                    if key == "A":
                        rss[(transport, v)] = (max(r.scu_rss for r in runs),
                                               max(r.scp_rss for r in runs),
                                               max(r.scu_rss for r in theirs),
                                               max(r.scp_rss for r in theirs))
                    name = _name(v)
                    print(f"{key + ' ' + label:16} {transport:9} {name:26} "
                          f"{mb / best_o.wall:7.1f} {count / best_o.wall:7.1f} {best_i:7.2f} "
                          f"{mb / best_i:7.1f} {mb / best_t.wall:10.1f} "
                          f"{count / best_t.wall:7.1f} {best_t.wall / best_o.wall:6.2f}",
                          flush=True)
        fsync_b = fsync_cost(work, sorted(glob.glob(os.path.join(tmp, "B", "*.dcm"))))
        fsync_a = fsync_cost(work, sorted(glob.glob(os.path.join(tmp, "A", "*.dcm")))) \
            if args.only in (None, "A") else float("nan")

        if rss:
            print(f"\nPeak RSS, dataset A ({big_mib} MiB object), MiB (max over runs)")
            print(f"{'transport':9} {'variant':26} {'ours SCU':>9} {'ours SCP':>9} "
                  f"{'storescu':>9} {'storescp':>9}")
            for (transport, v), (a, b, c, d) in rss.items():
                name = _name(v)
                print(f"{transport:9} {name:26} {a / 1024:9.1f} {b / 1024:9.1f} "
                      f"{c / 1024:9.1f} {d / 1024:9.1f}")
        print(f"""
Notes:
* TLS: ours {protocols.get('ours')} (--min/--max-version 1.3, mutual auth, dev PKI);
  DCMTK +py (BCP 195 non-downgrading) negotiated {dcmtk_tls} (-d probe association).
* MB = 10^6 bytes of data set (file meta excluded); ratio = DCMTK wall / ours wall (>1: ours
  faster), DCMTK measured in the same run. "JSON s" = the SCU's own summary seconds
  (association to release, no interpreter start-up or file scan), best of runs; ours SCU+SCP
  are Python processes ({sys.version.split()[0]}), start-up included in the wall clock; both
  source trees byte-compiled first.
* variants: "ours" = {os.path.dirname(os.path.dirname(dicomtls.__file__))}"""
              + (f"; \"baseline\" = {args.baseline}" if args.baseline else "") + f"""
* PDU: ours at its defaults both ways (1 MiB); DCMTK -pdu {args.dcmtk_pdu} on both sides.
* Pipelining: ours proposes an Asynchronous Operations Window of 8 C-STOREs and serve agrees,
  so the next object travels while the previous one is fsynced and renamed (each response
  still only once its file is complete); storescu/storescp send one at a time. "window 1"
  rows (--window1) show ours without it.
* DCMTK ran with TCP_NODELAY={0 if args.dcmtk_nagle else 1} in its environment (3.6.7 keeps Nagle
  on by default: then every small object waits ~40 ms for a delayed ACK; --dcmtk-nagle to see
  it). Ours always sets TCP_NODELAY.
* Disk: every run starts after os.sync() (none pays for the writeback of the previous one).
  "fsync" rows: dicomtls serve fsyncs every file before renaming it and answering (the
  default); "no-fsync" rows: serve --no-fsync (storescp's behaviour: rename without fsync).
  storescp +B writes the data set to its file and never fsyncs. fsync cost measured here
  (write+fsync minus write): {fsync_a:.3f} s for A, {fsync_b:.3f} s for B.
* storescu re-encodes each data set from its parsed file (same transfer syntax, no conversion);
  ours streams the stored data set bytes from the file.""")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
