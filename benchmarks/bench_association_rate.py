"""New TLS associations per second from one client process, each with one C-ECHO: full
handshakes against `serve --tls`, and resumed ones against `serve --tls --resume` with a
client SessionCache, in one run, interleaved.

    python benchmarks/bench_association_rate.py [--associations 200] [--repeat 5]
        [--version 1.3|1.2] [--workers 1]

Reported per row: associations/s (median, min-max over ``--repeat``), how many of the
associations were resumed (the first of each run is a full handshake), and the server's CPU
seconds per association (its process and workers, from /proc). Loopback only.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def _cpu(pid: int) -> float:
    total = 0.0
    pids = [pid]
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        pids += [int(x) for x in f.read().split()]
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _run(args, pki, resume: bool) -> tuple[float, int, float]:
    import dicomtls
    from dicomtls.io.association_runner import associate
    from dicomtls.tls.session_cache import SessionCache
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        CLI + ["echo-server", str(port), "--tls", "--cert", str(pki.server_cert), "--key",
               str(pki.server_key), "--ca", str(pki.ca_cert), "--max-version", args.version]
        + (["--resume"] if resume else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if "listening" not in server.stderr.readline():
            raise SystemExit("echo-server did not start")
        config = dicomtls.TLSConfig.from_profile(
            certificate=str(pki.client_cert), private_key=str(pki.client_key),
            ca_file=str(pki.ca_cert), max_version=args.version)
        if resume:
            config = dataclasses.replace(config, session_cache=SessionCache())
        cpu_before = _cpu(server.pid)
        resumed = 0
        started = time.perf_counter()
        for _ in range(args.associations):
            with associate("127.0.0.1", port, tls_config=config, timeout=10) as assoc:
                assoc.echo()
                resumed += bool(assoc.session.resumed)
        seconds = time.perf_counter() - started
        cpu = _cpu(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    return args.associations / seconds, resumed, cpu / args.associations


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--associations", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--version", choices=("1.2", "1.3"), default="1.3")
    args = ap.parse_args()
    from dicomtls.crypto.devpki import create_dev_pki
    rows = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_dev_pki(os.path.join(tmp, "pki"))
        for _ in range(args.repeat):
            for resume in (False, True):
                rows[resume].append(_run(args, pki, resume))
    print(f"\n{args.associations} TLS {args.version} associations x 1 C-ECHO, one client "
          f"process, `echo-server` (one worker); medians (min-max) of {args.repeat}\n")
    print("| handshakes | associations/s | resumed | server CPU ms per association |")
    print("|---|---|---|---|")
    for resume in (False, True):
        rates = [r[0] for r in rows[resume]]
        print(f"| {'resumed (--resume)' if resume else 'full'} | "
              f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f}) | "
              f"{statistics.median(r[1] for r in rows[resume]):.0f} of {args.associations} | "
              f"{statistics.median(r[2] for r in rows[resume]) * 1000:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
