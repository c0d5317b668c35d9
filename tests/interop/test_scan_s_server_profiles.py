"""`openssl s_server` set up as each PS3.15 profile that the system OpenSSL can serve (no 3DES
here, so neither B.1 nor the 3DES half of B.3), scanned: the verdict for that profile, and the
reasons where the standard asks for more than the configuration gives."""

from __future__ import annotations

import subprocess

import pytest

from conftest import require_binary
from test_scan_interop import SServer

from dicomtls.scan import scan

GCM4 = "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:" \
       "DHE-RSA-AES256-GCM-SHA384"
TLS13 = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
CASES = {
    # profile: (s_server arguments, expected result, fail codes)
    "bcp195-nd": (["-tls1_2", "-cipher", GCM4, "-ciphersuites", TLS13], "conformant", set()),
    "bcp195-ex": (["-tls1_2", "-cipher", GCM4], "conformant", set()),
    "rfc8996": (["-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
                 "-ciphersuites", TLS13], "conformant", set()),
    "rfc8996-mod": (["-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
                     "-ciphersuites", TLS13 + ":TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"],
                    "conformant", set()),
    # B.3 also wants the Basic profile's 3DES, which this OpenSSL cannot serve.
    "aes": (["-cipher", "AES128-SHA:@SECLEVEL=0"], "not_conformant", {"suite-missing"}),
}


@pytest.mark.parametrize("profile", sorted(CASES))
def test_s_server_as_each_profile(pki, tmp_path, profile):
    args, result, fails = CASES[profile]
    dh = tmp_path / "dh2048.pem"
    subprocess.run([require_binary("openssl"), "dhparam", "-dsaparam", "-out", str(dh), "2048"],
                   check=True, capture_output=True, timeout=120)
    with SServer(pki, tmp_path, "-dhparam", str(dh), *args) as server:
        report = scan("127.0.0.1", server.port, dicom=False, robot=False, policies=[profile])
    (verdict,) = [v for v in report.verdicts if v.policy == profile]
    assert verdict.result == result, verdict.reasons
    assert {r.code for r in verdict.reasons if r.severity == "fail"} == fails
    assert {p.profile: p.state for p in report.profiles}[profile] == "yes"
