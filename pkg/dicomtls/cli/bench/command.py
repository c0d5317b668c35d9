"""`dicomtls bench tls|store`: throughput measured on this machine, nothing to configure.

Every run makes a dev PKI in a temp dir, starts the peers as separate `dicomtls` processes on
127.0.0.1 (the same processes a user would run, so interpreter and OS costs are counted as they
will be paid), and removes everything afterwards. The measuring lives in ``tls`` and ``store``,
what both share in ``common``; this module holds the options.

Exit 0 when every measurement ran (and, for store, every data set came back byte-identical); 1
when one failed; 2 for usage errors.
"""

from __future__ import annotations

import argparse

from ..options import bounded

DEFAULT_MIB = 64
DEFAULT_REPEAT = 1
DEFAULT_OBJECTS = 100
DEFAULT_SIZE_KIB = 256


def _suite(text: str):
    from ...tls.suites import lookup
    try:
        return lookup(text)
    except Exception as exc:  # noqa: BLE001 - UnknownCipherSuiteError: a usage error here
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub) -> None:
    bench = sub.add_parser(
        "bench", help="measure TLS and C-STORE throughput on this machine (127.0.0.1)",
        description="Throughput between two dicomtls processes on 127.0.0.1, with a dev PKI made "
                    "in a temp dir (mutual authentication). Prints a table, or one JSON document "
                    "with --json.")
    kinds = bench.add_subparsers(dest="bench", metavar="KIND", required=True)

    p = kinds.add_parser(
        "tls", help="bulk TLS transfer per ciphersuite, beside `openssl speed`",
        description="Sends --mib MiB from `dicomtls tls-client` to `dicomtls tls-server --sink` "
                    "once per suite and reports the receiver's MB/s (10^6 bytes/s), best of "
                    "--repeat, beside `openssl speed -evp CIPHER -bytes 16384 -seconds 1` (one "
                    "core, encryption only) when the openssl binary exists. Default rows: TLS 1.3 "
                    "AES-256-GCM, TLS 1.2 ECDHE-RSA-AES128-GCM and AES128-SHA (libssl), TLS 1.2 "
                    "3DES and TLS 1.1 DES (dicomtls' own engine).")
    p.add_argument("--mib", type=bounded(int, 1, 16384), default=DEFAULT_MIB,
                   help=f"MiB per transfer (default {DEFAULT_MIB})")
    p.add_argument("--repeat", type=bounded(int, 1, 100), default=DEFAULT_REPEAT,
                   help=f"runs per row, the best is reported (default {DEFAULT_REPEAT})")
    p.add_argument("--cipher", type=_suite, action="extend", nargs="+", metavar="NAME",
                   help="measure these suites (IANA or OpenSSL names) instead of the default "
                        "rows; repeatable")
    p.add_argument("--engine", choices=("auto", "libssl", "dicomtls"), default="auto",
                   help="force both ends onto one engine (default: each suite's own choice); "
                        "default rows it cannot run are skipped")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_run_tls, _parser=p)

    p = kinds.add_parser(
        "store", help="C-STORE of synthetic objects, dicomtls store -> dicomtls serve",
        description="Makes --objects synthetic Secondary Capture objects of --size-kib KiB of "
                    "Pixel Data, stores them on one association with `dicomtls store` into "
                    "`dicomtls serve --once` (plain TCP, or TLS with --tls), reports objects/s "
                    "and MB/s of data set over the SCU's association time, and checks that every "
                    "stored data set is byte-identical to its source (exit 1 if not).")
    p.add_argument("--objects", type=bounded(int, 1, 100000), default=DEFAULT_OBJECTS,
                   help=f"number of objects (default {DEFAULT_OBJECTS})")
    p.add_argument("--size-kib", type=bounded(int, 1, 1 << 20), default=DEFAULT_SIZE_KIB,
                   metavar="S", help=f"Pixel Data KiB per object (default {DEFAULT_SIZE_KIB})")
    p.add_argument("--tls", action="store_true",
                   help="store over TLS (default profile, mutual authentication)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_run_store, _parser=p)

    p = kinds.add_parser(
        "table", help="the whole comparison table beside DCMTK and pynetdicom (source checkout)",
        description="Runs benchmarks/bench_all.py of the source checkout this dicomtls comes "
                    "from, with the arguments after `table` (e.g. --quick; `dicomtls bench "
                    "table -- --help` lists them): bulk, bulk to SCPs "
                    "writing nothing, small objects, a 16 KB-PDU peer and association rate, for "
                    "dicomtls, DCMTK and pynetdicom, plain and TLS 1.2/1.3, one Markdown table. "
                    "It needs DCMTK, pynetdicom and GNU time, and a checkout: the benchmark "
                    "scripts are not part of an installed wheel.")
    # Every argument after `table` goes to bench_all.py (main passes on what it does not
    # know when the command sets ``passes_through``): its options are defined there only.
    p.set_defaults(func=_run_table, _parser=p, passes_through=True, passed_args=[])


# Imported when run, not at start-up: every other dicomtls command pays for what main imports.
def _run_tls(args) -> int:
    from .tls import cmd_bench_tls
    return cmd_bench_tls(args)


def _run_store(args) -> int:
    from .store import cmd_bench_store
    return cmd_bench_store(args)


def bench_all_script():
    """benchmarks/bench_all.py of the checkout the package was imported from, or None."""
    import os
    from pathlib import Path
    here = Path(__file__).resolve()
    script = here.parents[4] / "benchmarks" / "bench_all.py"   # <root>/pkg/dicomtls/cli/bench
    return script if script.is_file() and os.access(script, os.R_OK) else None


def _run_table(args) -> int:
    import subprocess
    import sys
    script = bench_all_script()
    if script is None:
        sys.stderr.write("dicomtls bench table: benchmarks/bench_all.py not found: run it from a "
                         "source checkout (the benchmarks are not installed with the package)\n")
        return 1
    return subprocess.call([sys.executable, str(script), *args.passed_args])


# -- shared by both benchmarks -------------------------------------------------------------------

