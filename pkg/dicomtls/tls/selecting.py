"""A server connection that reads the ClientHello, then hands everything to the right engine.

Used when a server's configuration mixes suites only libssl runs (TLS 1.3, ECDSA, ChaCha20...) with
suites only dicomtls' own engine runs (DES, 3DES, NULL). The decision follows the suite the server
will pick: walk the preference order (the server's or the client's, as configured); the first
suite the client offered decides, and libssl gets every suite it can run (including TLS 1.3 when
the client offers it). The chosen engine then receives the bytes read so far and runs as usual.
"""

from __future__ import annotations

import logging
from typing import Optional

from .._binding import features
from ..errors import ConnectionClosedError, LocalProtocolError, TLSDecodeError, TLSError
from .config import TLSConfig
from .connection import NEED_DATA, TLSConnection
from .libssl_context import libssl_context
from .libssl_engine import LibsslConnection
from .own import server as own_server
from .own.cipherspec import ENGINE_NAME, engine_supports
from .own.messages import peek_client_hello
from .own.trust import credentials
from .protocol import AlertDescription, AlertLevel, ExtensionType, alert_record
from .versions import TLSVersion

log = logging.getLogger("dicomtls.tls")

MAX_HELLO_BYTES = 64 * 1024


def _offers_tls13(hello) -> bool:
    data = hello.extension(ExtensionType.SUPPORTED_VERSIONS)
    if not data or len(data) < 1:
        return False
    versions = data[1:1 + data[0]]
    return any((versions[i] << 8 | versions[i + 1]) == TLSVersion.TLSv1_3
               for i in range(0, len(versions) - 1, 2))


def _engine_configs(config: TLSConfig):
    """(libssl config, own-engine config): the same settings with each engine's suites."""
    def build():
        codes = features().libssl_suite_codes
        # _quiet: the configuration the operator wrote has logged its legacy warning already.
        libssl_cfg = config.replace(
            cipher_suites=tuple(s for s in config.cipher_suites if s.code in codes), _quiet=True)
        own_cfg = config.replace(
            cipher_suites=tuple(s for s in config.cipher_suites if engine_supports(s)),
            tls13_suites=(), max_version=min(config.max_version, TLSVersion.TLSv1_2), _quiet=True)
        return libssl_cfg, own_cfg
    return config.compiled(("select", "server"), build)


def prepare_engines(config: TLSConfig) -> None:
    """Build both engines' server state now (see ``engines.prepare``)."""
    libssl_cfg, own_cfg = _engine_configs(config)
    libssl_context(libssl_cfg, "server")
    credentials(own_cfg, "server")


def choose_engine(config: TLSConfig, hello) -> str:
    libssl_codes = features().libssl_suite_codes
    if (config.tls13_suites and config.max_version >= TLSVersion.TLSv1_3
            and _offers_tls13(hello)):
        return "libssl"
    order = [s for s in config.usable_suites() if not s.is_tls13]
    if not config.server_preference:
        rank = {code: i for i, code in enumerate(hello.cipher_suites)}
        order = sorted((s for s in order if s.code in rank), key=lambda s: rank[s.code])
    for suite in order:
        if suite.code not in hello.cipher_suites:
            continue
        if suite.code in libssl_codes and suite.supports(min(hello.version, TLSVersion.TLSv1_2)):
            return "libssl"
        if engine_supports(suite):
            try:
                own_server.choose(_engine_configs(config)[1], hello)
                return ENGINE_NAME
            except TLSError:
                continue
    return "libssl"  # nothing in common: let libssl refuse it with its usual alert


class SelectingServerConnection(TLSConnection):
    """Buffers the ClientHello, then delegates every call to the chosen engine's connection."""

    def __init__(self, config: TLSConfig):
        super().__init__("server")
        self.config = config
        self.engine = "select"
        self._buffer = bytearray()
        self._eof = False
        self._inner: Optional[TLSConnection] = None
        self._failure_alert = b""

    def _decide(self) -> bool:
        try:
            hello = peek_client_hello(bytes(self._buffer))
        except TLSDecodeError as exc:
            # No engine runs yet: answer with a plaintext fatal alert ourselves.
            self._failure_alert = _fatal_alert(exc.alert)
            raise
        if hello is None:
            if len(self._buffer) > MAX_HELLO_BYTES:
                self._failure_alert = _fatal_alert(AlertDescription.DECODE_ERROR)
                raise TLSDecodeError("ClientHello larger than 64 KiB")
            return False
        engine = choose_engine(self.config, hello)
        libssl_cfg, own_cfg = _engine_configs(self.config)
        # The engines' connection classes directly, not engines.new_connection: that one
        # constructs this class, and the choice here is already made.
        if engine == "libssl":
            self._inner = LibsslConnection(libssl_cfg, "server")
        else:
            self._inner = own_server.OwnServerConnection(own_cfg)
        self.engine = self._inner.engine
        log.debug("TLS server: ClientHello handed to the %s engine", engine)
        self._inner.receive_data(bytes(self._buffer))
        self._buffer = bytearray()
        if self._eof:
            self._inner.receive_data(b"")
        return True

    # ---- TLSConnection ------------------------------------------------------------------------
    def receive_data(self, data) -> None:
        if self._inner is not None:
            self._inner.receive_data(data)
        elif not data:
            self._eof = True
        else:
            self._buffer += data

    def next_event(self):
        if self._inner is None:
            if not self._decide():
                if self._eof:
                    raise ConnectionClosedError(
                        "the peer closed the connection during the TLS handshake")
                return NEED_DATA
        event = self._inner.next_event()
        self.session = self._inner.session
        return event

    def send(self, data) -> None:
        self._require_inner().send(data)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    def data_to_send(self) -> bytes:
        if self._inner is None:
            out, self._failure_alert = self._failure_alert, b""
            return out
        return self._inner.data_to_send()

    def pending_output(self) -> int:
        return len(self._failure_alert) if self._inner is None else self._inner.pending_output()

    def _require_inner(self) -> TLSConnection:
        if self._inner is None:
            raise LocalProtocolError("no TLS handshake has happened yet")
        return self._inner


def _fatal_alert(description: int) -> bytes:
    # In a TLS 1.0 record: the version every client accepts before one is agreed.
    return alert_record(TLSVersion.TLSv1_0, AlertLevel.FATAL, description)
