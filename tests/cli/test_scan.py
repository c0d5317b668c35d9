"""`dicomtls scan` as a user runs it: separate processes on 127.0.0.1, table, JSON, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import require_binary, wait_for_port

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def run(*args, timeout=120):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout)


class Peer:
    """A server child process with its output in a file (a scan makes ~100 connections: a pipe
    nobody reads would fill up and stall it); killed when the block ends."""

    def __init__(self, argv, log_path, ready=None):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            self._wait(ready)
        except BaseException:
            self.__exit__()
            raise

    def _wait(self, ready):
        if ready is None:
            return
        deadline = time.monotonic() + 20
        while ready not in self.log_path.read_text(errors="replace"):
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                self.log_path.read_text(errors="replace")
            time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(5)
        self.log.close()


def s_server(pki, tmp_path, port, *extra):
    peer = Peer([require_binary("openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                 str(pki.server_cert), "-key", str(pki.server_key), "-rev", "-quiet", *extra],
                tmp_path / "s_server.log")
    wait_for_port(port, peer.proc)
    return peer


def our_legacy_server(pki, tmp_path, port, *extra):
    """`dicomtls tls-server` with DES, 3DES and AES: only dicomtls' own engine runs that list."""
    ciphers = [a for c in ("DES-CBC-SHA", "DES-CBC3-SHA", "AES128-SHA") for a in ("--cipher", c)]
    return Peer(CLI + ["tls-server", str(port), "--echo", "--cert", str(pki.server_cert), "--key",
                       str(pki.server_key), "--peer-cert", "ignore", "--min-version", "1.0",
                       "--max-version", "1.2", *ciphers, *extra],
                tmp_path / "tls-server.log", ready="listening on")


def test_json_against_s_server(pki, tmp_path, port):
    with s_server(pki, tmp_path, port, "-cipher", "AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384",
                  "-ciphersuites", "TLS_AES_128_GCM_SHA256"):
        result = run("scan", "127.0.0.1", str(port), "--versions", "1.2-1.3", "--json",
                     "--ca", str(pki.ca_cert), "--no-dicom", "--no-robot", "--no-questions")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # one document
    assert {(a["version"], a["suite"]) for a in doc["accepted"]} == {
        ("TLSv1.3", "TLS_AES_128_GCM_SHA256"), ("TLSv1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"),
        ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")}
    assert doc["versions"] == ["TLSv1.3", "TLSv1.2"]
    probe = next(p for p in doc["probes"] if p["suite"] == "TLS_AES_256_GCM_SHA384")
    assert probe["result"] == "refused" and probe["alert"] == "handshake_failure"
    assert probe["alert_by"] == "server"
    assert doc["certificate"]["verified"] is True
    assert doc["certificate"]["chain"][0]["subject"].startswith("CN=localhost")
    assert doc["extensions"]["encrypt_then_mac"] is True
    assert doc["preference"]["mode"] == "client"
    profiles = {p["profile"]: p["state"] for p in doc["profiles"]}
    assert profiles["rfc8996"] == "yes" and profiles["bcp195-ex"] == "yes"
    # s_server speaks no DICOM and serves one connection at a time: those checks are skipped
    # here and tested in tests/interop/test_scan_*.py.
    assert doc["dicom"] == [] and doc["robot"] is None and doc["questions"] == {}
    assert doc["client_auth"]["state"] == "none"
    assert {"version": "TLSv1.2", "suite": "TLS_RSA_WITH_DES_CBC_SHA",
            "reason": "single DES is not offered at TLS 1.2 (RFC 5246 removed it)"} \
        in doc["not_probed"]


def test_table_against_our_legacy_tls_server(pki, tmp_path, port):
    with our_legacy_server(pki, tmp_path, port):
        result = run("scan", "127.0.0.1", str(port), "--versions", "1.0-1.2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = {tuple(line.split()[:4]) for line in out.splitlines() if line.startswith("TLSv")}
    accepted = {(r[0], r[2]) for r in rows if r[3] == "accepted"}
    assert accepted == {
        ("TLSv1", "TLS_RSA_WITH_DES_CBC_SHA"), ("TLSv1.1", "TLS_RSA_WITH_DES_CBC_SHA"),
        ("TLSv1", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"), ("TLSv1.1", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        ("TLSv1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"), ("TLSv1", "TLS_RSA_WITH_AES_128_CBC_SHA"),
        ("TLSv1.1", "TLS_RSA_WITH_AES_128_CBC_SHA"), ("TLSv1.2", "TLS_RSA_WITH_AES_128_CBC_SHA")}
    assert "0x000A  TLS_RSA_WITH_3DES_EDE_CBC_SHA" in out
    assert ("preference (TLSv1.2): the server's own order: TLS_RSA_WITH_3DES_EDE_CBC_SHA > "
            "TLS_RSA_WITH_AES_128_CBC_SHA") in out
    assert "encrypt-then-MAC: yes, extended master secret: yes" in out
    assert "  basic        PS3.15 B.1   yes (TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA)" in out
    assert "  rfc8996      PS3.15 B.12  unknown" in out  # TLS 1.3 was left out


def test_accepted_only_and_no_etm_against_s_server(pki, tmp_path, port):
    with s_server(pki, tmp_path, port, "-tls1_2", "-no_etm", "-cipher", "AES128-SHA"):
        result = run("scan", "127.0.0.1", str(port), "--accepted-only", "--cipher", "AES128-SHA",
                     "--cipher", "AES256-SHA", "--no-dicom", "--no-robot", "--no-questions")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("TLSv")]
    assert len(rows) == 1 and "TLS_RSA_WITH_AES_128_CBC_SHA" in rows[0]
    assert "encrypt-then-MAC: no, extended master secret: yes, secure renegotiation " \
           "(renegotiation_info): yes" in result.stdout


def test_unreachable_port_exits_1(port):
    result = run("scan", "127.0.0.1", str(port))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (f"dicomtls scan: ScanTargetError: cannot connect to "
                                      f"127.0.0.1 port {port}: Connection refused")


@pytest.mark.parametrize("args", [
    ["--versions", "1.4"], ["--versions", "1.2-1.0"], ["--timeout", "0"], ["--parallel", "99"],
    ["--versions", "1.3", "--max-version", "1.2"], ["70000"],
])
def test_usage_errors_exit_2(args, port):
    argv = ["scan", "127.0.0.1"] + (args if args == ["70000"] else [str(port)] + args)
    result = run(*argv)
    assert result.returncode == 2, result.stderr
    assert "usage: dicomtls scan" in result.stderr


def test_configuration_error_exits_1(tmp_path, port):
    result = run("scan", "127.0.0.1", str(port), "--cert", str(tmp_path / "missing.pem"))
    assert result.returncode == 1
    assert "no such file" in result.stderr


def test_wrong_key_password_exits_1_before_probing(pki, port):
    result = run("scan", "127.0.0.1", str(port), "--cert", str(pki.client_cert), "--key",
                 str(pki.client_key_encrypted), "--key-password", "wrong")
    assert result.returncode == 1
    assert "KeyPasswordError" in result.stderr and result.stdout == ""
