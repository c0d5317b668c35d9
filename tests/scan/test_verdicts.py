"""Verdict rules on the evidence a scan distils (scan/verdicts.py): each policy's required
suites, forbidden versions and suites, key sizes, certificate and client authentication, and
"undecided" when the scan did not cover what a policy needs. The evidence is built here the
way ``assess.evidence`` builds it from a report; the end-to-end path runs against real
servers in test_scan_dicom.py."""

from __future__ import annotations

import datetime as dt

import pytest

from dicomtls.crypto.devpki import issue_certificate
from dicomtls.crypto.keys import PrivateKey
from dicomtls.scan.verdicts import (CONFORMANT, NOT_CONFORMANT, POLICIES, UNDECIDED, Evidence,
                                    judge)
from dicomtls.tls.suites import lookup
from dicomtls.tls.versions import TLSVersion

V10, V11, V12, V13 = TLSVersion.TLSv1_0, TLSVersion.TLSv1_1, TLSVersion.TLSv1_2, TLSVersion.TLSv1_3
ALL = frozenset(TLSVersion)
GCM4 = ["TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
TLS13 = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]


@pytest.fixture(scope="module")
def leaf():
    key = PrivateKey.generate("rsa", bits=2048)
    return issue_certificate(key, "pacs", purposes=("serverAuth",), san_dns=("pacs.example.org",),
                             san_ip=("127.0.0.1",)).info()


def evidence(pairs, leaf, *, scanned=ALL, client_auth="required", host="127.0.0.1", **kw):
    accepted = frozenset((v, lookup(s)) for v, names in pairs.items() for s in names)
    decided = frozenset((v, s.code) for v in scanned for s in
                        [lookup(n) for names in pairs.values() for n in names] + [
                            lookup(n) for n in GCM4 + TLS13 + ["TLS_RSA_WITH_AES_128_CBC_SHA",
                                                                "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]])
    return Evidence(accepted=accepted, decided=decided, scanned_versions=frozenset(scanned),
                    client_auth=client_auth, leaf=leaf,
                    host_matches=None if leaf is None else leaf.names_host(host),
                    server_auth_eku=None if leaf is None else leaf.server_auth, **kw)


def verdicts(ev):
    return {v.policy: v for v in judge(ev)}


def codes(verdict, severity="fail"):
    return {r.code for r in verdict.reasons if r.severity == severity}


LEGACY = {V: ["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"]
          for V in (V10, V11, V12)}
MODERN = {V12: GCM4, V13: TLS13}


def test_a_legacy_basic_and_aes_server(leaf):
    got = verdicts(evidence(LEGACY, leaf))
    assert got["basic"].result == CONFORMANT and got["aes"].result == CONFORMANT
    assert got["atna-tls10-aes"].result == CONFORMANT
    assert got["rfc8996"].result == NOT_CONFORMANT
    assert {"version-forbidden", "suite-64bit-block"} <= codes(got["rfc8996"])
    assert "suite-no-forward-secrecy" in codes(got["rfc8996"], "warn")
    nd = got["bcp195-nd"]
    assert {"version-forbidden", "suite-missing", "suite-cbc"} <= codes(nd)
    assert got["bcp195"].result == CONFORMANT   # B.9 allows fallback; 3DES only warned
    assert "suite-64bit-block" in codes(got["bcp195"], "warn")


def test_a_bcp195_server_with_tls13(leaf):
    got = verdicts(evidence(MODERN, leaf, dhe_bits=(2048,), ecdhe_bits=(256,)))
    for name in ("bcp195", "bcp195-nd", "bcp195-ex", "rfc8996", "atna-bcp195"):
        assert got[name].result == CONFORMANT, (name, got[name].reasons)
    assert got["basic"].result == NOT_CONFORMANT
    mod = got["rfc8996-mod"]   # the DHE suites are not on B.13's list, nor are its CCM 1.3 suites
    assert mod.result == NOT_CONFORMANT
    assert {r.text.split()[0] for r in mod.reasons if r.code == "suite-not-allowed"} == {
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"}
    assert any("TLS_AES_128_CCM_SHA256" in r.text for r in mod.reasons)


def test_small_dh_group_fails_b11_and_warns_b12(leaf):
    got = verdicts(evidence(MODERN, leaf, dhe_bits=(1024, 2048), ecdhe_bits=(256,)))
    assert "dhe-group-small" in codes(got["bcp195-ex"])
    assert got["rfc8996"].result == CONFORMANT
    assert "dhe-group-small" in codes(got["rfc8996"], "warn")


@pytest.mark.parametrize("state, code", [("none", "client-auth-missing"),
                                         ("optional", "client-auth-missing")])
def test_atna_needs_mutual_authentication(leaf, state, code):
    got = verdicts(evidence(MODERN, leaf, client_auth=state, dhe_bits=(2048,)))
    assert got["atna-bcp195"].result == NOT_CONFORMANT
    assert code in codes(got["atna-bcp195"])
    assert got["rfc8996"].result == CONFORMANT   # PS3.15 leaves certificate use to the site


def test_unknown_client_auth_is_undecided_not_failed(leaf):
    got = verdicts(evidence(MODERN, leaf, client_auth=None, dhe_bits=(2048,)))
    assert got["atna-bcp195"].result == UNDECIDED


def test_certificate_problems(leaf):
    key = PrivateKey.generate("rsa", bits=1024)
    bad = issue_certificate(key, "pacs", purposes=("clientAuth",),
                            not_before=dt.timedelta(days=-60),
                            not_after=dt.timedelta(days=-1)).info()
    got = verdicts(evidence(MODERN, bad, dhe_bits=(2048,)))
    rfc = got["rfc8996"]
    assert {"certificate-expired", "certificate-eku", "rsa-key-small"} <= codes(rfc)
    assert "certificate-name" in codes(rfc, "warn")          # no SAN: a warning for PS3.15
    assert "certificate-name" in codes(got["atna-bcp195"])   # and a failure for ATNA
    assert "rsa-key-small" in codes(got["basic"], "warn")    # B.1 has no key-size rule


def test_host_not_in_alt_names(leaf):
    got = verdicts(evidence(MODERN, leaf, host="pacs.other.org", dhe_bits=(2048,)))
    assert "certificate-name" in codes(got["atna-bcp195"])
    assert verdicts(evidence(MODERN, leaf, host="pacs.example.org", dhe_bits=(2048,)))[
        "atna-bcp195"].result == CONFORMANT


def test_versions_left_out_make_a_passing_policy_undecided(leaf):
    got = verdicts(evidence({V12: GCM4}, leaf, scanned=frozenset({V12}), dhe_bits=(2048,)))
    assert got["bcp195-nd"].result == UNDECIDED
    assert "versions-not-scanned" in codes(got["bcp195-nd"], "warn")
    assert got["basic"].result == NOT_CONFORMANT   # a failure stays a failure


def test_every_policy_is_judged_in_order(leaf):
    names = [v.policy for v in judge(evidence(MODERN, leaf))]
    assert names == list(POLICIES)
    assert [v.policy for v in judge(evidence(MODERN, leaf), ["atna-bcp195", "basic"])] == [
        "atna-bcp195", "basic"]


def test_b12_and_b13_servers_prefer_tls13(leaf):
    lower = verdicts(evidence(MODERN, leaf, dhe_bits=(2048,), chosen_version=V12))
    assert "version-preference" in codes(lower["rfc8996"])
    assert "version-preference" in codes(lower["rfc8996-mod"])
    assert lower["bcp195"].result == CONFORMANT   # B.9 says nothing of it
    assert verdicts(evidence(MODERN, leaf, dhe_bits=(2048,), chosen_version=V13))[
        "rfc8996"].result == CONFORMANT
