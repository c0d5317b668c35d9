"""Weaknesses a scan shows, policy aside: what the legacy suites and old settings expose a DICOM
link to (SWEET32, Lucky 13, Logjam-sized DH groups, no forward secrecy, renegotiation without
RFC 5746, ...), certificate problems, and TLS ports without DICOM. Pure functions of the report;
each finding names its evidence so a reviewer can check it.

Severities: ``high`` (practical attacks or broken trust: single DES, NULL, DH <= 1024 bits, an
expired or unverifiable certificate), ``medium`` (known attacks under conditions: 3DES,
MAC-then-encrypt CBC, TLS 1.0/1.1, no secure renegotiation), ``low`` (weaker than recommended),
``info`` (worth knowing: no client certificate required).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ..tls.versions import TLSVersion

HIGH, MEDIUM, LOW, INFO = "high", "medium", "low", "info"
SEVERITY_ORDER = {HIGH: 0, MEDIUM: 1, LOW: 2, INFO: 3}


@dataclass(frozen=True)
class Finding:
    """One weakness: stable id, severity, what it is, why it matters, and its evidence."""

    id: str
    severity: str
    title: str
    detail: str
    evidence: tuple = ()   # "TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA", ...

    def to_dict(self) -> dict:
        return {"id": self.id, "severity": self.severity, "title": self.title,
                "detail": self.detail, "evidence": list(self.evidence)}


def _pairs(probes, keep) -> tuple:
    return tuple(f"{p.version.label} {p.suite.name}" for p in probes if keep(p))


def _suite_findings(selected, extensions) -> list:
    out = []
    des = _pairs(selected, lambda p: p.suite.encryption == "DES-CBC")
    if des:
        out.append(Finding("weak-cipher", HIGH, "single DES accepted",
                           "56-bit keys: brute force is practical", des))
    null = _pairs(selected, lambda p: p.suite.encryption == "NULL")
    if null:
        out.append(Finding("null-cipher", HIGH, "NULL encryption accepted",
                           "data travels in the clear, integrity-protected only", null))
    sweet = _pairs(selected, lambda p: p.suite.encryption.startswith(("3DES", "DES")))
    if sweet:
        out.append(Finding("sweet32", MEDIUM, "64-bit block ciphers accepted (SWEET32)",
                           "a long-lived association carrying gigabytes of images reaches the "
                           "birthday bound of a 64-bit block (CVE-2016-2183)", sweet))
    cbc = [p for p in selected if p.suite.block_cipher and p.version <= TLSVersion.TLSv1_2]
    if cbc and extensions.encrypt_then_mac is False:
        out.append(Finding("lucky13", MEDIUM, "CBC with MAC-then-encrypt (no encrypt-then-MAC)",
                           "padding and timing oracles (Lucky 13, POODLE-TLS) depend on the "
                           "peer's constant-time code; RFC 7366 encrypt-then-MAC removes them",
                           _pairs(cbc, lambda p: True)))
    rsa = _pairs(selected, lambda p: p.suite.key_exchange == "RSA")
    if rsa:
        out.append(Finding("no-forward-secrecy", LOW, "RSA key transport accepted",
                           "a later leak of the server key decrypts recorded sessions", rsa))
    old = sorted({p.version for p in selected if p.version < TLSVersion.TLSv1_2})
    if old:
        out.append(Finding("old-versions", MEDIUM, "TLS 1.0/1.1 accepted (RFC 8996)",
                           "deprecated versions: SHA-1/MD5 handshake hashes, CBC IV issues",
                           tuple(v.label for v in old)))
    return out


def _dh_findings(selected) -> list:
    out = []
    dhe = [p for p in selected if p.session and p.session.key_exchange == "DHE"
           and p.session.key_exchange_bits]
    small = [p for p in dhe if p.session.key_exchange_bits < 2048]
    if small:
        bits = min(p.session.key_exchange_bits for p in small)
        out.append(Finding("dhe-group-small", HIGH if bits <= 1024 else MEDIUM,
                           f"DHE group of {bits} bits",
                           "groups of 1024 bits and less are within reach of precomputation "
                           "(Logjam); BCP 195 asks for 2048", _pairs(small, lambda p: True)))
    return out


def _extension_findings(selected, extensions) -> list:
    legacy = [p for p in selected if p.version <= TLSVersion.TLSv1_2]
    if not legacy:
        return []
    out = []
    if extensions.secure_renegotiation is False:
        out.append(Finding("insecure-renegotiation", MEDIUM, "no renegotiation_info (RFC 5746)",
                           "a server that renegotiates without it allows prefix injection "
                           "(CVE-2009-3555)"))
    if extensions.extended_master_secret is False:
        out.append(Finding("no-extended-master-secret", LOW, "no extended master secret (RFC 7627)",
                           "session keys are not bound to the handshake (triple handshake)"))
    return out


def _certificate_findings(report, host: str, now: _dt.datetime) -> list:
    cert, out = report.certificate, []
    if not cert.chain:
        return out
    leaf = cert.chain[0]
    if leaf.not_after is not None and leaf.not_after < now:
        out.append(Finding("certificate-expired", HIGH, "server certificate expired",
                           f"not after {leaf.not_after:%Y-%m-%d}", (leaf.subject,)))
    if leaf.not_before is not None and leaf.not_before > now:
        out.append(Finding("certificate-not-yet-valid", HIGH, "server certificate not yet valid",
                           f"not before {leaf.not_before:%Y-%m-%d}", (leaf.subject,)))
    if cert.verified is False:
        out.append(Finding("certificate-untrusted", HIGH, "the chain does not verify",
                           cert.detail, (leaf.subject,)))
    if leaf.key_type == "RSA" and leaf.key_bits < 2048:
        out.append(Finding("certificate-key-small", HIGH if leaf.key_bits <= 1024 else MEDIUM,
                           f"RSA key of {leaf.key_bits} bits", "BCP 195 asks for 2048",
                           (leaf.subject,)))
    sig = leaf.signature_algorithm.lower()
    if "sha1" in sig or "md5" in sig:
        out.append(Finding("certificate-weak-signature", MEDIUM,
                           f"certificate signed with {leaf.signature_algorithm}",
                           "SHA-1 and MD5 signatures can be forged (chosen-prefix collisions)",
                           (leaf.subject,)))
    if leaf.server_auth is False:
        out.append(Finding("certificate-eku", HIGH, "extended key usage without serverAuth",
                           "verifying clients refuse it", (leaf.subject,)))
    if not leaf.names_host(host):
        out.append(Finding("certificate-name", MEDIUM,
                           f"no subjectAltName for {host}",
                           "clients that check the name (RFC 6125) refuse the connection",
                           tuple(f"{k}:{v}" for k, v in leaf.alt_names) or ("no SAN",)))
    return out


def _dicom_findings(report) -> list:
    bad = [c for c in report.dicom if c.finding]
    if not bad:
        return []
    return [Finding("dicom", MEDIUM, "TLS without a working DICOM association",
                    "the port completes TLS but the association or C-ECHO over it fails",
                    tuple(f"{c.profile}: {c.outcome} ({c.detail})" for c in bad))]


def weaknesses(report, host: str, now=None) -> list:
    """Every finding of ``report``, most severe first."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    selected = [p for p in report.probes if p.selected]
    found = (_suite_findings(selected, report.extensions) + _dh_findings(selected)
             + _extension_findings(selected, report.extensions)
             + _certificate_findings(report, host, now) + _dicom_findings(report))
    robot = getattr(report, "robot", None)
    if robot is not None and robot.state == "oracle":
        found.append(Finding("robot", HIGH, "Bleichenbacher oracle on RSA key transport (ROBOT)",
                             robot.detail, tuple(f"{flight}: {variant}: {answers[0]}"
                                                 for flight, by in robot.answers.items()
                                                 for variant, answers in by.items())))
    q = getattr(report, "questions", {}) or {}
    for name, ident, severity, title, bad in (
            ("fallback_scsv", "no-fallback-protection", MEDIUM,
             "TLS_FALLBACK_SCSV not honoured (RFC 7507)", "not_protected"),
            ("compression", "tls-compression", HIGH, "TLS compression (CRIME)", "supported"),
            ("client_renegotiation", "client-renegotiation", LOW,
             "client-initiated renegotiation accepted", "accepted"),
            ("insecure_renegotiation", "insecure-client-renegotiation", HIGH,
             "renegotiation without RFC 5746 accepted (CVE-2009-3555)", "accepted")):
        answer = q.get(name)
        if answer is not None and answer.state == bad:
            found.append(Finding(ident, severity, title, answer.detail))
    if report.client_auth in ("optional", "none"):
        found.append(Finding("client-auth", INFO, "no client certificate required",
                             "any client can associate at the TLS level; the AE title is then "
                             "the only access control", (report.client_auth_detail,)))
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])
