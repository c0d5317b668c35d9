"""Aggregate C-STORE throughput of `dicomtls serve --workers N` with 8 concurrent storing
clients, N = 1 and 2 (and more with --workers), in one run, interleaved.

    python benchmarks/bench_workers.py [--clients 8] [--objects 40] [--mib 0.5] [--repeat 3]
        [--workers 1,2] [--plain] [--no-fsync]

Each client is a `dicomtls store` process (``--client dcmtk``: DCMTK storescu, whose C++
costs the shared cores less) sending its own ``--objects`` objects of ``--mib`` MiB over TLS
(dev PKI, mutual authentication; ``--plain``: TCP) in one association; all start together. Reported per worker count: the aggregate MB/s from the first client's start
to the last one's exit (1 MB = 10^6 data set bytes), median (min-max) over ``--repeat``, the
ratio to one worker, and the CPU seconds every process of the row used (server, workers
and clients: ``os.times`` of reaped children around the row). Loopback only; the clients
share the machine's cores with the server, which bounds what a second worker can add here.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_store_data import MIB, make_client_dirs  # noqa: E402

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
STORESCU = "/usr/bin/storescu"   # absolute: pynetdicom installs a same-named script


def _tls(pki, role):
    cert, key = (pki.server_cert, pki.server_key) if role == "server" else \
        (pki.client_cert, pki.client_key)
    return ["--tls", "--cert", str(cert), "--key", str(key), "--ca", str(pki.ca_cert)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client_command(args, pki, port: int, directory: str) -> list:
    """Our `dicomtls store`, or DCMTK's storescu (C++: the clients then cost the shared cores
    little, so the server's own scaling shows)."""
    if args.client == "dcmtk":
        tls = [] if args.plain else ["+tls", str(pki.client_key), str(pki.client_cert),
                                     "+cf", str(pki.ca_cert)]
        files = sorted(os.path.join(directory, n) for n in os.listdir(directory))
        return [STORESCU, *tls, "127.0.0.1", str(port), *files]
    tls = [] if args.plain else _tls(pki, "client")
    return CLI + ["store", "127.0.0.1", str(port), directory, "--quiet", *tls]


def _cpu_seconds(pid: int) -> float:
    """user+system seconds of process ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(pid: int) -> float:
    """The server's CPU seconds: the process and its live workers."""
    total = _cpu_seconds(pid)
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        for child in f.read().split():
            total += _cpu_seconds(int(child))
    return total


def _row(args, pki, dirs, workers: int, total_bytes: int, tmp: str) -> tuple[float, float]:
    out = tempfile.mkdtemp(dir=tmp)
    port = _free_port()
    tls = [] if args.plain else _tls(pki, "server")
    extra = ["--no-fsync"] if args.no_fsync else []
    server = subprocess.Popen(CLI + ["serve", str(port), "--out", out, "--workers", str(workers),
                                     *extra, *tls], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        if "listening" not in line:
            raise SystemExit(f"serve did not start: {line}")
        started = time.monotonic()
        clients = [subprocess.Popen(_client_command(args, pki, port, d),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=dict(os.environ, TCP_NODELAY="1"))
                   for d in dirs]
        for c in clients:
            if c.wait(timeout=600) != 0:
                raise SystemExit("a store client failed")
        seconds = time.monotonic() - started
        server_cpu = _server_cpu(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return total_bytes / seconds / 1e6, server_cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--objects", type=int, default=40)
    ap.add_argument("--mib", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--no-fsync", action="store_true")
    ap.add_argument("--client", choices=("dicomtls", "dcmtk"), default="dicomtls",
                    help="the storing clients: our `store` or DCMTK storescu (TCP_NODELAY=1)")
    args = ap.parse_args()
    from dicomtls.crypto.devpki import create_dev_pki
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_dev_pki(os.path.join(tmp, "pki"))
        size = int(args.mib * MIB)
        dirs = make_client_dirs(tmp, args.clients, args.objects, size)
        total = args.clients * args.objects * size
        rates: dict[int, list] = {w: [] for w in counts}
        cpu: dict[int, list] = {w: [] for w in counts}
        server_cpu: dict[int, list] = {w: [] for w in counts}
        for _ in range(args.repeat):
            for w in counts:   # interleaved: every row sees the same machine load
                before = os.times()
                rate, scpu = _row(args, pki, dirs, w, total, tmp)
                after = os.times()
                rates[w].append(rate)
                server_cpu[w].append(scpu)
                cpu[w].append((after.children_user - before.children_user)
                              + (after.children_system - before.children_system))
                print(f"# workers={w}: {rate:.0f} MB/s", file=sys.stderr, flush=True)
    base = statistics.median(rates[counts[0]])
    mode = "plain TCP" if args.plain else "TLS 1.3"
    who = "`dicomtls store`" if args.client == "dicomtls" else "DCMTK storescu"
    print(f"\n{args.clients} concurrent {who} clients x {args.objects} objects x "
          f"{args.mib:g} MiB, {mode}{', --no-fsync' if args.no_fsync else ''}; "
          f"{os.cpu_count()} cores; medians (min-max) of {args.repeat}\n")
    print("| workers | aggregate MB/s | vs 1 worker | CPU s, all processes | CPU s, server "
          "| server CPU s per GB |")
    print("|---|---|---|---|---|---|")
    for w in counts:
        r = rates[w]
        scpu = statistics.median(server_cpu[w])
        print(f"| {w} | {statistics.median(r):.0f} ({min(r):.0f}-{max(r):.0f}) | "
              f"{statistics.median(r) / base:.2f} | {statistics.median(cpu[w]):.1f} | "
              f"{scpu:.2f} | {scpu / (total / 1e9):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
