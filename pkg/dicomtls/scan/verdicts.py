"""Verdicts: is the scanned server conformant to each PS3.15 profile and IHE ATNA option, and
why not. Pure functions of the scan report (no network here).

Each policy is a list of rules read from the texts in ``docs/scan-policies.md`` (PS3.15 Annex B,
RFC 7525/8996/9325 for the BCP 195 family, IHE ITI TF-2 3.19 for ATNA). A rule gives reasons
of two severities: ``fail`` (a "shall"/MUST broken: not conformant) and ``warn`` (a "should"
broken, or a fact a reviewer must see). A policy whose required evidence was not decided (a
probe timed out, versions left out of the scan) is ``undecided`` rather than passed.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..tls.profiles import PROFILES
from ..tls.suites import CipherSuite, lookup
from ..tls.versions import TLSVersion

V10, V11, V12, V13 = TLSVersion.TLSv1_0, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2, TLSVersion.TLSv1_3
FAIL, WARN = "fail", "warn"
CONFORMANT, NOT_CONFORMANT, UNDECIDED = "conformant", "not_conformant", "undecided"


@dataclass(frozen=True)
class Reason:
    """Why a policy is not met (``fail``) or what a reviewer should see (``warn``)."""

    severity: str        # fail / warn
    code: str            # stable identifier, e.g. "suite-missing", "version-forbidden"
    text: str

    def to_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "text": self.text}


@dataclass
class Verdict:
    """One policy's result (conformant / not_conformant / undecided) and its reasons."""

    policy: str
    title: str
    reference: str
    result: str = CONFORMANT
    reasons: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"policy": self.policy, "title": self.title, "reference": self.reference,
                "result": self.result, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass(frozen=True)
class Evidence:
    """What the rules look at, distilled from a scan report once."""

    accepted: frozenset                 # {(TLSVersion, CipherSuite)} accepted (or selected)
    decided: frozenset                  # {(TLSVersion, code)} with a definite answer
    scanned_versions: frozenset
    client_auth: Optional[str]          # "required", "optional", "none", None (unknown)
    leaf: object = None                 # CertificateInfo of the server's leaf, or None
    host_matches: Optional[bool] = None # the leaf names the scanned host/address (SAN)
    server_auth_eku: Optional[bool] = None  # None: no EKU extension (any use allowed)
    dhe_bits: tuple = ()                # key sizes seen in accepted DHE handshakes
    ecdhe_bits: tuple = ()
    server_order: tuple = ()            # the server's suite order, when it has one
    chosen_version: Optional[TLSVersion] = None  # offered every accepted version: its pick
    now: _dt.datetime = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))

    def versions(self) -> set:
        return {v for v, _ in self.accepted}

    def suites_at(self, version: TLSVersion) -> set:
        return {s for v, s in self.accepted if v == version}

    def has(self, suite: CipherSuite, versions=None) -> bool:
        return any(s == suite and (versions is None or v in versions) for v, s in self.accepted)

    def knows(self, version: TLSVersion, suite: CipherSuite) -> bool:
        return (version, suite.code) in self.decided


def _suites(*names) -> tuple:
    return tuple(lookup(n) for n in names)


BCP195_GCM = _suites("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                     "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
B11_SHOULD = _suites("TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384",
                     "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                     "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384",
                     "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384",
                     "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256",
                     "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256")
B13_CAMELLIA = _suites("TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256",
                       "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256",
                       "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384",
                       "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384")
RSA_3DES, RSA_AES128 = _suites("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA")


# ---- rule helpers: each returns a list of Reasons --------------------------------------------
def _required(ev: Evidence, suites, versions, why: str) -> list:
    out = []
    for suite in suites:
        if not any(ev.has(suite, {v}) for v in versions):
            undecided = not any(ev.knows(v, suite) for v in versions)
            out.append(Reason(WARN if undecided else FAIL,
                              "suite-undecided" if undecided else "suite-missing",
                              f"{suite.name} {'was not decided' if undecided else 'not accepted'}"
                              f" at {'/'.join(v.short for v in versions)} ({why})"))
    return out


def _versions_forbidden(ev: Evidence, versions, why: str) -> list:
    return [Reason(FAIL, "version-forbidden", f"{v.label} accepted ({why})")
            for v in sorted(ev.versions() & set(versions))]


def _by_suite(pairs) -> list:
    """[(suite, "1.0/1.1/1.2")] for accepted pairs, one entry per suite."""
    versions: dict = {}
    for v, s in sorted(pairs, key=lambda p: (p[1].code, p[0])):
        versions.setdefault(s, []).append(v.short)
    return [(s, "/".join(vs)) for s, vs in versions.items()]


def _weak_suites(ev: Evidence, *, des3: str, rsa_kx: str, cbc: str = "") -> list:
    """BCP 195 strength rules over every accepted suite (one reason per suite and rule, naming
    its versions); the severities of the "SHOULD NOT"s differ per policy (3DES, RSA key
    transport, CBC: pass "" to skip)."""
    out = []
    for s, versions in _by_suite(ev.accepted):
        label = f"{s.name} at {versions}"
        if s.encryption == "NULL":
            out.append(Reason(FAIL, "suite-null", f"{label}: no encryption"))
        elif s.effective_bits < 112:
            out.append(Reason(FAIL, "suite-weak", f"{label}: {s.effective_bits}-bit security"))
        elif s.encryption.startswith("3DES") and des3:
            out.append(Reason(des3, "suite-64bit-block",
                              f"{label}: 3DES (112-bit security, 64-bit blocks: SWEET32)"))
        if s.mac == "MD5":
            out.append(Reason(FAIL, "suite-md5", f"{label}: MD5 MAC"))
        if s.key_exchange == "RSA" and rsa_kx:
            out.append(Reason(rsa_kx, "suite-no-forward-secrecy",
                              f"{label}: RSA key transport (no forward secrecy)"))
        if s.block_cipher and cbc and s.encryption != "NULL":
            out.append(Reason(cbc, "suite-cbc", f"{label}: CBC mode, not an AEAD cipher"))
    return out


def _only(ev: Evidence, allowed, why: str) -> list:
    codes = {s.code for s in allowed}
    return [Reason(FAIL, "suite-not-allowed", f"{s.name} accepted at {versions} ({why})")
            for s, versions in _by_suite(ev.accepted) if s.code not in codes]


def _key_sizes(ev: Evidence, min_dhe: Optional[int], min_ecdhe: Optional[int], sev: str) -> list:
    out = []
    if min_dhe and ev.dhe_bits and min(ev.dhe_bits) < min_dhe:
        out.append(Reason(sev, "dhe-group-small",
                          f"DHE group of {min(ev.dhe_bits)} bits (at least {min_dhe})"))
    if min_ecdhe and ev.ecdhe_bits and min(ev.ecdhe_bits) < min_ecdhe:
        out.append(Reason(sev, "ecdhe-curve-small",
                          f"ECDHE curve of {min(ev.ecdhe_bits)} bits (at least {min_ecdhe})"))
    return out


def _certificate(ev: Evidence, *, rsa_min: int, rsa_sev: str, san_sev: str) -> list:
    leaf, out = ev.leaf, []
    if leaf is None:
        return [Reason(WARN, "certificate-unseen", "no server certificate seen")]
    if leaf.not_after is not None and leaf.not_after < ev.now:
        out.append(Reason(FAIL, "certificate-expired", f"expired {leaf.not_after:%Y-%m-%d}"))
    if leaf.not_before is not None and leaf.not_before > ev.now:
        out.append(Reason(FAIL, "certificate-not-yet-valid",
                          f"not valid before {leaf.not_before:%Y-%m-%d}"))
    if leaf.key_type == "RSA" and leaf.key_bits < rsa_min:
        out.append(Reason(rsa_sev, "rsa-key-small",
                          f"RSA key of {leaf.key_bits} bits (at least {rsa_min})"))
    if ev.server_auth_eku is False:
        out.append(Reason(FAIL, "certificate-eku",
                          "extended key usage without serverAuth: a verifying client refuses it"))
    if ev.host_matches is False:
        out.append(Reason(san_sev, "certificate-name",
                          "no subjectAltName for the scanned host or address (RFC 6125)"))
    return out


def _mutual(ev: Evidence) -> list:
    if ev.client_auth == "required":
        return []
    if ev.client_auth is None:
        return [Reason(WARN, "client-auth-undecided", "whether a client certificate is required "
                       "was not decided")]
    what = ("requested but not required" if ev.client_auth == "optional"
            else "not requested")
    return [Reason(FAIL, "client-auth-missing",
                   f"client certificate {what}: ATNA node authentication is mutual")]


# ---- the policies ------------------------------------------------------------------------------
def _basic(ev):
    return (_required(ev, (RSA_3DES,), (V10, V11, V12), "the Basic profile's suite")
            + _certificate(ev, rsa_min=2048, rsa_sev=WARN, san_sev=WARN))


def _aes(ev):
    out = _required(ev, (RSA_AES128, RSA_3DES), (V10, V11, V12),
                    "B.3: AES, and 3DES for Basic-profile peers")
    order = [s.code for s in ev.server_order]
    if RSA_AES128.code in order and RSA_3DES.code in order \
            and order.index(RSA_3DES.code) < order.index(RSA_AES128.code):
        out.append(Reason(WARN, "preference", "the server prefers 3DES over AES (B.3 prefers AES)"))
    return out + _certificate(ev, rsa_min=2048, rsa_sev=WARN, san_sev=WARN)


def _bcp195(ev):
    out = []
    if V12 not in ev.versions() and V13 not in ev.versions():
        out.append(Reason(WARN, "version-missing", "neither TLS 1.2 nor 1.3 accepted (B.9 "
                          "recommends TLS 1.2)"))
    if not any(ev.has(s, {V12}) for s in BCP195_GCM):
        out.append(Reason(WARN, "suite-missing", "none of RFC 7525's four recommended suites "
                          "accepted at TLS 1.2"))
    return (out + _weak_suites(ev, des3=WARN, rsa_kx="")
            + _certificate(ev, rsa_min=2048, rsa_sev=WARN, san_sev=WARN))


def _bcp195_nd(ev):
    strong = [Reason(FAIL, r.code, r.text + " (B.10: others only of similar strength)")
              for r in _weak_suites(ev, des3=FAIL, rsa_kx=FAIL, cbc=FAIL)]
    return (_versions_forbidden(ev, (V10, V11), "B.10 shall not negotiate TLS 1.0/1.1")
            + _required(ev, BCP195_GCM, (V12,), "B.10 requires all four")
            + strong + _certificate(ev, rsa_min=2048, rsa_sev=FAIL, san_sev=WARN))


def _bcp195_ex(ev):
    allowed = BCP195_GCM + B11_SHOULD + tuple(s for _, s in ev.accepted if s.is_tls13)
    return (_versions_forbidden(ev, (V10, V11), "B.11 shall not negotiate TLS 1.0/1.1")
            + _required(ev, BCP195_GCM, (V12,), "B.11 requires the four B.10 suites")
            + _only(ev, allowed, "B.11: no other suites shall be used")
            + _key_sizes(ev, 2048, 256, FAIL)
            + _certificate(ev, rsa_min=2048, rsa_sev=FAIL, san_sev=WARN))


def _prefers_tls13(ev, profile: str) -> list:
    if V13 in ev.versions() and ev.chosen_version is not None and ev.chosen_version < V13:
        return [Reason(FAIL, "version-preference",
                       f"offered TLS 1.2 and 1.3, the server chose {ev.chosen_version.label} "
                       f"({profile} servers shall prefer TLS 1.3)")]
    return []


def _rfc8996(ev):
    out = [] if V12 in ev.versions() else [Reason(FAIL, "version-missing",
                                                  "TLS 1.2 not accepted (B.12 shall support it)")]
    out += _prefers_tls13(ev, "B.12")
    return (out + _versions_forbidden(ev, (V10, V11), "RFC 8996 deprecates TLS 1.0/1.1")
            + _weak_suites(ev, des3=FAIL, rsa_kx=WARN) + _key_sizes(ev, 2048, 256, WARN)
            + _certificate(ev, rsa_min=2048, rsa_sev=FAIL, san_sev=WARN))


def _rfc8996_mod(ev):
    prof = PROFILES["rfc8996-mod"]
    out = [] if V12 in ev.versions() else [Reason(FAIL, "version-missing",
                                                  "TLS 1.2 not accepted (B.13 shall support it)")]
    if V13 in ev.versions():
        out += _required(ev, prof.tls13_suites, (V13,),
                         "B.13: a TLS 1.3 server supports every listed suite")
    out += _prefers_tls13(ev, "B.13")
    return (out + _versions_forbidden(ev, (V10, V11), "RFC 8996 deprecates TLS 1.0/1.1")
            + _only(ev, prof.suites + B13_CAMELLIA + prof.tls13_suites,
                    "B.13 permits only its listed algorithms")
            + _key_sizes(ev, 2048, 256, FAIL)
            + _certificate(ev, rsa_min=2048, rsa_sev=FAIL, san_sev=WARN))


def _atna_bcp195(ev):
    return (_versions_forbidden(ev, (V10, V11), "TLS 1.2 floor")
            + _required(ev, BCP195_GCM, (V12,), "the BCP 195 suites of the TLS 1.2 floor option")
            + _weak_suites(ev, des3=FAIL, rsa_kx=WARN) + _key_sizes(ev, 2048, 256, FAIL)
            + _mutual(ev) + _certificate(ev, rsa_min=2048, rsa_sev=FAIL, san_sev=FAIL))


def _atna_tls10_aes(ev):
    return (_required(ev, (RSA_AES128,), (V10,), "a TLS 1.0 floor: older nodes connect")
            + _weak_suites(ev, des3=WARN, rsa_kx="") + _mutual(ev)
            + _certificate(ev, rsa_min=2048, rsa_sev=WARN, san_sev=FAIL))


def _atna_aes_baseline(ev):
    return (_required(ev, (RSA_AES128,), (V10, V11, V12), "the ATNA baseline suite")
            + _weak_suites(ev, des3=WARN, rsa_kx="") + _mutual(ev)
            + _certificate(ev, rsa_min=2048, rsa_sev=WARN, san_sev=FAIL))


@dataclass(frozen=True)
class Policy:
    """A policy: its name, title, reference, rule function and the versions it needs scanned."""

    name: str
    title: str
    reference: str
    rules: Callable
    versions: tuple      # versions the evidence must cover to decide


POLICIES = {p.name: p for p in (
    Policy("basic", "Basic TLS", "PS3.15 B.1 (retired)", _basic, (V10, V11, V12)),
    Policy("aes", "AES TLS", "PS3.15 B.3 (retired)", _aes, (V10, V11, V12)),
    Policy("bcp195", "BCP 195 TLS", "PS3.15 B.9 (retired), RFC 7525", _bcp195, tuple(TLSVersion)),
    Policy("bcp195-nd", "Non-downgrading BCP 195 TLS", "PS3.15 B.10 (retired)", _bcp195_nd,
           tuple(TLSVersion)),
    Policy("bcp195-ex", "Extended BCP 195 TLS", "PS3.15 B.11 (retired)", _bcp195_ex,
           tuple(TLSVersion)),
    Policy("rfc8996", "BCP 195 RFC 8996 TLS", "PS3.15 B.12, RFC 8996, RFC 9325", _rfc8996,
           tuple(TLSVersion)),
    Policy("rfc8996-mod", "Modified BCP 195 RFC 8996 TLS", "PS3.15 B.13", _rfc8996_mod,
           tuple(TLSVersion)),
    Policy("atna-bcp195", "IHE ATNA: TLS 1.2 floor using BCP 195", "IHE ITI TF-2 3.19 (ITI-19)",
           _atna_bcp195, tuple(TLSVersion)),
    Policy("atna-tls10-aes", "IHE ATNA: TLS 1.0 floor with AES", "IHE ITI TF-2 3.19 (ITI-19)",
           _atna_tls10_aes, (V10, V11, V12)),
    Policy("atna-aes-baseline", "IHE ATNA: TLS_RSA_WITH_AES_128_CBC_SHA baseline",
           "IHE ITI TF-2 3.19 (ITI-19)", _atna_aes_baseline, (V10, V11, V12)),
)}


def judge(ev: Evidence, names=None) -> list:
    """A Verdict per policy (all, or ``names`` in that order)."""
    out = []
    for name in names or POLICIES:
        policy = POLICIES[name]
        verdict = Verdict(policy.name, policy.title, policy.reference)
        verdict.reasons = policy.rules(ev)
        missing = [v for v in policy.versions if v not in ev.scanned_versions]
        if missing:
            verdict.reasons.append(Reason(WARN, "versions-not-scanned",
                                          f"{', '.join(v.label for v in missing)} not scanned"))
        if any(r.severity == FAIL for r in verdict.reasons):
            verdict.result = NOT_CONFORMANT
        elif missing or any(r.code.endswith("-undecided") for r in verdict.reasons):
            verdict.result = UNDECIDED
        out.append(verdict)
    return out
