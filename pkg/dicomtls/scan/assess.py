"""After the probes: whether the server requires a client certificate, the evidence the
verdicts read (scan/verdicts.py), and the report's verdicts and DICOM checks.
"""

from __future__ import annotations

from typing import Optional

from .probe import ACCEPTED, CLIENT_CERT_REJECTED, NEEDS_CLIENT_CERT, UNDECIDED, Target
from .verdicts import Evidence

REQUIRED, OPTIONAL, NONE = "required", "optional", "none"


def client_auth(target: Target, report) -> tuple[Optional[str], str]:
    """("required" | "optional" | "none" | None, how it was found): one handshake without a
    client certificate on the best pair the server chose (the probes themselves decide it
    when they ran without one)."""
    chosen = sorted((p for p in report.probes if p.selected),
                    key=lambda p: (-p.version, p.suite.code))
    if not chosen:
        return None, "no (version, suite) pair was accepted"
    best = chosen[0]
    if target.base.certificate:
        result = target.run((best.suite,), best.version, best.engine,
                            base=target.base.replace(certificate=None, private_key=None))
        if result is None:
            return None, "total time limit reached"
        how = f"a handshake without a client certificate ({best.version.label} {best.suite.name})"
    else:
        result, how = best, "the probes ran without a client certificate"
    if result.status in (NEEDS_CLIENT_CERT, CLIENT_CERT_REJECTED):
        return REQUIRED, how
    if result.status == ACCEPTED:
        return (OPTIONAL if result.tap.cert_request else NONE), how
    return None, f"{how}: {result.status} {result.detail}"


# Curve25519/448 keys report 253/448 bits, but their field sizes (255/448) put them in the
# 256-bit and 448-bit classes the profiles' "ECDHE >= 256 bits" rule speaks of (RFC 9325
# recommends x25519 beside secp256r1).
_MONTGOMERY_CLASS = {"x25519": 256, "x448": 448}


def _curve_bits(session) -> int:
    group = (session.key_exchange_group or "").lower()
    return _MONTGOMERY_CLASS.get(group, session.key_exchange_bits)


def evidence(report, host: str) -> Evidence:
    """What the verdict rules look at, from a finished report."""
    selected = [p for p in report.probes if p.selected]
    leaf = report.certificate.chain[0] if report.certificate.chain else None
    dhe = tuple(p.session.key_exchange_bits for p in selected
                if p.session and p.session.key_exchange == "DHE" and p.session.key_exchange_bits)
    ecdhe = tuple(_curve_bits(p.session) for p in selected
                  if p.session and p.session.key_exchange == "ECDHE"
                  and p.session.key_exchange_bits)
    return Evidence(
        accepted=frozenset((p.version, p.suite) for p in selected),
        decided=frozenset((p.version, p.suite.code) for p in report.probes
                          if p.status not in UNDECIDED),
        scanned_versions=frozenset(report.versions),
        client_auth=report.client_auth,
        leaf=leaf,
        host_matches=None if leaf is None else leaf.names_host(host),
        server_auth_eku=None if leaf is None else leaf.server_auth,
        dhe_bits=dhe, ecdhe_bits=ecdhe,
        server_order=tuple(report.preference.server_order),
        chosen_version=_chosen_version(report),
    )


def _chosen_version(report):
    from ..tls.versions import TLSVersion
    answer = (report.questions or {}).get("version_preference")
    if answer is None or not answer.values:
        return None
    return next((v for v in TLSVersion if v.label == answer.values[0]), None)
