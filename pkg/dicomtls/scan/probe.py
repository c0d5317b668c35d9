"""One scan probe: a handshake offering one suite at one version, with a tap on the server's
plaintext handshake records so a refusal can be placed (before ServerHello, or after a
CertificateRequest), and which engine offers what. The scan itself is ``scanner.py``.
"""

from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .._binding import features
from ..errors import (CertificateVerifyError, ConnectionClosedError, DicomTLSError,
                      RemoteProtocolError, alert_name)
from ..tls.config import TLSConfig
from ..tls.connection import SessionInfo
from ..tls.engines import new_connection
from ..tls.own.cipherspec import ENGINE_NAME, allowed_at
from ..tls.own.messages import HandshakeBuffer, decode_server_hello
from ..tls.protocol import AlertDescription, ContentType, ExtensionType, HandshakeType
from ..tls.suites import CipherSuite, by_code
from ..tls.versions import TLSVersion
from ..io.tls_socket import TLSSocket
from ..io.readiness import readable

ACCEPTED, REFUSED, TIMEOUT, FAILED, SKIPPED = "accepted", "refused", "timeout", "error", "skipped"
NEEDS_CLIENT_CERT = "needs_client_cert"        # the server chose the suite, then wanted a cert
CLIENT_CERT_REJECTED = "client_cert_rejected"  # ... and refused the one we sent
UNTRUSTED = "untrusted_server"                 # our client refused the server's certificate
# In all of these the ServerHello chose the offered suite at the offered version: the server
# supports the suite, whatever then went wrong with certificates.
SELECTED = frozenset({ACCEPTED, NEEDS_CLIENT_CERT, CLIENT_CERT_REJECTED, UNTRUSTED})
UNDECIDED = frozenset({TIMEOUT, FAILED, SKIPPED})

ALL_VERSIONS = tuple(TLSVersion)
# Engines in the order a probe tries them, per mode: auto prefers libssl, dicomtls the own engine.
ENGINE_ORDER = {"auto": ("libssl", ENGINE_NAME), ENGINE_NAME: (ENGINE_NAME, "libssl"),
                "libssl": ("libssl",)}
A = AlertDescription
# Alerts a server sends about the client's certificate (RFC 5246 7.2.2, RFC 8446 6.2).
CERT_ALERTS = frozenset({A.BAD_CERTIFICATE, A.UNSUPPORTED_CERTIFICATE, A.CERTIFICATE_REVOKED,
                         A.CERTIFICATE_EXPIRED, A.CERTIFICATE_UNKNOWN, A.UNKNOWN_CA,
                         A.ACCESS_DENIED, A.CERTIFICATE_REQUIRED})
_HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()  # RFC 8446 4.1.3
MAX_STEPS = 4096          # engine steps per handshake: each consumes input or yields an event
TLS13_VERDICT_WAIT = 2.0  # s: a TLS 1.3 server judges our certificate after our Finished
CLOSE_WAIT = 0.5          # s: for the server's close after our close_notify (politeness only)


class ScanTargetError(RemoteProtocolError):
    """The server could not be reached at all (name, route, or nothing listening)."""


class ServerTap:
    """The server's handshake as far as it is plaintext: ServerHello (version, suite, extensions)
    and CertificateRequest. Best effort and bounded: it never raises; the engine judges."""

    MAX_BYTES = 256 * 1024  # of server input: a certificate chain fits

    def __init__(self):
        self._buf, self._hs, self._seen = bytearray(), HandshakeBuffer(), 0
        self.done = self.cert_request = False
        self.hello = None
        self.version: Optional[int] = None
        self.compression: Optional[int] = None   # the ServerHello's, even one we cannot take

    def feed(self, data) -> None:
        self._seen += len(data)
        self.done = self.done or not data or self._seen > self.MAX_BYTES
        if self.done:
            return
        self._buf += data
        try:
            while not self.done and len(self._buf) >= 5:
                buf = self._buf
                ctype, length = buf[0], buf[3] << 8 | buf[4]
                if len(buf) < 5 + length:
                    return
                payload = bytes(buf[5:5 + length])
                del buf[:5 + length]
                if ctype == ContentType.HANDSHAKE:
                    self._hs.feed(payload)
                    for _ in range(MAX_STEPS):
                        msg = None if self.done else self._hs.next_message()
                        if msg is None:
                            break
                        self._on_message(msg[0], msg[1])
                elif not (ctype == ContentType.CHANGE_CIPHER_SPEC and self.hello is None):  # CCS after a HelloRetryRequest
                    self.done = True  # an alert, ChangeCipherSpec or encrypted data: clear ends
        except Exception:  # noqa: BLE001 - malformed input is the engine's to report
            self.done = True

    def _on_message(self, msg_type: int, body: bytes) -> None:
        if msg_type == HandshakeType.SERVER_HELLO:
            # version, random, session_id<0..32>, cipher_suite, then compression_method: read
            # before the decoder, which refuses any method but null.
            at = 2 + 32
            if len(body) > at and len(body) > at + 1 + body[at] + 2:
                self.compression = body[at + 1 + body[at] + 2]
            hello = decode_server_hello(body)
            if hello.random == _HRR_RANDOM:
                return  # a HelloRetryRequest; the real ServerHello follows in the clear
            chosen = hello.extension(ExtensionType.SUPPORTED_VERSIONS)
            self.hello = hello
            self.version = (chosen[0] << 8 | chosen[1]) if chosen and len(chosen) == 2 \
                else hello.version
            self.done = self.version >= TLSVersion.TLSv1_3  # the rest of 1.3 is encrypted
        elif msg_type == HandshakeType.CERTIFICATE_REQUEST:
            self.cert_request = True
        elif msg_type == HandshakeType.SERVER_HELLO_DONE:
            self.done = True  # ServerHelloDone: nothing after it is of interest

    @property
    def suite(self) -> Optional[int]:
        return self.hello.cipher_suite if self.hello is not None else None

    @property
    def extensions(self) -> tuple:
        return tuple(e.type for e in self.hello.extensions) if self.hello is not None else ()


@dataclass
class ProbeResult:
    """One handshake: what was offered (the first suite, for a multi-suite offer) and the answer."""

    version: TLSVersion
    suite: CipherSuite
    engine: str
    status: str = FAILED
    detail: str = ""
    alert: Optional[int] = None
    alert_by: Optional[str] = None           # "server" (received) or "client" (we aborted)
    session: Optional[SessionInfo] = None
    seconds: float = 0.0
    tap: ServerTap = field(default_factory=ServerTap, repr=False)
    conn: object = field(default=None, repr=False)  # the engine's connection, for inspection

    @property
    def selected(self) -> bool:
        return self.status in SELECTED

    @property
    def chosen(self) -> Optional[CipherSuite]:
        """The suite the server's ServerHello chose (None: no ServerHello)."""
        return self.session.cipher_suite if self.session else by_code(self.tap.suite or -1)


# ---- one handshake -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where and how to probe: resolved address, SNI name, client side, engine mode, limits."""

    family: int
    address: tuple
    server_name: Optional[str]
    base: TLSConfig
    mode: str = "auto"
    timeout: float = 5.0
    deadline: float = float("inf")   # time.monotonic() after which nothing more is tried

    def run(self, suites, version, engine, peer_cert="ignore",
            base: Optional[TLSConfig] = None, *, max_version: Optional[TLSVersion] = None,
            adjust=None, after=None) -> Optional[ProbeResult]:
        """One handshake offering ``suites`` at ``version`` (to ``max_version``), client side
        ``base`` (default the scan's); ``adjust``/``after`` as for :func:`attempt`. None once
        the deadline passed."""
        limit = min(self.timeout, self.deadline - time.monotonic())
        if limit <= 0:
            return None
        config = probe_config(base or self.base, suites, version, engine, peer_cert,
                              max_version=max_version)
        return attempt(self, config, limit, adjust=adjust, after=after)


def _await_verdict(tls: TLSSocket, end: float) -> None:
    """TLS 1.3: the server checks our certificate after our Finished, so its verdict comes after
    the handshake completed here: an alert (raised here), or its first records (session
    tickets), which mean it accepted us. Silence until ``end`` counts as accepted."""
    left = end - time.monotonic()
    if left <= 0 or not readable([tls.sock], left):
        return
    try:
        tls.recv(1, wait=False)  # an alert is raised; tickets alone leave nothing to read
    except BlockingIOError:
        pass


def attempt(target: Target, config: TLSConfig, limit: float, *, adjust=None,
            after=None) -> ProbeResult:
    """One handshake with ``config`` (engine forced by ``config.engine``) within ``limit`` s.
    ``adjust(conn)`` changes the new connection before it starts (the hello probes);
    ``after(tls, result)`` runs on a completed handshake before it is closed."""
    started = time.monotonic()
    end = started + limit
    result = ProbeResult(config.min_version, config.usable_suites()[0], config.engine)
    try:
        result.conn = new_connection(config, "client", server_name=target.server_name)
        if adjust is not None:
            adjust(result.conn)
        sock = socket.socket(target.family, socket.SOCK_STREAM)
    except (DicomTLSError, OSError) as exc:
        result.detail = f"cannot build the probe: {exc}"
        return result
    with sock:
        completed = False
        try:
            sock.settimeout(limit)
            sock.connect(target.address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = TLSSocket(sock, result.conn, tap=result.tap.feed)
            tls.do_handshake(deadline=end)
            result.session, completed = result.conn.session, True
            if result.session.protocol >= TLSVersion.TLSv1_3:
                _await_verdict(tls, min(end, time.monotonic() + TLS13_VERDICT_WAIT))
            result.status = ACCEPTED
            if after is not None:
                after(tls, result)
            # close_notify, half-close, a short wait for the server's close (politeness only).
            tls.close(timeout=max(0.0, min(end - time.monotonic(), CLOSE_WAIT)))
        except TimeoutError:
            result.status = TIMEOUT
            result.detail = f"no answer within {limit:g} s{_where(result.tap, completed)}"
        except DicomTLSError as exc:
            _classify(result, exc, completed, bool(target.base.certificate), config)
        except OSError as exc:
            # A reset is how some servers refuse a ClientHello; a refused connect is no answer.
            reason = exc.strerror or str(exc) or type(exc).__name__
            refused_connect = isinstance(exc, ConnectionRefusedError)
            result.status = FAILED if refused_connect else REFUSED
            result.detail = (f"cannot connect: {reason}" if refused_connect
                             else f"{reason}{_where(result.tap, completed)}")
        except Exception as exc:  # noqa: BLE001 - one odd server must not end the whole scan
            result.detail = f"unexpected {type(exc).__name__}{_where(result.tap, completed)}: {exc}"
    result.seconds = time.monotonic() - started
    return result


def _where(tap: ServerTap, completed: bool) -> str:
    if completed:
        return " after the handshake"
    if tap.cert_request:
        return " after CertificateRequest"
    return " after ServerHello" if tap.hello is not None else " before ServerHello"


def _classify(result: ProbeResult, exc: DicomTLSError, completed: bool, have_cert: bool,
              config: TLSConfig) -> None:
    tap = result.tap
    received = getattr(exc, "alert_received", None)
    sent = getattr(exc, "alert_sent", None)
    where = _where(tap, completed)
    if sent is not None:
        result.alert, result.alert_by = sent, "client"
    if isinstance(exc, CertificateVerifyError):
        result.status, result.detail = UNTRUSTED, f"server certificate: {exc}"
    elif received is not None:
        result.alert, result.alert_by = received, "server"
        # After a CertificateRequest (or, in TLS 1.3, after our Finished) a certificate alert or
        # a bare handshake_failure is the server's answer to the certificate we sent or lacked.
        asked = tap.cert_request or completed
        if received == A.CERTIFICATE_REQUIRED or (
                asked and (received in CERT_ALERTS or received == A.HANDSHAKE_FAILURE)):
            result.status = CLIENT_CERT_REJECTED if have_cert else NEEDS_CLIENT_CERT
        else:
            result.status = REFUSED
        result.detail = f"alert {alert_name(received)}{where}"
    elif isinstance(exc, ConnectionClosedError):
        result.status = NEEDS_CLIENT_CERT if tap.cert_request and not have_cert else REFUSED
        result.detail = f"connection closed{where}"
    elif tap.hello is not None and (
            tap.version not in {int(v) for v in config.versions()}
            or tap.suite not in {s.code for s in config.usable_suites()}):
        # The server answered with something we did not offer, and our engine refused it.
        chosen = by_code(tap.suite)
        name = chosen.name if chosen else f"0x{tap.suite:04X}"
        result.status = REFUSED
        result.detail = f"server answered {version_label(tap.version)} {name}, not offered"
    else:
        result.status, result.detail = FAILED, f"our client aborted{where}: {exc}"


def version_label(number: Optional[int]) -> str:
    """"TLSv1.2" for 0x0303; "version 0x...." for a number that is not a TLS version."""
    try:
        return TLSVersion(number).label
    except (ValueError, TypeError):
        return f"version 0x{number or 0:04X}"


# ---- which engine offers what --------------------------------------------------------------------
def engine_can(engine: str, suite: CipherSuite, version: TLSVersion) -> bool:
    if engine == "libssl":
        return suite.code in features().libssl_suite_codes and suite.supports(version)
    return allowed_at(suite, version)  # the own engine: never TLS 1.3, never DES at TLS 1.2


def probe_engine(suite: CipherSuite, version: TLSVersion, mode: str = "auto") -> Optional[str]:
    """The engine a probe of ``suite`` at ``version`` runs on; None: no engine of this build
    (or not the forced one) can offer it."""
    return next((e for e in ENGINE_ORDER[mode] if engine_can(e, suite, version)), None)


def _not_probed_reason(suite: CipherSuite, version: TLSVersion, mode: str) -> str:
    if suite.removed_in_tls12 and engine_can(ENGINE_NAME, suite, TLSVersion.TLSv1_1):
        return "single DES is not offered at TLS 1.2 (RFC 5246 removed it)"
    if mode == "libssl" and engine_can(ENGINE_NAME, suite, version):
        return "only dicomtls' own engine offers it (engine forced to libssl)"
    return "no engine of this build can offer it"


def probe_config(base: TLSConfig, suites: Sequence[CipherSuite], version: TLSVersion,
                 engine: str, peer_cert: str, *,
                 max_version: Optional[TLSVersion] = None) -> TLSConfig:
    """``base`` (credentials, trust, key log) offering exactly ``suites`` at exactly ``version``
    (or ``version`` to ``max_version``)."""
    return base.replace(
        cipher_suites=tuple(s for s in suites if not s.is_tls13),
        tls13_suites=tuple(s for s in suites if s.is_tls13),
        min_version=version, max_version=max_version or version, engine=engine,
        peer_cert=peer_cert,
        # A scanner wants small DH groups and keys accepted (and reported), not refused; the
        # legacy warning is the operator's choice of suites to scan, not worth one line per probe.
        min_dhe_bits=None, security_level=0, _quiet=True)
