"""Peak memory and threads of one `dicomtls serve --tls --workers 1` while N TLS associations
store at once (issue target: 64 associations under 150 MB peak RSS).

    python benchmarks/bench_memory.py [--associations 64] [--objects 20] [--mib 0.5]
        [--repeat 3]

The clients are threads of this process, each running our C-STORE SCU (``storage.scu.store``,
TLS 1.3, mutual authentication) over its own association with ``--objects`` objects of
``--mib`` MiB; they start together behind a barrier. The server's ``VmHWM`` (peak RSS) and
``VmRSS``/``Threads`` (sampled every 50 ms while the clients run) are read from
``/proc/PID/status``; the row gives the median (min-max) over ``--repeat`` runs, each with a
fresh server. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_store_data import MIB, make_client_dirs  # noqa: E402

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def _status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) / 1024
            elif key == "Threads":
                out[key] = int(value)
    return out


def _one_run(args, pki, dirs, tmp) -> tuple[float, int, float]:
    import dicomtls
    from dicomtls.storage.scu import store
    out = tempfile.mkdtemp(dir=tmp)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(CLI + ["serve", str(port), "--out", out, "--workers", "1",
                                   "--tls", "--cert", str(pki.server_cert), "--key",
                                   str(pki.server_key), "--ca", str(pki.ca_cert)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if "listening" not in proc.stderr.readline():
            raise SystemExit("serve did not start")
        config = dicomtls.TLSConfig.from_profile(
            certificate=str(pki.client_cert), private_key=str(pki.client_key),
            ca_file=str(pki.ca_cert))
        barrier = threading.Barrier(len(dirs))
        failures: list = []

        def client(d):
            files = sorted(os.path.join(d, n) for n in os.listdir(d))
            barrier.wait(timeout=60)
            try:
                summary = store("127.0.0.1", port, files, tls_config=config, timeout=120)
                if summary.failed:
                    failures.append(summary)
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=client, args=(d,)) for d in dirs]
        for t in threads:
            t.start()
        peak_threads, peak_rss = 0, 0.0
        while any(t.is_alive() for t in threads):
            st = _status(proc.pid)
            peak_threads = max(peak_threads, st["Threads"])
            peak_rss = max(peak_rss, st["VmRSS"])
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=300)
        if failures:
            raise SystemExit(f"{len(failures)} clients failed: {failures[:2]}")
        hwm = _status(proc.pid)["VmHWM"]
        return hwm, peak_threads, peak_rss
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--associations", type=int, default=64)
    ap.add_argument("--objects", type=int, default=20)
    ap.add_argument("--mib", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from dicomtls.crypto.devpki import create_dev_pki
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_dev_pki(os.path.join(tmp, "pki"))
        dirs = make_client_dirs(tmp, args.associations, args.objects, int(args.mib * MIB))
        rows = [_one_run(args, pki, dirs, tmp) for _ in range(args.repeat)]
    hwm = [r[0] for r in rows]
    threads = [r[1] for r in rows]
    print(f"\n{args.associations} concurrent TLS 1.3 associations x {args.objects} x "
          f"{args.mib:g} MiB C-STORE, one `serve` worker; {args.repeat} runs\n")
    print("| SCP peak RSS (VmHWM) MiB | SCP peak threads |")
    print("|---|---|")
    print(f"| {statistics.median(hwm):.0f} ({min(hwm):.0f}-{max(hwm):.0f}) | "
          f"{statistics.median(threads):.0f} ({min(threads)}-{max(threads)}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
