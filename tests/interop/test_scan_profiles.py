"""Each PS3.15 profile as servers run it, scanned: our `serve --profile P` (basic's 3DES on our
own engine) must be judged conformant to P, associate over P's suites,
and show no Bleichenbacher oracle where RSA key transport is on; DCMTK `storescp +tls` with
each of its profiles (in a private network namespace) must associate over it."""

from __future__ import annotations

import json

import pytest

from test_dcmtk_echo import storescp_and_our_cli
from test_scan_dicom import client_tls, scan, start_serve

PROFILES = ["basic", "aes", "bcp195", "bcp195-nd", "bcp195-ex", "rfc8996", "rfc8996-mod"]


@pytest.mark.parametrize("profile", PROFILES)
def test_our_serve_with_each_profile(pki, tmp_path, profile):
    serve, port = start_serve(pki, tmp_path, "--profile", profile)
    try:
        proc = scan(port, "--json", *client_tls(pki), "--no-questions", "--policy", profile)
    finally:
        serve.kill()
        serve.wait(10)
    doc = json.loads(proc.stdout)
    verdict = {v["policy"]: v for v in doc["verdicts"]}[profile]
    assert verdict["result"] == "conformant", verdict
    assert proc.returncode == 0, proc.stderr
    check = {c["profile"]: c for c in doc["dicom"]}[profile]
    assert check["outcome"] == "associated" and check["echo_status"] == 0, check
    if profile == "basic":
        assert check["engine"] == "dicomtls"      # 3DES: only the own engine has it
    if profile in ("basic", "aes"):               # RSA key transport: the oracle check ran
        assert doc["robot"]["state"] == "not_vulnerable", doc["robot"]
    states = {p["profile"]: p["state"] for p in doc["profiles"]}
    assert states[profile] == "yes"


@pytest.mark.parametrize("option, profile", [("+px", "bcp195"), ("+py", "bcp195-nd"),
                                             ("+pz", "bcp195-ex")])
def test_dcmtk_storescp_with_each_profile(pki, tmp_path, netns, option, profile):
    proc, log, _ = storescp_and_our_cli(
        netns, tmp_path, f"+tls {pki.server_key} {pki.server_cert} +cf {pki.ca_cert} {option}",
        f"scan 127.0.0.1 PORT --json --versions 1.2-1.3 --no-questions --cert "
        f"{pki.client_cert} --key {pki.client_key} --ca {pki.ca_cert}")
    assert proc.returncode == 0, proc.stderr + log[-2000:]
    doc = json.loads(proc.stdout)
    check = {c["profile"]: c for c in doc["dicom"]}[profile]
    assert check["outcome"] == "associated" and check["echo_status"] == 0, check
    assert check["implementation_version_name"].startswith("OFFIS_DCMTK_")
