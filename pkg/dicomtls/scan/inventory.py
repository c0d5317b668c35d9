"""Scanning an inventory of hosts (``dicomtls scan --targets FILE``) into one report.

The file lists one target per line: ``HOST PORT`` or ``HOST:PORT`` (``[v6]:PORT`` for IPv6),
optionally followed by ``called_ae=AE`` and ``server_name=NAME``; ``#`` starts a comment. Targets
are scanned ``parallel`` at a time (each scan runs its own handshakes in parallel too), and the
whole inventory shares one time budget: a target that has not started when it runs out is
reported as skipped, one that started gets what is left. A target that cannot be scanned at all
(unreachable, no TLS) is an entry with an ``error``, never the end of the run.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import ConfigurationError, DicomTLSError
from .report_json import SCHEMA_VERSION, report_json

INVENTORY_SCHEMA = "dicomtls-scan-inventory"
MAX_TARGETS = 4096


@dataclass(frozen=True)
class ScanTarget:
    """One line of an inventory file."""

    host: str
    port: int
    called_ae: Optional[str] = None
    server_name: Optional[str] = None
    line: int = 0


def parse_targets(text: str) -> list:
    """The targets of an inventory file; ConfigurationError naming the line of a bad one."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        options = dict(w.split("=", 1) for w in words if "=" in w)
        plain = [w for w in words if "=" not in w]
        unknown = set(options) - {"called_ae", "server_name"}
        try:
            if unknown:
                raise ValueError(f"unknown option {', '.join(sorted(unknown))}")
            if len(plain) == 2 and plain[1].isdigit():
                host, port = plain[0], int(plain[1])
            elif len(plain) == 1 and plain[0].rsplit(":", 1)[-1].isdigit():
                host, port_text = plain[0].rsplit(":", 1)
                host, port = host.strip("[]"), int(port_text)
            else:
                raise ValueError("expected HOST PORT or HOST:PORT")
            if not host or not 1 <= port <= 65535:
                raise ValueError("bad host or port")
        except ValueError as exc:
            raise ConfigurationError(f"targets line {number}: {exc}: {raw.strip()!r}") from None
        out.append(ScanTarget(host, port, options.get("called_ae"), options.get("server_name"),
                              number))
    if not out:
        raise ConfigurationError("the targets file lists no target")
    if len(out) > MAX_TARGETS:
        raise ConfigurationError(f"more than {MAX_TARGETS} targets")
    return out


def scan_inventory(targets, scan_one: Callable, *, parallel: int = 2,
                   max_time: float = 3600.0) -> dict:
    """Scan every target with ``scan_one(target, seconds_left) -> ScanReport`` (which raises a
    DicomTLSError or OSError when the target cannot be scanned); one inventory document."""
    started = time.monotonic()
    deadline = started + max_time

    def run(target: ScanTarget) -> dict:
        left = deadline - time.monotonic()
        if left <= 1.0:
            return _failed(target, "skipped: the inventory's time budget ran out")
        try:
            return report_json(scan_one(target, left))
        except (DicomTLSError, OSError) as exc:
            return _failed(target, f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=max(1, parallel),
                            thread_name_prefix="dicomtls-inventory") as pool:
        docs = list(pool.map(run, targets))
    return {"schema": INVENTORY_SCHEMA, "schema_version": SCHEMA_VERSION,
            "seconds": round(time.monotonic() - started, 3), "targets": docs}


def _failed(target: ScanTarget, error: str) -> dict:
    return {"host": target.host, "port": target.port, "error": error}
