"""The scanner's extra questions (scan/hello_probes.py) against `openssl s_server` configured to
answer each one differently: TLS_FALLBACK_SCSV, TLS compression, curves offered alone,
session resumption, and client-initiated renegotiation with and without RFC 5746."""

from __future__ import annotations

import pytest

from test_scan_interop import SServer

from dicomtls.scan import scan

BOTH = "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"


def questions(port, versions=("1.0", "1.1", "1.2", "1.3")):
    report = scan("127.0.0.1", port, versions=versions, dicom=False, robot=False)
    return report.questions, {f.id for f in report.findings}


def test_a_default_openssl_server(pki, tmp_path):
    with SServer(pki, tmp_path, "-cipher", BOTH) as server:
        q, found = questions(server.port)
    assert q["version_preference"].state == "highest"
    assert q["version_preference"].values == ["TLSv1.3"]
    assert q["fallback_scsv"].state == "protected"
    assert "TLSv1.2" in q["fallback_scsv"].detail   # the version just below 1.3
    assert q["compression"].state == "not_supported"
    assert {"1.3 X25519", "1.3 P-256", "1.3 P-384", "1.2 X25519", "1.2 P-256"} <= set(
        q["curves"].values)
    assert q["resumption"].state == "supported" and "ticket" in q["resumption"].detail
    assert q["client_renegotiation"].state == "refused"
    assert q["insecure_renegotiation"].state == "refused"
    assert not found & {"no-fallback-protection", "tls-compression", "client-renegotiation",
                        "insecure-client-renegotiation"}


@pytest.mark.parametrize("legacy", [False, True])
def test_client_initiated_renegotiation(pki, tmp_path, legacy):
    extra = ["-legacy_renegotiation"] if legacy else []
    with SServer(pki, tmp_path, "-cipher", "AES128-SHA:@SECLEVEL=0", "-client_renegotiation",
                 *extra) as server:
        q, found = questions(server.port, versions=("1.2",))
    assert q["client_renegotiation"].state == "accepted"
    assert "client-renegotiation" in found
    assert q["insecure_renegotiation"].state == ("accepted" if legacy else "refused")
    assert ("insecure-client-renegotiation" in found) is legacy


def test_nothing_to_fall_back_to(pki, tmp_path):
    with SServer(pki, tmp_path, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256") as server:
        q, _ = questions(server.port, versions=("1.2",))
    assert q["fallback_scsv"].state == "not_applicable"
    assert q["curves"].values == ["1.2 X25519", "1.2 X448", "1.2 P-256", "1.2 P-384",
                                  "1.2 P-521"]
    assert q["resumption"].state == "supported"
