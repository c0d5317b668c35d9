"""What ``dicomtls bench tls`` and ``bench store`` share: the error type, child ``dicomtls``
processes on 127.0.0.1, the dev PKI of a run and the report output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

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
    """A `dicomtls` subprocess with stdout in a file (a pipe nobody reads could fill and stall
    it) and stderr copied to a file by a thread that also spots the "listening" line, so
    ``wait_listening`` waits on an event, not by re-reading the file; used as a context manager
    so it is killed however the block ends."""

    def __init__(self, argv: list[str], work: Path, name: str):
        self.name = name
        self.out_path, self.err_path = work / f"{name}.out", work / f"{name}.err"
        self.port: Optional[int] = None
        self._listening = threading.Event()   # set at the line, or at stderr's end
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.PIPE, env=_child_env())
        self._tee = threading.Thread(target=self._copy_stderr, daemon=True)
        self._tee.start()

    def _copy_stderr(self) -> None:
        with open(self.err_path, "wb") as err:
            for line in self.proc.stderr:
                err.write(line)
                err.flush()
                if self.port is None:
                    m = _LISTENING.search(line.decode(errors="replace"))
                    if m:
                        self.port = int(m.group(1))
                        self._listening.set()
        self._listening.set()   # the child closed stderr: it will not start listening now

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
        self._tee.join(5)

    def wait_listening(self, timeout: float = 30.0) -> int:
        """The port from the child's "listening on HOST:PORT" line (it was told to bind port 0:
        the kernel picks a free one, so parallel runs never race for a port)."""
        if not self._listening.wait(timeout):
            raise BenchError(f"{self.name} not listening after {timeout:.0f} s")
        if self.port is None:
            try:
                code = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                code = "still running"
            self._tee.join(5)
            raise BenchError(f"{self.name} exited ({code}) before listening{self.reason()}")
        return self.port

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"{self.name} killed after {timeout:.0f} s") from None
        self._tee.join(5)   # its last stderr lines are in the file (``reason``)
        return code

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
