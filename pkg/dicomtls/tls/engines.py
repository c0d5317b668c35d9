"""Choosing the engine that runs a connection.

libssl runs every configuration whose suites and versions it can negotiate. Anything else (DES,
3DES, and every suite the system libssl leaves out) needs dicomtls' own TLS 1.0-1.2 engine; until
that engine is built into this package, such configurations fail here with a clear message instead
of silently losing suites.
"""

from __future__ import annotations

from typing import Optional

from .._binding import features
from ..errors import EngineUnavailableError
from .config import TLSConfig
from .connection import TLSConnection
from .libssl_context import libssl_missing

ENGINES = ("libssl",)


def suite_engines(code: int) -> tuple[str, ...]:
    """Which engines of this build can negotiate the suite with this IANA code."""
    return ("libssl",) if code in features().libssl_suite_codes else ()


def select_engine(config: TLSConfig) -> str:
    missing = libssl_missing(config)
    if not missing:
        return "libssl"
    raise EngineUnavailableError(
        "no engine in this build can negotiate " + ", ".join(missing) + ": the system libssl ("
        + features().openssl_version + ") lacks them and dicomtls' own legacy TLS engine is not "
        "part of this release; remove them or choose a profile libssl supports")


def new_connection(config: TLSConfig, role: str, *, server_name: Optional[str] = None,
                   engine: Optional[str] = None) -> TLSConnection:
    """A sans-IO connection for ``role`` ("client" or "server") on the engine the config needs."""
    engine = engine or select_engine(config)
    if engine == "libssl":
        from .libssl_engine import LibsslConnection
        return LibsslConnection(config, role, server_name=server_name)
    raise EngineUnavailableError(f"unknown TLS engine {engine!r}")
