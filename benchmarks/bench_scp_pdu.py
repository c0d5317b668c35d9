"""What a small PDU costs our SCP: DCMTK storescu sends the same objects to `dicomtls serve` with
16 KB PDUs and with 128 KB PDUs (its -pdu, default and maximum), in one run, interleaved.

    python benchmarks/bench_scp_pdu.py [--count 4] [--mib 64] [--repeat 5] [--tls]

Rows: serve writing the files (--no-fsync) and serve --ignore (nothing written: the receive
path alone). Columns: serve's own MB/s inside the association (its --json seconds) and
storescu's process wall clock, median (min-max) over --repeat. Equal columns for 16 KB and
128 KB mean the per-PDU work (framing, the association's event per PDU, the validator) is
not what limits the SCP. Runs in a private network namespace (bench_store.ensure_isolated),
each after bench_store.warm_pages; every subprocess has a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_store  # noqa: E402
from bench_store import STORESCU, _dcmtk_tls, free_port, warm_pages  # noqa: E402
from bench_store_data import dataset_bytes, make_big  # noqa: E402

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
PDUS = (16384, 131072)


def run(work, files, nbytes, pdu, ignore, pki, timeout):
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    port = free_port()
    tls = ["--tls", "--ca", str(pki.ca_cert), "--cert", str(pki.server_cert), "--key",
           str(pki.server_key)] if pki else []
    scp = subprocess.Popen(CLI + ["serve", str(port), "--bind", "127.0.0.1", "--out", out,
                                  "--once", "--json", "--no-fsync", "--workers", "1",
                                  "--timeout", str(timeout)] +
                           (["--ignore"] if ignore else []) + tls,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in scp.stderr:
            if "listening" in line:
                break
        warm_pages(out, nbytes)
        started = time.perf_counter()
        scu = subprocess.run([STORESCU, "-pdu", str(pdu)] +
                             (_dcmtk_tls(pki, "scu") if pki else []) +
                             ["127.0.0.1", str(port), *files],
                             env=dict(os.environ, TCP_NODELAY="1"), capture_output=True,
                             text=True, timeout=timeout)
        wall = time.perf_counter() - started
        if scu.returncode != 0:
            raise RuntimeError(f"storescu rc={scu.returncode}: {scu.stderr[-2000:]}")
        record = json.loads(scp.communicate(timeout=timeout)[0].strip().splitlines()[-1])
    finally:
        scp.kill()
        scp.communicate()
    if record.get("bytes_received") != nbytes or record.get("failed"):
        raise RuntimeError(f"serve received {record}")
    return nbytes / 1e6 / record["seconds"], nbytes / 1e6 / wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tls", action="store_true", help="TLS (dev PKI, mutual authentication)")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    if not os.access(STORESCU, os.X_OK):
        sys.exit(f"bench_scp_pdu: {STORESCU} is missing (apt-get install -y dcmtk)")
    bench_store.ensure_isolated(__file__)
    tmp = tempfile.mkdtemp(prefix="bench_scp_pdu.")
    try:
        pki = None
        if args.tls:
            from dicomtls.crypto.devpki import create_dev_pki
            pki = create_dev_pki(os.path.join(tmp, "pki"))
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        for i in range(args.count):
            make_big(os.path.join(tmp, f"b{i}"), args.mib)
            os.rename(os.path.join(tmp, f"b{i}", "big.dcm"), os.path.join(src, f"big{i}.dcm"))
        files, nbytes = dataset_bytes(src)
        print(f"storescu -> dicomtls serve, {args.count} x {args.mib} MiB, "
              f"{'TLS' if args.tls else 'plain TCP'}, median (min-max) of {args.repeat}\n")
        print("| serve | storescu -pdu | serve MB/s inside the association | "
              "storescu MB/s (process wall) |")
        print("|---|---:|---:|---:|")
        for ignore in (False, True):
            results = {pdu: [] for pdu in PDUS}
            order = list(PDUS) * args.repeat
            random.shuffle(order)
            for pdu in order:
                results[pdu].append(run(tmp, files, nbytes, pdu, ignore, pki, args.timeout))
            for pdu in PDUS:
                inside = [r[0] for r in results[pdu]]
                wall = [r[1] for r in results[pdu]]
                print(f"| {'--ignore' if ignore else 'writing (--no-fsync)'} | {pdu} | "
                      f"{statistics.median(inside):.0f} ({min(inside):.0f}-{max(inside):.0f}) "
                      f"| {statistics.median(wall):.0f} ({min(wall):.0f}-{max(wall):.0f}) |",
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
