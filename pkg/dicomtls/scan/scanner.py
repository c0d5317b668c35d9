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

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from ..errors import ConfigurationError
from ..tls.config import TLSConfig
from ..tls.engines import new_connection
from ..tls.own.cipherspec import ENGINE_NAME
from ..tls.profiles import PROFILES
from ..tls.protocol import ExtensionType
from ..tls.suites import ALL_SUITES, CipherSuite, lookup
from ..tls.versions import TLSVersion
from .assess import client_auth, evidence
from .dicom_check import DEFAULT_CALLED_AE, DEFAULT_CALLING_AE, check_profiles
from .verdicts import POLICIES, judge
from .hello_probes import hello_probes
from .robot import check_robot
from .weaknesses import weaknesses
from .probe import (ACCEPTED, SKIPPED, UNDECIDED, UNTRUSTED, ALL_VERSIONS, ENGINE_ORDER, ProbeResult,
    ScanTargetError, Target, engine_can, probe_config, probe_engine, _not_probed_reason)


# ---- the report ----------------------------------------------------------------------------------
@dataclass
class Preference:
    """Whether the server picks suites by its own order or the client's, at which version, and
    its order when determined."""

    version: Optional[TLSVersion] = None
    mode: Optional[str] = None        # "server", "client", "mixed", or None (not determined)
    engine: Optional[str] = None
    server_order: list = field(default_factory=list)
    complete: bool = True             # False when the order search hit its bound
    detail: str = ""


@dataclass
class Extensions:
    """What the server answers to encrypt-then-MAC, extended master secret and
    renegotiation_info."""

    encrypt_then_mac: Optional[bool] = None       # None: not determined / not applicable
    extended_master_secret: Optional[bool] = None
    secure_renegotiation: Optional[bool] = None   # renegotiation_info in the ServerHello
    probe: str = ""                                # the handshake the answers come from
    detail: str = ""


@dataclass
class CertificateReport:
    """The server's chain as presented and whether it verified against the given CAs."""

    chain: tuple = ()                 # CertificateInfo, leaf first
    verified: Optional[bool] = None   # None: not checked (no trusted CAs given)
    detail: str = ""


@dataclass
class ProfileSupport:
    """Whether the server can serve one PS3.15 profile ("yes", "with_client_cert", "no",
    "unknown") and why."""

    profile: str
    section: str
    state: str                        # "yes", "with_client_cert", "no", "unknown"
    accepted: list = field(default_factory=list)  # (version, suite) pairs the server selected


@dataclass
class ScanReport:
    """Everything one scan found: the probes per (version, suite), preference, extensions,
    certificate and profiles; ``to_dict`` for JSON."""

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
    client_auth: Optional[str] = None     # "required", "optional", "none"; None: not decided
    client_auth_detail: str = ""
    dicom: list = field(default_factory=list)     # DicomCheck per profile (dicom_check.py)
    verdicts: list = field(default_factory=list)  # Verdict per policy (verdicts.py)
    findings: list = field(default_factory=list)  # Finding, most severe first (weaknesses.py)
    robot: Optional[object] = None                # RobotResult (robot.py), with ``extras``
    questions: dict = field(default_factory=dict)  # hello_probes.Answer by name, with ``extras``
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
         extras: bool = True, order_limit: int = 64, dicom: bool = True,
         robot: bool = True, questions: bool = True,
         calling_ae: str = DEFAULT_CALLING_AE, called_ae: str = DEFAULT_CALLED_AE,
         policies: Optional[Sequence[str]] = None) -> ScanReport:
    """Probe every (version, suite) pair some engine can offer; then preference and extensions.

    ``config_base`` gives the client certificate, trust and key log (suites and versions are
    replaced per probe); ``engine`` (default: its engine) is auto, libssl or dicomtls. Probes
    ignore the server's certificate, so trust never hides what a server accepts; when
    ``config_base`` has trusted CAs, one more handshake checks the chain. ``timeout`` bounds
    each handshake, ``max_time`` the whole scan (probes past it are skipped); ``parallel``
    handshakes run at a time; the server order search stops after ``order_limit`` handshakes.
    Then: whether a client certificate is required; with ``dicom``, an association (A-ASSOCIATE
    with Verification, C-ECHO, AE titles ``calling_ae`` -> ``called_ae``) per PS3.15 profile the
    server can serve; with ``robot``, the Bleichenbacher oracle check (robot.py); with
    ``questions``, the extra handshakes (hello_probes.py); and the verdicts of ``policies``
    (default all, verdicts.POLICIES) and the findings (weaknesses.py).
    """
    started = time.monotonic()
    base = config_base if config_base is not None else TLSConfig.from_profile(peer_cert="ignore")
    mode = engine or base.engine
    if mode not in ENGINE_ORDER:
        raise ConfigurationError(f"engine must be one of {', '.join(ENGINE_ORDER)}, not {mode!r}")
    if not 1 <= parallel <= 64 or timeout <= 0 or max_time <= 0:
        raise ConfigurationError("parallel must be 1..64; timeout and max_time positive")
    unknown = [p for p in policies or () if p not in POLICIES]
    if unknown:
        raise ConfigurationError(f"unknown policy {', '.join(unknown)}; known: {', '.join(POLICIES)}")
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
    report.client_auth, report.client_auth_detail = client_auth(ctx, report)
    if robot:
        report.robot = check_robot(ctx, report)
    if questions:
        report.questions = hello_probes(ctx, report)
    if dicom:
        report.dicom = check_profiles(ctx, report.probes, report.profiles,
                                      calling_ae=calling_ae, called_ae=called_ae)
    report.verdicts = judge(evidence(report, server_name), policies)
    report.findings = weaknesses(report, server_name)
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
        out.secure_renegotiation = ExtensionType.RENEGOTIATION_INFO in check.tap.extensions
    else:
        exts = pick.tap.extensions
        out.probe = f"{pick.version.label} {pick.suite.name} ({pick.engine})"
        out.encrypt_then_mac = (ExtensionType.ENCRYPT_THEN_MAC in exts if pick.suite.block_cipher
                                else None)
        out.extended_master_secret = ExtensionType.EXTENDED_MASTER_SECRET in exts
        out.secure_renegotiation = ExtensionType.RENEGOTIATION_INFO in exts
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
