"""The whole comparison table in one run: dicomtls beside DCMTK and pynetdicom, plain TCP, TLS 1.2
and TLS 1.3, over 127.0.0.1, one Markdown table of medians (min-max), ratios and SCP peak RSS.

    python benchmarks/bench_all.py [--quick] [--repeat 3] [--only WORKLOAD]
        [--bulk-count 4] [--bulk-mib 64] [--small 200] [--rate 100] [--fsync] [--timeout 300]

Workloads (WORKLOAD names in brackets):

* [bulk] one association, --bulk-count x --bulk-mib MiB objects (quick: 2 x 32 MiB), MB/s;
* [small] --small x 0.5 MiB objects in one association (quick: 100), objects/s;
* [sink] the bulk objects again, to SCPs that receive, answer and write nothing (`serve
  --ignore`, `storescp --ignore`; pynetdicom has no such SCP here): the network and TLS path
  without the disk, MB/s (compared with the raw TLS transfer below);
* [pdu16] the bulk objects from each SCU to DCMTK storescp at its default 16 KB max PDU (the
  SCU sends at most 16 KB P-DATA PDUs): `dicomtls store`, storescu (-pdu 16384, its default),
  pynetdicom (its default 16382), MB/s;
* [rate] --rate associations, one C-ECHO each, from ONE client process for dicomtls
  (association_runner.associate loop) and pynetdicom (AE.associate loop); DCMTK echoscu has no
  such loop (``--repeat`` repeats C-ECHO inside one association), so its column is --rate
  echoscu processes in sequence (process start included); new associations/s.

Stacks: dicomtls store -> dicomtls serve (--workers 1; --no-fsync unless --fsync, as storescp
and the pynetdicom SCP never fsync); DCMTK storescu -> storescp +B -od (TCP_NODELAY=1, -pdu
131072 both ends, their maximum); pynetdicom SCU -> pynetdicom SCP (bench_all_peers.py, 1 MiB
max PDU both ends, files written as received). TLS: mutual authentication on a dev PKI, both
ends pinned to the version (ours --min/--max-version; pynetdicom ssl contexts; DCMTK 3.6.7
has no version option: OPENSSL_CONF with MinProtocol/MaxProtocol, +py profile).

Throughput = data set bytes (10^6 = 1 MB) or objects over the SCU process wall clock (spawn to
exit: Python start-up included for ours and pynetdicom). Ratios are of medians (> 1: dicomtls
faster). SCP RSS = max over runs of GNU ``/usr/bin/time -f %M``. Runs are interleaved (stack
order rotated each repeat). Everything runs in a private network namespace (bench_store.py's
scheme: storescp 3.6.7 binds all interfaces). Every subprocess has a timeout; temp dirs are
removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_store  # noqa: E402
from bench_store import TIME, STORESCP, STORESCU, _links, compile_tree  # noqa: E402
from bench_store_data import dataset_bytes, make_big, make_small  # noqa: E402

STACKS = ("ours", "dcmtk", "pynd")
TRANSPORTS = ("plain", "1.2", "1.3")
WORKLOADS = ("bulk", "sink", "small", "pdu16", "rate")
TRANSPORT_LABEL = {"plain": "plain", "1.2": "TLS 1.2", "1.3": "TLS 1.3"}


def cell(values, fmt="{:.1f}"):
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def ratio(a, b):
    if not a or not b:
        return "-"
    return f"{statistics.median(a) / statistics.median(b):.2f}"


def startup(module: str) -> str:
    """Seconds a fresh interpreter takes to import ``module``, median (min-max) of 5."""
    took = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=60)
        took.append(time.perf_counter() - t0)
    return cell(took, "{:.2f}") + " s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 repeat, 2 x 32 MiB bulk, 100 small objects")
    ap.add_argument("--repeat", type=int, default=None, help="runs per cell (default 3)")
    ap.add_argument("--only", choices=WORKLOADS, action="append",
                    help="run this workload only (repeatable)")
    ap.add_argument("--bulk-count", type=int, default=None, help="bulk objects (default 4)")
    ap.add_argument("--bulk-mib", type=int, default=None, help="MiB per bulk object (64)")
    ap.add_argument("--small", type=int, default=None, help="small objects (default 200)")
    ap.add_argument("--rate", type=int, default=100, help="associations per rate run")
    ap.add_argument("--fsync", action="store_true",
                    help="dicomtls serve with its default fsync (else --no-fsync, as the others)")
    ap.add_argument("--timeout", type=float, default=300.0, help="per subprocess, seconds")
    args = ap.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    bulk_count = args.bulk_count or (2 if args.quick else 4)
    bulk_mib = args.bulk_mib or (32 if args.quick else 64)
    small = args.small or (100 if args.quick else 200)
    workloads = [w for w in WORKLOADS if not args.only or w in args.only]
    for exe, pkg in ((STORESCU, "dcmtk"), (STORESCP, "dcmtk"), ("/usr/bin/echoscu", "dcmtk"),
                     (TIME, "time")):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench_all: {exe} is missing (apt-get install -y {pkg})")
    bench_store.ensure_isolated(__file__)
    started = time.perf_counter()

    import dicomtls
    import pynetdicom
    from dicomtls.crypto.devpki import create_dev_pki
    from bench_all_runs import Setup, run_rate, run_raw_tls, run_store
    compile_tree(os.path.dirname(os.path.dirname(dicomtls.__file__)))
    tmp = tempfile.mkdtemp(prefix="bench_all.")
    try:
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        setup = Setup(work, create_dev_pki(os.path.join(tmp, "pki")), args.timeout, args.fsync)
        t0 = time.perf_counter()
        data = {}
        if {"bulk", "sink", "pdu16"} & set(workloads):
            bulk = os.path.join(tmp, "bulk")
            os.makedirs(bulk)
            for i in range(bulk_count):
                make_big(os.path.join(tmp, f"b{i}"), bulk_mib)
                os.rename(os.path.join(tmp, f"b{i}", "big.dcm"),
                          os.path.join(bulk, f"big{i:03d}.dcm"))
                os.rmdir(os.path.join(tmp, f"b{i}"))
            data["bulk"] = (bulk, *dataset_bytes(bulk))
        if "small" in workloads:
            make_small(os.path.join(tmp, "small"), small)
            data["small"] = (os.path.join(tmp, "small"),
                             *dataset_bytes(os.path.join(tmp, "small")))
        print(f"data made in {time.perf_counter() - t0:.1f} s; namespace links: "
              f"{', '.join(_links())}; {repeat} repeat(s)", flush=True)

        results, rss, protocols, errors = {}, {}, {}, []
        inside = {}   # (workload, transport) -> dicomtls store's rate inside the association
        ceiling = {}  # transport -> raw TLS transfer MB/s (the bulk rows' bytes and suite)
        for workload in workloads:
            for transport in TRANSPORTS:
                for rep in range(repeat):
                    order = STACKS[rep % 3:] + STACKS[:rep % 3]
                    for stack in order:
                        if workload == "sink" and stack == "pynd":
                            continue
                        key = (workload, transport, stack)
                        try:
                            if workload == "rate":
                                r = run_rate(setup, stack, transport, args.rate)
                                value = args.rate / r.seconds
                            else:
                                src, files, nbytes = data["small" if workload == "small"
                                                          else "bulk"]
                                scp = "dcmtk" if workload == "pdu16" else stack
                                r = run_store(setup, stack, scp, transport, files, src, nbytes,
                                              pdu16=workload == "pdu16",
                                              ignore=workload == "sink")
                                value = (len(files) if workload == "small"
                                         else nbytes / 1e6) / r.seconds
                        except Exception as exc:  # noqa: BLE001 - one cell fails, not the table
                            errors.append(f"{workload} {TRANSPORT_LABEL[transport]} {stack}: "
                                          f"{str(exc).strip()[:600]}")
                            print(f"  FAILED {errors[-1]}", flush=True)
                            continue
                        results.setdefault(key, []).append(value)
                        if r.inside:
                            inside.setdefault((workload, transport), []).append(
                                value * r.seconds / r.inside)
                        if r.scp_rss_kib:
                            rss[key] = max(rss.get(key, 0), r.scp_rss_kib)
                        if r.protocol and transport != "plain":
                            who = f"{stack} -> storescp" if workload == "pdu16" else stack
                            protocols[(transport, who)] = r.protocol
                if workload == "sink" and transport != "plain" and \
                        (transport, "ours") in protocols:
                    suite = protocols[(transport, "ours")].split()[-1]
                    for _ in range(repeat):
                        try:
                            r = run_raw_tls(setup, transport, data["bulk"][2], suite)
                            ceiling.setdefault(transport, []).append(
                                data["bulk"][2] / 1e6 / r.seconds)
                        except Exception as exc:  # noqa: BLE001 - reported, not fatal
                            errors.append(f"raw TLS {transport}: {str(exc).strip()[:600]}")
                row = [f"{results[(workload, transport, s)][-1]:.1f}"
                       if (workload, transport, s) in results else "-" for s in STACKS]
                print(f"  {workload:6} {TRANSPORT_LABEL[transport]:8} ours {row[0]}  "
                      f"dcmtk {row[1]}  pynd {row[2]}", flush=True)

        units = {"bulk": "MB/s", "sink": "MB/s", "small": "obj/s", "pdu16": "MB/s",
                 "rate": "assoc/s"}
        names = {"bulk": f"bulk {bulk_count} x {bulk_mib} MiB",
                 "sink": f"bulk to an SCP writing nothing, {bulk_count} x {bulk_mib} MiB",
                 "small": f"small {small} x 0.5 MiB",
                 "pdu16": f"16 KB-PDU storescp, {bulk_count} x {bulk_mib} MiB",
                 "rate": f"rate {args.rate} assoc x 1 C-ECHO"}
        print(f"\n### dicomtls vs DCMTK 3.6.7 vs pynetdicom {pynetdicom.__version__}, 127.0.0.1, "
              f"median (min-max) of {repeat}\n")
        print("| workload | transport | unit | dicomtls | DCMTK | pynetdicom | dicomtls/DCMTK "
              "| dicomtls/pynetdicom | dicomtls inside the association | "
              "SCP peak RSS MiB: dicomtls / DCMTK / pynetdicom |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
        for workload in workloads:
            for transport in TRANSPORTS:
                vals = [results.get((workload, transport, s), []) for s in STACKS]
                mem = " / ".join(f"{rss[(workload, transport, s)] / 1024:.0f}"
                                 if (workload, transport, s) in rss else "-" for s in STACKS)
                print(f"| {names[workload]} | {TRANSPORT_LABEL[transport]} | {units[workload]} | "
                      f"{cell(vals[0])} | {cell(vals[1])} | {cell(vals[2])} | "
                      f"{ratio(vals[0], vals[1])} | {ratio(vals[0], vals[2])} | "
                      f"{cell(inside.get((workload, transport), []))} | {mem} |")
        for transport, values in ceiling.items():
            print(f"| raw TLS transfer, same bytes and suite (the ceiling) | "
                  f"{TRANSPORT_LABEL[transport]} | MB/s | {cell(values)} | - | - | - | - | "
                  f"sink inside / raw: {ratio(inside.get(('sink', transport), []), values)}; "
                  f"bulk inside / raw: {ratio(inside.get(('bulk', transport), []), values)} "
                  f"| - |")
        print("\nNotes:")
        print("* TLS negotiated: " + "; ".join(
            f"{s} {TRANSPORT_LABEL[t]}: {p}" for (t, s), p in sorted(protocols.items())))
        print(f"* dicomtls serve {'with fsync (default)' if args.fsync else '--no-fsync'}; "
              "pdu16 rows: every column's SCP is storescp (its RSS in each column); "
              "rate DCMTK column: echoscu processes in sequence (process start included).")
        print(f"* Python start-up in every ours/pynetdicom SCU wall clock: `import "
              f"dicomtls.cli.main` {startup('dicomtls.cli.main')}, `import pynetdicom` "
              f"{startup('pynetdicom')} (median (min-max) of 5; DCMTK tools start in a few ms).")
        print("* dicomtls inside the association: the same runs' objects or bytes over `dicomtls "
              "store`'s own time from A-ASSOCIATE to release (process start, imports and "
              "credentials excluded). Raw TLS transfer: `dicomtls tls-client --send-bytes` -> "
              "`tls-server --sink` (libssl, same suite, nothing written), the server's time "
              "inside the connection; the page-cache writes of the bulk rows are not in it.")
        print("* MB = 10^6 bytes of data set; throughput over SCU process wall clock; "
              f"Python {sys.version.split()[0]}, dicomtls {dicomtls.__file__}.")
        for e in errors:
            print(f"* FAILED {e}")
        print(f"\nwhole run {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
