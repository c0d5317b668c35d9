"""Choosing the engine that runs a connection.

libssl runs every configuration whose suites and versions it can negotiate. Anything else (DES,
3DES, NULL: suites the system libssl leaves out) runs on dicomtls' own TLS 1.0-1.2 engine
(``tls/own``). A client offers everything in one ClientHello, so it needs one engine that can
offer its whole list. A server configured with suites of both kinds reads the ClientHello first
and hands the connection to the engine that can run the suite it will pick (``tls/selecting.py``).
"""

from __future__ import annotations

import logging
from typing import Optional

from .._binding import features
from ..errors import EngineUnavailableError
from .config import TLSConfig
from .connection import TLSConnection
from .libssl_context import libssl_context, libssl_missing
from .own.cipherspec import ENGINE_NAME, engine_supports
from .suites import by_code
from .versions import TLSVersion

log = logging.getLogger("dicomtls.tls")

ENGINES = ("libssl", ENGINE_NAME)
SELECTING = "select"


def suite_engines(code: int) -> tuple[str, ...]:
    """Which engines of this build can negotiate the suite with this IANA code."""
    out = []
    if code in features().libssl_suite_codes:
        out.append("libssl")
    suite = by_code(code)
    if suite is not None and engine_supports(suite):
        out.append(ENGINE_NAME)
    return tuple(out)


def _split(config: TLSConfig):
    """(suites only libssl runs, suites only the own engine runs, suites neither runs)."""
    libssl_codes = features().libssl_suite_codes
    libssl_only, own_only, neither = [], [], []
    for s in config.usable_suites():
        in_libssl, in_own = s.code in libssl_codes, engine_supports(s)
        if not in_libssl and not in_own:
            neither.append(s)
        elif in_libssl and not in_own:
            libssl_only.append(s)
        elif in_own and not in_libssl:
            own_only.append(s)
    return libssl_only, own_only, neither


def select_engine(config: TLSConfig, role: str = "client") -> str:
    """The engine for ``role``: "libssl", "dicomtls", or (servers) "select" = decide per client.

    Raises EngineUnavailableError for a configuration no engine of this build can run, or one the
    engine forced by ``config.engine`` cannot run.
    """
    if config.engine == "libssl":
        missing = libssl_missing(config)
        if missing:
            raise EngineUnavailableError(
                "engine='libssl' was asked for, but the system libssl ("
                + features().openssl_version + ") cannot negotiate " + ", ".join(missing))
        return "libssl"
    if config.engine == ENGINE_NAME:
        usable = [s for s in config.usable_suites() if engine_supports(s)]
        if not usable or config.min_version > TLSVersion.TLSv1_2:
            raise EngineUnavailableError(
                "engine='dicomtls' runs TLS 1.0-1.2 with RSA certificates; none of "
                + ", ".join(config.suite_names()) + " can run on it")
        return ENGINE_NAME
    if not libssl_missing(config):
        return "libssl"
    libssl_only, own_only, neither = _split(config)
    if neither:
        raise EngineUnavailableError(
            "no engine in this build can negotiate " + ", ".join(s.name for s in neither)
            + f": the system libssl ({features().openssl_version}) lacks them and dicomtls' own "
            "TLS 1.0-1.2 engine does not implement them; remove them or choose another profile")
    if role == "server" and libssl_only:
        return SELECTING
    return ENGINE_NAME


def prepare(config: TLSConfig, role: str) -> str:
    """Build now what every connection of this config and role will share (libssl's SSL_CTX,
    the own engine's trust store, chain and key) and return the engine (as ``select_engine``).

    Each is built once per config and cached on it, so a server that calls this before it binds
    reports an unreadable key, a wrong password, a key that does not match, or a broken trust
    store at start-up, and its connections later reuse exactly what was checked."""
    engine = select_engine(config, role)
    if engine == "libssl":
        libssl_context(config, role)
    elif engine == ENGINE_NAME:
        from .own.trust import credentials
        credentials(config, role)
    else:
        from .selecting import prepare_engines
        prepare_engines(config)
    return engine


def client_dropped_suites(config: TLSConfig) -> list[str]:
    """Suites a client on the own engine cannot offer (libssl-only ones, e.g. TLS 1.3)."""
    libssl_only, _own_only, _neither = _split(config)
    return [s.name for s in libssl_only]


def new_connection(config: TLSConfig, role: str, *, server_name: Optional[str] = None,
                   engine: Optional[str] = None) -> TLSConnection:
    """A sans-IO connection for ``role`` ("client" or "server") on the engine the config needs."""
    engine = engine or select_engine(config, role)
    if engine == "libssl":
        from .libssl_engine import LibsslConnection
        return LibsslConnection(config, role, server_name=server_name)
    if engine == ENGINE_NAME:
        if role == "client":
            dropped = client_dropped_suites(config)
            if dropped:
                log.warning("TLS client on dicomtls' own engine (needed for %s) cannot also "
                            "offer %s", ", ".join(s.name for s in _split(config)[1]),
                            ", ".join(dropped))
            from .own.client import OwnClientConnection
            return OwnClientConnection(config, server_name=server_name)
        from .own.server import OwnServerConnection
        return OwnServerConnection(config)
    if engine == SELECTING and role == "server":
        from .selecting import SelectingServerConnection
        return SelectingServerConnection(config)
    raise EngineUnavailableError(f"unknown TLS engine {engine!r}")
