"""Ciphersuite scanning: which (version, suite) pairs a TLS server accepts, probed one at a time.

Each probe is one handshake offering exactly one suite at exactly one version, on an engine that
can offer it: libssl for TLS 1.3 and what the system libssl has, dicomtls' own engine for DES/3DES
(and for every suite it runs when the mode is "dicomtls"). Beside the engine a tap reads the
server's plaintext handshake records, so a refusal can be placed (before ServerHello, or after a
CertificateRequest: a server that wants a client certificate) and the ServerHello's extensions are
known whichever engine ran. Then: server preference, encrypt-then-MAC / extended master secret /
renegotiation_info, certificate trust, and which PS3.15 profiles the server can serve.

Nothing here prints; ``cli/scan_command.py`` renders the ScanReport as a table or JSON.
"""

from __future__ import annotations

import hashlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from .._binding import features
from ..errors import (CertificateVerifyError, ConfigurationError, ConnectionClosedError,
                      DicomTLSError, RemoteProtocolError, alert_name)
from .config import TLSConfig
from .connection import NEED_DATA, ConnectionClosed, HandshakeComplete, SessionInfo
from .engines import new_connection
from .own.cipherspec import ENGINE_NAME, allowed_at
from .own.extensions import (ENCRYPT_THEN_MAC, EXTENDED_MASTER_SECRET, RENEGOTIATION_INFO,
                             SUPPORTED_VERSIONS)
from .own.messages import HandshakeBuffer, decode_server_hello
from .profiles import PROFILES
from .suites import ALL_SUITES, CipherSuite, by_code, lookup
from .versions import TLSVersion

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
HANDSHAKE_FAILURE, CERTIFICATE_REQUIRED = 40, 116
# Alerts a server sends about the client's certificate (RFC 5246 7.2.2, RFC 8446 6.2).
CERT_ALERTS = frozenset({42, 43, 44, 45, 46, 48, 49, 116})
_HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()  # RFC 8446 4.1.3
RECV_CHUNK = 64 * 1024
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
                if ctype == 22:
                    self._hs.feed(payload)
                    for _ in range(MAX_STEPS):
                        msg = None if self.done else self._hs.next_message()
                        if msg is None:
                            break
                        self._on_message(msg[0], msg[1])
                elif not (ctype == 20 and self.hello is None):  # CCS after a HelloRetryRequest
                    self.done = True  # an alert, ChangeCipherSpec or encrypted data: clear ends
        except Exception:  # noqa: BLE001 - malformed input is the engine's to report
            self.done = True

    def _on_message(self, msg_type: int, body: bytes) -> None:
        if msg_type == 2:
            hello = decode_server_hello(body)
            if hello.random == _HRR_RANDOM:
                return  # a HelloRetryRequest; the real ServerHello follows in the clear
            chosen = hello.extension(SUPPORTED_VERSIONS)
            self.hello = hello
            self.version = (chosen[0] << 8 | chosen[1]) if chosen and len(chosen) == 2 \
                else hello.version
            self.done = self.version >= TLSVersion.TLSv1_3  # the rest of 1.3 is encrypted
        elif msg_type == 13:
            self.cert_request = True
        elif msg_type == 14:
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

    def run(self, suites, version, engine, peer_cert="ignore") -> Optional[ProbeResult]:
        """One handshake offering ``suites`` at ``version``; None once the deadline passed."""
        limit = min(self.timeout, self.deadline - time.monotonic())
        if limit <= 0:
            return None
        return attempt(self, probe_config(self.base, suites, version, engine, peer_cert), limit)


class _Wire:
    """Blocking socket <-> sans-IO connection, with the tap on the way in."""

    def __init__(self, sock, conn, tap):
        self.sock, self.conn, self.tap, self.eof = sock, conn, tap, False

    def flush(self, quiet: bool = False) -> None:
        out = self.conn.data_to_send()
        try:
            if out:
                self.sock.sendall(out)
        except OSError:
            if not quiet:
                raise

    def receive(self, end: float) -> None:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("probe deadline passed")
        self.sock.settimeout(remaining)
        data = self.sock.recv(RECV_CHUNK)
        self.eof = not data
        self.tap.feed(data)
        self.conn.receive_data(data)

    def step(self):
        try:
            event = self.conn.next_event()
        except BaseException:
            self.flush(quiet=True)  # the alert explaining our abort should reach the server
            raise
        self.flush()
        return event

    def next_event(self, end: float):
        """The next event; None when the engine has nothing more to say after EOF."""
        for _ in range(MAX_STEPS):
            event = self.step()
            if event is not NEED_DATA:
                return event
            if self.eof:
                return None
            self.receive(end)
        raise TimeoutError("the handshake made no progress")


def _await_verdict(wire: _Wire, end: float) -> None:
    """TLS 1.3: the server checks our certificate after our Finished, so its verdict comes after
    the handshake completed here: an alert (the engine raises it), or its first records (session
    tickets), which mean it accepted us. Silence until ``end`` counts as accepted."""
    try:
        wire.receive(end)
    except OSError:  # includes the timeout
        return
    for _ in range(MAX_STEPS):
        event = wire.step()
        if event is NEED_DATA or isinstance(event, ConnectionClosed):
            return


def _close(wire: _Wire, end: float) -> None:
    """close_notify, half-close, and a short wait for the server's close so it sees a clean end."""
    try:
        wire.conn.close()
        wire.flush(quiet=True)
        wire.sock.shutdown(socket.SHUT_WR)
        for _ in range(MAX_STEPS):
            event = wire.next_event(end)
            if event is None or isinstance(event, ConnectionClosed):
                return
    except (DicomTLSError, OSError):
        return


def attempt(target: Target, config: TLSConfig, limit: float) -> ProbeResult:
    """One handshake with ``config`` (engine forced by ``config.engine``) within ``limit`` s."""
    started = time.monotonic()
    end = started + limit
    result = ProbeResult(config.min_version, config.usable_suites()[0], config.engine)
    try:
        result.conn = new_connection(config, "client", server_name=target.server_name)
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
            wire = _Wire(sock, result.conn, result.tap)
            for _ in range(MAX_STEPS):
                event = wire.next_event(end)
                if event is None or isinstance(event, ConnectionClosed):
                    raise ConnectionClosedError("the server closed the connection")
                if isinstance(event, HandshakeComplete):
                    break
            else:
                raise TimeoutError("the handshake made no progress")
            result.session, completed = result.conn.session, True
            if result.session.protocol >= TLSVersion.TLSv1_3:
                _await_verdict(wire, min(end, time.monotonic() + TLS13_VERDICT_WAIT))
            result.status = ACCEPTED
            _close(wire, min(end, time.monotonic() + CLOSE_WAIT))
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
        if received == CERTIFICATE_REQUIRED or (
                asked and (received in CERT_ALERTS or received == HANDSHAKE_FAILURE)):
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
                 engine: str, peer_cert: str) -> TLSConfig:
    """``base`` (credentials, trust, key log) offering exactly ``suites`` at exactly ``version``."""
    return base.replace(
        cipher_suites=tuple(s for s in suites if not s.is_tls13),
        tls13_suites=tuple(s for s in suites if s.is_tls13),
        min_version=version, max_version=version, engine=engine, peer_cert=peer_cert,
        # A scanner wants small DH groups accepted (and reported), not refused; the legacy
        # warning is the operator's choice of suites to scan, not worth one line per probe.
        min_dhe_bits=None, _quiet=True)


# ---- the report ----------------------------------------------------------------------------------
@dataclass
class Preference:
    version: Optional[TLSVersion] = None
    mode: Optional[str] = None        # "server", "client", "mixed", or None (not determined)
    engine: Optional[str] = None
    server_order: list = field(default_factory=list)
    complete: bool = True             # False when the order search hit its bound
    detail: str = ""


@dataclass
class Extensions:
    encrypt_then_mac: Optional[bool] = None       # None: not determined / not applicable
    extended_master_secret: Optional[bool] = None
    secure_renegotiation: Optional[bool] = None   # renegotiation_info in the ServerHello
    probe: str = ""                                # the handshake the answers come from
    detail: str = ""


@dataclass
class CertificateReport:
    chain: tuple = ()                 # CertificateInfo, leaf first
    verified: Optional[bool] = None   # None: not checked (no trusted CAs given)
    detail: str = ""


@dataclass
class ProfileSupport:
    profile: str
    section: str
    state: str                        # "yes", "with_client_cert", "no", "unknown"
    accepted: list = field(default_factory=list)  # (version, suite) pairs the server selected


@dataclass
class ScanReport:
    host: str
    port: int
    address: str
    versions: tuple
    client_certificate: bool
    probes: list = field(default_factory=list)
    not_probed: list = field(default_factory=list)  # (version, suite, reason)
    certificate: CertificateReport = field(default_factory=CertificateReport)
    preference: Preference = field(default_factory=Preference)
    extensions: Extensions = field(default_factory=Extensions)
    profiles: list = field(default_factory=list)
    seconds: float = 0.0

    def accepted(self, version: Optional[TLSVersion] = None, *, selected=False) -> list:
        """Accepted probes; ``selected``: also those whose suite the server chose before it
        wanted another client certificate."""
        return [p for p in self.probes if (p.selected if selected else p.status == ACCEPTED)
                and (version is None or p.version == version)]

    def accepted_pairs(self) -> set:
        """{("1.2", IANA name), ...}: what tests and scripts compare."""
        return {(p.version.short, p.suite.name) for p in self.accepted()}


# ---- the scan ------------------------------------------------------------------------------------
def resolve(host: str, port: int, timeout: float) -> tuple[int, tuple]:
    """(family, address): resolved once, and something accepts TCP connections there."""
    try:
        candidates = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ScanTargetError(f"cannot resolve {host}: {exc}") from None
    reason = "no address"
    for family, _type, _proto, _name, address in candidates[:8]:  # e.g. ::1, then 127.0.0.1
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(address)
            return family, address
        except OSError as exc:
            reason = exc.strerror or str(exc) or "timed out"
    raise ScanTargetError(f"cannot connect to {host} port {port}: {reason}")


def scan(host: str, port: int, config_base: Optional[TLSConfig] = None,
         versions: Iterable = ALL_VERSIONS, suites: Optional[Iterable] = None,
         timeout: float = 5.0, *, engine: Optional[str] = None, parallel: int = 4,
         max_time: float = 300.0, server_name: Optional[str] = None, preference: bool = True,
         extras: bool = True, order_limit: int = 64) -> ScanReport:
    """Probe every (version, suite) pair some engine can offer; then preference and extensions.

    ``config_base`` gives the client certificate, trust and key log (suites and versions are
    replaced per probe); ``engine`` (default: its engine) is auto, libssl or dicomtls. Probes
    ignore the server's certificate, so trust never hides what a server accepts; when
    ``config_base`` has trusted CAs, one more handshake checks the chain. ``timeout`` bounds
    each handshake, ``max_time`` the whole scan (probes past it are skipped); ``parallel``
    handshakes run at a time; the server order search stops after ``order_limit`` handshakes.
    """
    started = time.monotonic()
    base = config_base if config_base is not None else TLSConfig.from_profile(peer_cert="ignore")
    mode = engine or base.engine
    if mode not in ENGINE_ORDER:
        raise ConfigurationError(f"engine must be one of {', '.join(ENGINE_ORDER)}, not {mode!r}")
    if not 1 <= parallel <= 64 or timeout <= 0 or max_time <= 0:
        raise ConfigurationError("parallel must be 1..64; timeout and max_time positive")
    versions = tuple(sorted({TLSVersion.parse(v) for v in versions}, reverse=True))
    wanted = ALL_SUITES if suites is None else tuple(dict.fromkeys(lookup(s) for s in suites))
    if not versions or not wanted:
        raise ConfigurationError("nothing to scan: no versions or no suites")
    # The engines send SNI for names only; an address still serves --verify-hostname.
    server_name = server_name or host
    # Credentials and trust load lazily, per connection: a bad key, password or CA file is a
    # configuration error of the whole scan, not a hundred failed probes.
    trust = "require" if base.ca_file or base.ca_dir else "ignore"
    new_connection(probe_config(base, (lookup(0x1301),), TLSVersion.TLSv1_3, "libssl", trust),
                   "client", server_name=server_name)
    family, addr = resolve(host, port, min(timeout, max_time))
    ctx = Target(family, addr, server_name, base, mode, timeout, started + max_time)
    report = ScanReport(host, port, f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else
                        f"{addr[0]}:{addr[1]}", versions, bool(base.certificate))
    plan = []
    for version in versions:
        for suite in (s for s in wanted if s.supports(version)):
            eng = probe_engine(suite, version, mode)
            if eng is None:
                report.not_probed.append((version, suite, _not_probed_reason(suite, version, mode)))
            else:
                plan.append((version, suite, eng))

    def run(item) -> ProbeResult:
        version, suite, eng = item
        result = ctx.run((suite,), version, eng)
        if result is None:
            return ProbeResult(version, suite, eng, SKIPPED, "total time limit reached")
        s = result.session
        if result.status == ACCEPTED:
            kx = s.key_exchange + (f" {s.key_exchange_group}" if s.key_exchange_group else "")
            bits = f" ({s.key_exchange_bits} bits)" if s.key_exchange_bits else ""
            result.detail = f"{kx}{bits}, auth {s.authentication}, {s.engine}"
        return result

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="dicomtls-scan") as pool:
        report.probes = list(pool.map(run, plan))
    report.certificate = _certificate(ctx, report)
    if preference:
        report.preference = _preference(ctx, report, order_limit)
    if extras:
        report.extensions = _extensions(ctx, report)
    report.profiles = profile_support(report.probes)
    report.seconds = time.monotonic() - started
    return report


def _certificate(ctx: Target, report: ScanReport) -> CertificateReport:
    first = next((p for p in report.probes if p.session is not None), None)
    out = CertificateReport(chain=first.session.peer_certificates if first else ())
    if not (ctx.base.ca_file or ctx.base.ca_dir) or first is None:
        out.detail = ("not checked (no handshake completed)" if first is None else
                      "not checked (no trusted CAs given)")
        return out
    check = ctx.run((first.suite,), first.version, first.engine, peer_cert="require")
    if check is None:
        out.detail = "not checked (total time limit reached)"
    elif check.status == UNTRUSTED:
        out.verified, out.detail = False, check.detail
    elif check.selected:
        out.verified, out.detail = True, "the chain verifies against the trusted CAs"
    else:
        out.detail = f"not decided: {check.status} {check.detail}"
    return out


def _engine_for(suites, version, mode) -> tuple[Optional[str], list]:
    """One engine for a multi-suite offer: the one that can offer the most of ``suites``."""
    best, best_list = None, []
    for eng in ENGINE_ORDER[mode]:
        can = [s for s in suites if engine_can(eng, s, version)]
        if len(can) > len(best_list):
            best, best_list = eng, can
    return best, best_list


def _preference(ctx: Target, report: ScanReport, order_limit: int) -> Preference:
    """Offer the suites the server chose at the best version in two orders: it follows the
    client's order, or its own (then found by removing each chosen suite in turn). The choice is
    read from the ServerHello, so it works while the server still wants a client certificate."""
    for version in report.versions:  # highest first
        engine, suites = _engine_for([p.suite for p in report.accepted(version, selected=True)],
                                     version, ctx.mode)
        if len(suites) >= 2:
            break
    else:
        return Preference(detail="fewer than two accepted suites at every version")
    out = Preference(version=version, engine=engine)

    def chosen(offer) -> Optional[CipherSuite]:
        result = ctx.run(offer, version, engine)
        return result.chosen if result is not None else None

    forward, backward = list(suites), list(reversed(suites))
    first, second = chosen(forward), chosen(backward)
    if first is None or second is None:
        out.detail = "a multi-suite handshake failed; preference not determined"
    elif first == forward[0] and second == backward[0]:
        out.mode, out.detail = "client", "the server follows the client's order"
    elif first != second:
        out.mode = "mixed"
        out.detail = f"neither order is followed ({first.name}, then {second.name})"
    else:
        out.mode, out.detail = "server", "the server picks by its own order"
        order, remaining = [first], [s for s in forward if s != first]
        for _ in range(max(0, order_limit - 2)):
            if len(remaining) <= 1:
                order, remaining = order + remaining, []
                break
            pick = chosen(remaining)
            if pick not in remaining:
                break
            order.append(pick)
            remaining.remove(pick)
        out.server_order, out.complete = order, not remaining
    return out


def _extensions(ctx: Target, report: ScanReport) -> Extensions:
    """EtM, EMS and renegotiation_info from one own-engine handshake (with a CBC suite when the
    server took one: EtM applies only to CBC), else from the ServerHellos the probes saw."""
    out = Extensions()
    legacy = [p for p in report.accepted(selected=True) if p.version <= TLSVersion.TLSv1_2]
    if not legacy:
        out.detail = "no TLS 1.0-1.2 suite accepted (TLS 1.3 has both built in)"
        return out
    cbc = [p for p in legacy if p.suite.block_cipher]
    pick = (cbc or legacy)[0]
    own = next((p for p in cbc or legacy if engine_can(ENGINE_NAME, p.suite, p.version)), None)
    check = None
    if own is not None and ctx.mode != "libssl":
        check = ctx.run((own.suite,), own.version, ENGINE_NAME)
    if check is not None and check.tap.hello is not None:
        out.probe = f"{own.version.label} {own.suite.name} ({ENGINE_NAME})"
        out.encrypt_then_mac = bool(check.conn.etm) if own.suite.block_cipher else None
        out.extended_master_secret = bool(check.conn.ems)
        out.secure_renegotiation = RENEGOTIATION_INFO in check.tap.extensions
    else:
        exts = pick.tap.extensions
        out.probe = f"{pick.version.label} {pick.suite.name} ({pick.engine})"
        out.encrypt_then_mac = ENCRYPT_THEN_MAC in exts if pick.suite.block_cipher else None
        out.extended_master_secret = EXTENDED_MASTER_SECRET in exts
        out.secure_renegotiation = RENEGOTIATION_INFO in exts
    notes = [] if cbc else ["encrypt-then-MAC not applicable: no CBC suite accepted"]
    if not ctx.base.encrypt_then_mac:  # we did not offer it, so the answer says nothing
        out.encrypt_then_mac = None
        notes.append("encrypt-then-MAC not offered (--no-etm)")
    if not ctx.base.extended_master_secret:
        out.extended_master_secret = None
        notes.append("extended master secret not offered (--no-ems)")
    out.detail = "; ".join(notes)
    return out


def profile_support(probes: Sequence[ProbeResult]) -> list:
    """Per PS3.15 profile: can the server serve a client using it? ``yes`` when it accepted one
    of the profile's suites at a version the profile allows; ``with_client_cert`` when it chose
    one but wanted a (different) client certificate; ``unknown`` when a pair was not decided."""
    by_pair = {(p.version, p.suite.code): p for p in probes}
    out = []
    for prof in PROFILES.values():
        accepted, with_cert, unknown = [], [], False
        for suite in prof.all_suites:
            for version in reversed(TLSVersion):  # best first: the report's example
                if not (prof.min_version <= version <= prof.max_version
                        and suite.supports(version)):
                    continue
                probe = by_pair.get((version, suite.code))
                if probe is None or probe.status in UNDECIDED:
                    unknown = True  # not scanned (versions or suites left out) is not "refused"
                elif probe.status == ACCEPTED:
                    accepted.append((version, suite))
                elif probe.selected:
                    with_cert.append((version, suite))
        state = ("yes" if accepted else "with_client_cert" if with_cert
                 else "unknown" if unknown else "no")
        out.append(ProfileSupport(prof.name, prof.section, state, accepted or with_cert))
    return out
