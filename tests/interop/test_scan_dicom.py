"""`dicomtls scan` speaks DICOM over what it negotiated: per PS3.15 profile the server can serve,
one association (A-ASSOCIATE-RQ with Verification, C-ECHO) over a suite of that profile, and
verdicts with ``--policy`` exit codes. Real servers on loopback: our `serve`, DCMTK `storescp
+tls` (in a private network namespace: it binds every interface), and `openssl s_server`, which
completes TLS but speaks no DICOM (a finding)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import free_port, require_binary, wait_for_port
from test_dcmtk_echo import storescp_and_our_cli

from dicomtls.ul.negotiation import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def start_serve(pki, tmp_path, *extra):
    """`serve --tls` with its output in a file: a scan makes a hundred connections, and a pipe
    nobody reads would fill with their log lines and stall the server."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            CLI + ["serve", str(port), "--tls", "--bind", "127.0.0.1", "--json", "--out",
                   str(tmp_path / "out"), "--cert", str(pki.server_cert), "--key",
                   str(pki.server_key), "--ca", str(pki.ca_cert), *extra],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while "serve listening" not in log_path.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)
    return proc, port


def client_tls(pki):
    return ["--cert", str(pki.client_cert), "--key", str(pki.client_key), "--ca", str(pki.ca_cert)]


def scan(port, *args, timeout=180):
    proc = subprocess.run([*CLI, "scan", "127.0.0.1", str(port), *args], capture_output=True,
                          text=True, timeout=timeout)
    return proc


def by_profile(doc):
    return {c["profile"]: c for c in doc["dicom"]}


def test_our_serve_associates_over_every_profile_it_serves(pki, tmp_path):
    serve, port = start_serve(pki, tmp_path)
    try:
        proc = scan(port, "--json", *client_tls(pki), "--policy", "rfc8996")
    finally:
        serve.kill()
        serve.wait(10)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "dicomtls-scan" and doc["schema_version"] == 1
    checks = by_profile(doc)
    for name in ("bcp195", "bcp195-nd", "rfc8996", "none"):
        c = checks[name]
        assert c["outcome"] == "associated" and c["echo_status"] == 0, c
        assert c["implementation_class_uid"] == IMPLEMENTATION_CLASS_UID
        assert c["implementation_version_name"] == IMPLEMENTATION_VERSION_NAME
        assert c["peer_max_pdu"] > 0 and c["finding"] is False
    assert checks["basic"]["outcome"] == "not_checked"
    assert doc["client_auth"]["state"] == "required"   # serve --tls requires a client cert
    verdicts = {v["policy"]: v for v in doc["verdicts"]}
    assert verdicts["rfc8996"]["result"] == "conformant", verdicts["rfc8996"]
    assert verdicts["basic"]["result"] == "not_conformant"
    assert verdicts["atna-bcp195"]["result"] == "not_conformant"   # no DHE suites in rfc8996


def test_policy_exit_codes_and_text_report(pki, tmp_path):
    serve, port = start_serve(pki, tmp_path, "--profile", "bcp195")
    try:
        failing = scan(port, *client_tls(pki), "--versions", "1.2-1.3", "--policy", "B.1",
                       "--no-dicom")
        undecided = scan(port, *client_tls(pki), "--versions", "1.2-1.3",
                         "--policy", "rfc8996")
        unknown = scan(port, "--policy", "b.99")
    finally:
        serve.kill()
        serve.wait(10)
    assert failing.returncode == 3, failing.stderr
    assert "basic              not conformant" in failing.stdout
    assert "DICOM over each profile" not in failing.stdout      # --no-dicom
    assert undecided.returncode == 4, undecided.stderr           # TLS 1.0/1.1 left out
    assert "TLSv1, TLSv1.1 not scanned" in undecided.stdout
    assert "rfc8996      associated   over TLSv1.2" in undecided.stdout
    assert unknown.returncode == 2 and "unknown policy 'b.99'" in unknown.stderr


def test_rejected_association_is_reported_with_its_reason(pki, tmp_path):
    serve, port = start_serve(pki, tmp_path, "--aet", "PACS")
    try:
        wrong = scan(port, "--json", *client_tls(pki), "--versions", "1.3", "--called-ae", "ARCHIVE")
        right = scan(port, "--json", *client_tls(pki), "--versions", "1.3", "--called-ae", "PACS")
    finally:
        serve.kill()
        serve.wait(10)
    rejected = by_profile(json.loads(wrong.stdout))["none"]
    assert rejected["outcome"] == "rejected"
    assert rejected["reject"] == {"result": 1, "source": 1, "reason": 7,
                                  "reason_name": "called-AE-title-not-recognized"}
    assert by_profile(json.loads(right.stdout))["none"]["outcome"] == "associated"


def test_tls_without_dicom_is_a_finding(pki, tmp_path):
    port = free_port()
    log = open(tmp_path / "s_server.log", "wb")
    server = subprocess.Popen([require_binary("openssl"), "s_server", "-accept",
                               f"127.0.0.1:{port}", "-cert", str(pki.server_cert), "-key",
                               str(pki.server_key), "-rev", "-quiet"],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, server)
        proc = scan(port, "--json", "--versions", "1.3", "--timeout", "2")
    finally:
        server.kill()
        server.wait(10)
        log.close()
    assert proc.returncode == 0, proc.stderr
    check = by_profile(json.loads(proc.stdout))["none"]
    assert check["outcome"] == "no_dicom" and check["finding"] is True, check
    assert "TLS is up" in check["detail"]


def test_dcmtk_storescp_over_its_bcp195_nd_profile(pki, tmp_path, netns):
    proc, log, _ = storescp_and_our_cli(
        netns, tmp_path,
        f"+tls {pki.server_key} {pki.server_cert} +cf {pki.ca_cert} +py",
        f"scan 127.0.0.1 PORT --json --versions 1.2-1.3 --cert {pki.client_cert} "
        f"--key {pki.client_key} --ca {pki.ca_cert}")
    assert proc.returncode == 0, proc.stderr + log[-2000:]
    doc = json.loads(proc.stdout)
    check = by_profile(doc)["bcp195-nd"]
    assert check["outcome"] == "associated" and check["echo_status"] == 0, check
    assert check["implementation_class_uid"].startswith("1.2.276.0.7230010.3")   # OFFIS root
    assert check["implementation_version_name"].startswith("OFFIS_DCMTK_")
    assert check["peer_max_pdu"] == 16384
    assert doc["client_auth"]["state"] == "required"   # storescp's default: --require-peer-cert
