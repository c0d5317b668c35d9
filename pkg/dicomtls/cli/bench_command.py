"""`dicomtls bench tls|store`: throughput measured on this machine, nothing to configure.

Every run makes a dev PKI in a temp dir, starts the peers as separate `dicomtls` processes on
127.0.0.1 (the same processes a user would run, so interpreter and OS costs are counted as they
will be paid), and removes everything afterwards. The measuring lives in ``bench_tls`` and
``bench_store``; this module holds the options and the child-process handling both share.

Exit 0 when every measurement ran (and, for store, every data set came back byte-identical); 1
when one failed; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dicomtls

DEFAULT_MIB = 64
DEFAULT_REPEAT = 1
DEFAULT_OBJECTS = 100
DEFAULT_SIZE_KIB = 256
_LISTENING = re.compile(r"listening on [^\s:]+:(\d+)")


class BenchError(RuntimeError):
    """A measurement that could not be made (a peer failed, timed out, or reported nonsense)."""


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low}..{high}")
        return value
    return parse


def _suite(text: str):
    from ..tls.suites import lookup
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
    p.add_argument("--mib", type=_bounded_int(1, 16384), default=DEFAULT_MIB,
                   help=f"MiB per transfer (default {DEFAULT_MIB})")
    p.add_argument("--repeat", type=_bounded_int(1, 100), default=DEFAULT_REPEAT,
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
    p.add_argument("--objects", type=_bounded_int(1, 100000), default=DEFAULT_OBJECTS,
                   help=f"number of objects (default {DEFAULT_OBJECTS})")
    p.add_argument("--size-kib", type=_bounded_int(1, 1 << 20), default=DEFAULT_SIZE_KIB,
                   metavar="S", help=f"Pixel Data KiB per object (default {DEFAULT_SIZE_KIB})")
    p.add_argument("--tls", action="store_true",
                   help="store over TLS (default profile, mutual authentication)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_run_store, _parser=p)


# Imported when run, not at start-up: every other dicomtls command pays for what main imports.
def _run_tls(args) -> int:
    from .bench_tls import cmd_bench_tls
    return cmd_bench_tls(args)


def _run_store(args) -> int:
    from .bench_store import cmd_bench_store
    return cmd_bench_store(args)


# -- shared by both benchmarks -------------------------------------------------------------------

def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "dicomtls.cli.main", *map(str, args)]


def _child_env() -> dict:
    """The children must run the very package doing the measuring, even when it was found
    through sys.path rather than an install."""
    root = str(Path(dicomtls.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Child:
    """A `dicomtls` subprocess with stdout and stderr in files (a pipe nobody reads could fill
    and stall it); used as a context manager so it is killed however the block ends."""

    def __init__(self, argv: list[str], work: Path, name: str):
        self.name = name
        self.out_path, self.err_path = work / f"{name}.out", work / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=_child_env())

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def wait_listening(self, timeout: float = 30.0) -> int:
        """The port from the child's "listening on HOST:PORT" line (it was told to bind port 0:
        the kernel picks a free one, so parallel runs never race for a port)."""
        deadline = time.monotonic() + timeout
        while True:
            m = _LISTENING.search(self.err_path.read_text(errors="replace"))
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited ({self.proc.returncode}) before listening"
                                 f"{self.reason()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} not listening after {timeout:.0f} s")
            time.sleep(0.02)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"{self.name} killed after {timeout:.0f} s") from None

    def check(self, timeout: float) -> None:
        rc = self.wait(timeout)
        if rc != 0:
            raise BenchError(f"{self.name} exited {rc}{self.reason()}")

    def last_json(self) -> dict:
        lines = self.out_path.read_text(errors="replace").strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError):
            raise BenchError(f"{self.name} printed no JSON{self.reason()}") from None

    def reason(self) -> str:
        """The child's last stderr line that says something (warnings and progress skipped)."""
        lines = [ln.strip() for ln in
                 self.err_path.read_text(errors="replace").replace("\r", "\n").splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("WARNING")]
        return f": {lines[-1]}" if lines else ""


def make_dev_pki(work: Path, key_type: str = "rsa"):
    from ..crypto.devpki import create_dev_pki
    return create_dev_pki(work / f"pki-{key_type}", key_type=key_type)


def emit(report: dict, as_json: bool, render) -> None:
    """One JSON document, or the table ``render(report)`` returns."""
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if as_json else render(report))
    sys.stdout.flush()
