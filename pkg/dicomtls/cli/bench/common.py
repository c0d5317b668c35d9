"""What ``dicomtls bench tls`` and ``bench store`` share: the error type, child ``dicomtls``
processes on 127.0.0.1, the dev PKI of a run and the report output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dicomtls

_LISTENING = re.compile(r"listening on [^\s:]+:(\d+)")


class BenchError(RuntimeError):
    """A measurement that could not be made (a peer failed, timed out, or reported nonsense)."""


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
    from ...crypto.devpki import create_dev_pki
    return create_dev_pki(work / f"pki-{key_type}", key_type=key_type)


def emit(report: dict, as_json: bool, render) -> None:
    """One JSON document, or the table ``render(report)`` returns."""
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if as_json else render(report))
    sys.stdout.flush()
