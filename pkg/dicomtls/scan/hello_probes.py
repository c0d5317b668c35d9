"""Handshakes that ask the server one more question each, after the suite probes:

- TLS_FALLBACK_SCSV (RFC 7507): offered at a version below the highest the server accepted, it
  must be refused with inappropriate_fallback; a server that goes on can be downgraded;
- TLS compression: DEFLATE offered beside null; a server that picks it leaks secrets through
  the compressed length (CRIME);
- EC curves at TLS 1.3 and 1.2: one handshake per curve offered alone (libssl);
- session resumption: a second handshake offering the first one's session (libssl: TLS 1.3
  tickets, TLS 1.2 IDs or tickets);
- client-initiated renegotiation: a ClientHello sent inside the established TLS 1.2 session,
  with renegotiation_info (a server that answers spends a full handshake on every such
  request) and without it (a server that answers allows CVE-2009-3555 prefix injection).

The other TLS <= 1.2 questions go through the own engine's client, whose ClientHello can carry
the extra suite code and compression methods (its conformance knobs).
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass, field

from ..tls.own import extensions as ext
from ..tls.own import messages as m
from ..tls.own.cipherspec import ENGINE_NAME, allowed_at
from ..tls.protocol import AlertDescription, ContentType, ExtensionType
from ..tls.versions import TLSVersion
from .probe import ACCEPTED, engine_can

CURVES = ("X25519", "X448", "P-256", "P-384", "P-521")
DEFLATE = 1


@dataclass
class Answer:
    """One question's answer: ``state`` names it (see each probe), ``detail`` says why."""

    state: str = "not_tested"
    detail: str = ""
    values: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"state": self.state, "detail": self.detail, "values": self.values}


def _own_pairs(report, version_filter=lambda v: True, kx=None) -> list:
    return sorted((p for p in report.probes if p.status == ACCEPTED
                   and allowed_at(p.suite, p.version) and version_filter(p.version)
                   and (kx is None or p.suite.key_exchange == kx)),
                  key=lambda p: (-p.version, p.suite.code))


def _run(target, pair, *, adjust=None, after=None, engine=ENGINE_NAME, base=None):
    return target.run((pair.suite,), pair.version, engine, base=base, adjust=adjust, after=after)


def fallback_scsv(target, report) -> Answer:
    accepted = {p.version for p in report.probes if p.status == ACCEPTED}
    if not accepted:
        return Answer(detail="no handshake completed")
    highest = max(accepted)
    lower = _own_pairs(report, lambda v: v < highest)
    if not lower:
        return Answer("not_applicable", f"no version below {highest.label} accepted: there is "
                                        "nothing to fall back to")
    pair = lower[0]
    result = _run(target, pair, adjust=lambda c: setattr(c, "extra_suite_codes",
                                                         (ext.TLS_FALLBACK_SCSV,)))
    if result is None:
        return Answer(detail="total time limit reached")
    where = f"{pair.version.label} {pair.suite.name} with TLS_FALLBACK_SCSV"
    if result.alert == AlertDescription.INAPPROPRIATE_FALLBACK and result.alert_by == "server":
        return Answer("protected", f"{where}: inappropriate_fallback")
    if result.status == ACCEPTED:
        return Answer("not_protected", f"{where}: accepted, although {highest.label} is "
                                       "possible (a downgrade goes unnoticed)")
    return Answer("undecided", f"{where}: {result.status} {result.detail}")


def compression(target, report) -> Answer:
    pairs = _own_pairs(report, lambda v: v <= TLSVersion.TLSv1_2)
    if not pairs:
        return Answer(detail="no TLS 1.0-1.2 suite the own engine can offer was accepted")
    def adjust(conn):
        conn.compression_offer = bytes((DEFLATE, 0))

    result = _run(target, pairs[0], adjust=adjust)
    if result is None:
        return Answer(detail="total time limit reached")
    # Our client refuses any compression (illegal_parameter); the tap has read the choice.
    chosen = result.tap.compression
    if chosen == 0:
        return Answer("not_supported", "DEFLATE offered: the server chose null compression")
    if chosen == DEFLATE:
        return Answer("supported", "DEFLATE offered and chosen: compressed lengths leak "
                                   "secrets (CRIME)")
    return Answer("undecided", f"{result.status} {result.detail}")


def curves(target, report) -> Answer:
    """Which curves the server takes, one offered at a time, at TLS 1.3 and 1.2 (libssl)."""
    out = Answer("tested", "one curve offered at a time")
    for version in (TLSVersion.TLSv1_3, TLSVersion.TLSv1_2):
        pairs = sorted((p for p in report.probes if p.status == ACCEPTED and p.version == version
                        and engine_can("libssl", p.suite, p.version)
                        and (version == TLSVersion.TLSv1_3 or p.suite.key_exchange == "ECDHE")),
                       key=lambda p: p.suite.code)
        if not pairs:
            continue
        for name in CURVES:
            result = _run(target, pairs[0], engine="libssl",
                          base=target.base.replace(groups=(name,)))
            if result is None:
                out.detail += "; total time limit reached"
                return out
            if result.status == ACCEPTED:
                out.values.append(f"{version.short} {name}")
    if not out.values and out.detail == "one curve offered at a time":
        out.state, out.detail = "not_tested", "no ECDHE suite or TLS 1.3 accepted"
    return out


def resumption(target, report) -> Answer:
    from ..tls.session_cache import SessionCache
    pairs = sorted((p for p in report.probes if p.status == ACCEPTED
                    and engine_can("libssl", p.suite, p.version)),
                   key=lambda p: (-p.version, p.suite.code))
    if not pairs:
        return Answer(detail="no suite libssl can offer was accepted")
    pair = pairs[0]
    base = target.base.replace(session_cache=SessionCache(size=4, lifetime=60))
    first = _run(target, pair, engine="libssl", base=base)
    second = _run(target, pair, engine="libssl", base=base) if first is not None else None
    if second is None or first.status != ACCEPTED or second.status != ACCEPTED:
        return Answer("undecided", "a handshake failed or time ran out")
    where = f"{pair.version.label} {pair.suite.name}"
    if second.session.resumed:
        how = "ticket" if pair.version >= TLSVersion.TLSv1_3 else "session ID or ticket"
        return Answer("supported", f"{where}: the second handshake resumed the first ({how})")
    return Answer("not_supported", f"{where}: a full handshake again")


def client_renegotiation(target, report, *, secure: bool) -> Answer:
    """A ClientHello inside the established TLS 1.2 session: with renegotiation_info carrying
    our Finished (RFC 5746, ``secure``), or without it (the CVE-2009-3555 prefix attack)."""
    pairs = _own_pairs(report, lambda v: v <= TLSVersion.TLSv1_2)
    if not pairs:
        return Answer(detail="no TLS 1.0-1.2 suite the own engine can offer was accepted")
    pair = pairs[0]
    seen = {}

    def after(tls, result):
        conn = tls.conn
        # The first hello's extensions again (a server refuses a renegotiation that drops
        # extended master secret), renegotiation_info carrying our Finished or left out.
        exts = [e for e in conn.hello_extensions if e.type != ExtensionType.RENEGOTIATION_INFO]
        if secure:
            exts.append(ext.Extension(ExtensionType.RENEGOTIATION_INFO,
                                      ext.encode_renegotiation_info(conn.client_verify_data)))
        hello = m.ClientHello(version=int(pair.version), random=os.urandom(32), session_id=b"",
                              cipher_suites=[pair.suite.code], compression_methods=b"\0",
                              extensions=exts)
        conn._send_record(ContentType.HANDSHAKE, hello.encode())
        tls.sock.sendall(conn.data_to_send())
        ready, _, _ = select.select([tls.sock], [], [], min(2.0, target.timeout))
        header = tls.sock.recv(5) if ready else None
        seen["type"] = header[0] if header else ("closed" if header == b"" else "silent")

    result = _run(target, pair, after=after)
    if result is None or result.status != ACCEPTED:
        return Answer("undecided", "the handshake failed or time ran out")
    where = f"{pair.version.label} {pair.suite.name}, " \
            f"{'with' if secure else 'without'} renegotiation_info"
    kind = seen.get("type")
    if kind == ContentType.HANDSHAKE:
        return Answer("accepted", f"{where}: the server answered with a new handshake")
    if kind == ContentType.ALERT:
        return Answer("refused", f"{where}: the server answered with an alert")
    return Answer("refused", f"{where}: the server "
                             f"{'closed the connection' if kind == 'closed' else 'ignored it'}")


def version_preference(target, report) -> Answer:
    """One handshake offering every version the server accepted, with the suites it accepted
    (libssl): the version it picks. B.12/B.13 servers shall prefer TLS 1.3."""
    accepted = sorted({p.version for p in report.probes if p.status == ACCEPTED
                       and engine_can("libssl", p.suite, p.version)}, reverse=True)
    if len(accepted) < 2:
        return Answer(detail="fewer than two versions accepted")
    suites = {p.suite for p in report.probes if p.status == ACCEPTED and p.version in accepted
              and engine_can("libssl", p.suite, p.version)}
    result = target.run(tuple(suites), min(accepted), "libssl", max_version=max(accepted))
    if result is None:
        return Answer(detail="total time limit reached")
    if result.status != ACCEPTED:
        return Answer("undecided", f"{result.status} {result.detail}")
    chosen = result.session.protocol
    state = "highest" if chosen == max(accepted) else "lower"
    return Answer(state, f"offered {min(accepted).label}-{max(accepted).label}: the server "
                         f"chose {chosen.label}", [chosen.label])


def hello_probes(target, report) -> dict:
    """Each question's Answer, by name."""
    return {"version_preference": version_preference(target, report),
            "fallback_scsv": fallback_scsv(target, report),
            "compression": compression(target, report),
            "curves": curves(target, report),
            "resumption": resumption(target, report),
            "client_renegotiation": client_renegotiation(target, report, secure=True),
            "insecure_renegotiation": client_renegotiation(target, report, secure=False)}
