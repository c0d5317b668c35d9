"""`dicomtls scan-client` grading real SCUs on loopback, one round per connection: a valid
certificate, then one from an unknown CA, an expired one, one for another name, one without
serverAuth. The SCUs: our own `dicomtls echo` (with and without --verify-hostname), DCMTK
`echoscu +tls` (verifying, and with -ic, which must be reported as accepting everything),
`openssl s_client -verify_return_error`, and Python's `ssl` (SNI and ALPN recorded)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time

import pytest

from conftest import free_port, require_binary

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
ROUNDS = ["valid", "unknown_ca", "expired", "wrong_name", "no_server_auth"]


class ScanClient:
    """scan-client for ``connections`` connections, its JSON report at the end."""

    def __init__(self, pki, tmp_path, connections=5):
        self.port = free_port()
        self.err = open(tmp_path / "scan-client.err", "wb")
        self.proc = subprocess.Popen(
            CLI + ["scan-client", str(self.port), "--cert", str(pki.server_cert), "--key",
                   str(pki.server_key), "--issuer-cert", str(pki.ca_cert), "--issuer-key",
                   str(pki.ca_key), "--ca", str(pki.ca_cert), "--max-connections",
                   str(connections), "--timeout", "5", "--json"],
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.err_path = tmp_path / "scan-client.err"
        deadline = time.monotonic() + 30
        while "listening on" not in self.err_path.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                self.err_path.read_text()
            time.sleep(0.05)

    def report(self):
        out, _ = self.proc.communicate(timeout=60)
        self.err.close()
        assert self.proc.returncode == 0, self.err_path.read_text()
        doc = json.loads(out)
        assert doc["schema"] == "dicomtls-scan-client" and doc["rounds"] == ROUNDS
        (client,) = doc["clients"]
        return client

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def outcomes(client):
    return {r["round"]: (r["outcome"], r["verdict"]) for r in client["rounds"]}


def run_rounds(pki, tmp_path, command):
    grader = ScanClient(pki, tmp_path)
    try:
        for _ in ROUNDS:
            subprocess.run(command(grader.port), capture_output=True, timeout=60)
        return grader.report()
    finally:
        grader.close()


@pytest.mark.parametrize("hostname_check", [False, True])
def test_our_echo(pki, tmp_path, hostname_check):
    extra = ["--verify-hostname"] if hostname_check else []
    client = run_rounds(pki, tmp_path, lambda port: CLI + [
        "echo", "127.0.0.1", str(port), "--tls", "--cert", str(pki.client_cert), "--key",
        str(pki.client_key), "--ca", str(pki.ca_cert), "--timeout", "5", *extra])
    got = outcomes(client)
    assert got["valid"] == ("associated", "pass")
    for name in ("unknown_ca", "expired", "no_server_auth"):
        assert got[name] == ("refused_in_handshake", "pass"), (name, client["rounds"])
    assert got["wrong_name"] == (("refused_in_handshake", "pass") if hostname_check
                                 else ("associated", "fail"))
    grade = client["grade"]
    assert grade["validates_server_certificate"] is hostname_check
    assert grade["accepted_bad_certificates"] == ([] if hostname_check else ["wrong_name"])
    assert grade["rounds_left"] == []
    valid = client["rounds"][0]
    assert valid["client_certificate"].startswith("CN=dicomtls client")
    assert valid["client_certificate_valid"] is True and valid["calling_ae"] == "DICOMTLS"
    hello = client["hello"]
    assert hello["versions"][:2] == ["TLSv1.3", "TLSv1.2"]
    assert "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in hello["suites"]
    assert {"supported_versions", "key_share", "signature_algorithms"} <= set(hello["extensions"])
    assert hello["profiles"]["rfc8996"] == {"served": True, "within": True, "outside": []}
    assert hello["profiles"]["basic"]["served"] is False


@pytest.mark.parametrize("ignore_cert", [False, True])
def test_dcmtk_echoscu(pki, tmp_path, ignore_cert):
    echoscu = require_binary("/usr/bin/echoscu")   # not pynetdicom's echoscu on PATH
    verify = ["-ic"] if ignore_cert else ["+cf", str(pki.ca_cert)]
    client = run_rounds(pki, tmp_path, lambda port: [
        echoscu, "+tls", str(pki.client_key), str(pki.client_cert), *verify, "+py",
        "-to", "5", "127.0.0.1", str(port)])
    got = outcomes(client)
    assert got["valid"] == ("associated", "pass")
    if ignore_cert:   # the point of this test: -ic must show as accepting every bad certificate
        assert client["grade"]["accepted_bad_certificates"] == ROUNDS[1:]
        assert client["grade"]["validates_server_certificate"] is False
    else:
        assert got["unknown_ca"] == ("refused_in_handshake", "pass")
        assert got["expired"] == ("refused_in_handshake", "pass")
        assert got["wrong_name"] == ("associated", "fail")   # DCMTK 3.6.7 checks no names
    assert client["hello"]["profiles"]["bcp195-nd"]["within"] is True   # +py


def test_openssl_s_client_refuses_in_the_handshake(pki, tmp_path):
    openssl = require_binary("openssl")
    client = run_rounds(pki, tmp_path, lambda port: [
        openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pki.ca_cert),
        "-verify_return_error", "-verify_hostname", "127.0.0.1", "-cert",
        str(pki.client_cert), "-key", str(pki.client_key), "-no_ign_eof"])
    got = outcomes(client)
    assert got["valid"][1] == "info"   # TLS only: it never associates
    for name in ROUNDS[1:]:
        assert got[name] == ("refused_in_handshake", "pass"), (name, client["rounds"])


def test_python_ssl_sni_alpn_and_refusals(pki, tmp_path):
    grader = ScanClient(pki, tmp_path)
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.set_alpn_protocols(["dicom"])
    alerts = []
    try:
        for _ in ROUNDS:
            with socket.create_connection(("127.0.0.1", grader.port), timeout=10) as raw:
                try:
                    with ctx.wrap_socket(raw, server_hostname="localhost"):
                        alerts.append(None)
                except ssl.SSLError as exc:
                    alerts.append(exc.reason)
        client = grader.report()
    finally:
        grader.close()
    assert alerts[0] is None and all(alerts[1:]), alerts
    assert client["hello"]["server_name"] == "localhost"
    assert client["hello"]["alpn"] == ["dicom"]
    got = outcomes(client)
    for name in ROUNDS[1:]:
        assert got[name] == ("refused_in_handshake", "pass"), (name, client["rounds"])


def test_an_untrusted_client_certificate_is_ours_to_refuse(pki, pki_ec, tmp_path):
    """A client certificate from another CA fails our check: that round says nothing of the
    client's checks on our certificate, and is reported as ours."""
    grader = ScanClient(pki, tmp_path, connections=1)
    try:
        subprocess.run(CLI + ["echo", "127.0.0.1", str(grader.port), "--tls", "--cert",
                              str(pki_ec.client_cert), "--key", str(pki_ec.client_key), "--ca",
                              str(pki.ca_cert), "--timeout", "5"], capture_output=True, timeout=60)
        client = grader.report()
    finally:
        grader.close()
    (valid,) = client["rounds"]
    assert valid["outcome"] == "client_certificate_invalid" and valid["verdict"] == "info"
    assert valid["client_certificate_valid"] is False
    assert client["grade"]["validates_server_certificate"] is None
