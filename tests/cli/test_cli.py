"""The `dicomtls` command as a user runs it: separate processes on 127.0.0.1, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import free_port, require_binary, wait_for_port

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def run(*args, timeout=60, **kw):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout, **kw)


def tls_args(pki, role, password=False):
    cert = pki.server_cert if role == "server" else pki.client_cert
    key = pki.server_key if role == "server" else pki.client_key
    args = ["--cert", str(cert), "--ca", str(pki.ca_cert)]
    if password:
        key = pki.server_key_encrypted if role == "server" else pki.client_key_encrypted
        args += ["--key-password", pki.password]
    return args + ["--key", str(key)]


def start_server(pki, port, *extra, password=False):
    proc = subprocess.Popen(
        CLI + ["tls-server", str(port), "--once", "--json", *tls_args(pki, "server", password),
               *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Not a port probe: a probe connection would be the one client --once serves. Legacy
    # configurations log a warning line first.
    seen = []
    for _ in range(10):
        line = proc.stderr.readline()
        seen.append(line)
        if line.startswith("listening on") or not line:
            break
    assert seen[-1].startswith("listening on"), "".join(seen)
    return proc


def finish(proc):
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, out, err


def test_certs_pass_openssl_verify(tmp_path):
    require_binary("openssl")
    result = run("certs", str(tmp_path / "pki"))
    assert result.returncode == 0, result.stderr
    d = tmp_path / "pki"
    check = subprocess.run(["openssl", "verify", "-CAfile", str(d / "ca.pem"), str(d / "server.pem"),
                            str(d / "client.pem")], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_echo_session_json_both_sides(pki, port):
    server = start_server(pki, port, "--echo", password=True)
    client = run("tls-client", "127.0.0.1", str(port), "--send", r"hello\r\n", "--json",
                 *tls_args(pki, "client", password=True))
    code, out, err = finish(server)
    assert client.returncode == 0, client.stderr
    assert code == 0, err
    mine, theirs = json.loads(client.stdout), json.loads(out)
    for record in (mine, theirs):
        assert record["protocol"] == "TLSv1.3"
        assert record["cipher_suite"] == "TLS_AES_256_GCM_SHA384"
        assert record["cipher_suite_id"] == 0x1302
        assert record["encryption"] == "AES-256-GCM" and record["encryption_bits"] == 256
        assert record["mac"] == "AEAD" and record["key_exchange"] == "ECDHE"
        assert record["authentication"] == "RSA"
        assert record["received"] == "hello\r\n"
    assert mine["peer_certificate"]["subject"].startswith("CN=localhost")
    assert theirs["peer_certificate"]["subject"].startswith("CN=dicomtls client")


@pytest.mark.parametrize("cipher,version", [
    ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "1.2"),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", "1.0"),
])
def test_pinned_suite_and_version(pki, port, cipher, version):
    pin = ["--cipher", cipher, "--min-version", version, "--max-version", version]
    server = start_server(pki, port, *pin)
    client = run("tls-client", "127.0.0.1", str(port), "--json", "--send", "x",
                 *tls_args(pki, "client"), *pin)
    code, out, err = finish(server)
    assert client.returncode == 0, client.stderr
    record = json.loads(client.stdout)
    assert record["cipher_suite"] == cipher
    assert record["protocol"] == {"1.0": "TLSv1", "1.2": "TLSv1.2"}[version]
    assert json.loads(out)["cipher_suite"] == cipher


def test_client_against_openssl_s_server(pki, port):
    require_binary("openssl")
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.server_cert),
         "-key", str(pki.server_key), "-CAfile", str(pki.ca_cert), "-Verify", "2",
         "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384", "-quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc)
        client = run("tls-client", "127.0.0.1", str(port), "--json", *tls_args(pki, "client"))
    finally:
        proc.kill()
    assert client.returncode == 0, client.stderr
    assert json.loads(client.stdout)["cipher_suite"] == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"


def test_untrusted_server_exits_1_with_one_line(pki, pki_ec, port):
    server = start_server(pki, port)
    client = run("tls-client", "127.0.0.1", str(port), "--cert", str(pki.client_cert),
                 "--key", str(pki.client_key), "--ca", str(pki_ec.ca_cert))
    finish(server)
    assert client.returncode == 1
    lines = client.stderr.strip().splitlines()
    assert len(lines) == 1 and "CertificateVerifyError" in lines[0], client.stderr


def test_wrong_key_password_exits_1(pki, port):
    result = run("tls-client", "127.0.0.1", str(port), "--cert", str(pki.client_cert),
                 "--key", str(pki.client_key_encrypted), "--key-password", "wrong",
                 "--ca", str(pki.ca_cert))
    assert result.returncode == 1
    assert "wrong password" in result.stderr and str(pki.client_key_encrypted) in result.stderr


@pytest.mark.parametrize("args,needle", [
    (["--cipher", "TLS_NO_SUCH_SUITE"], "UnknownCipherSuiteError"),
    (["--cipher", "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"], "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"),
    (["--profile", "basic", "--engine", "libssl"], "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (["--profile", "nonsense"], "UnknownProfileError"),
])
def test_configuration_errors_exit_1(pki, port, args, needle):
    result = run("tls-client", "127.0.0.1", str(port), *tls_args(pki, "client"), *args)
    assert result.returncode == 1
    assert needle in result.stderr


def test_usage_error_exits_2():
    assert run("tls-client").returncode == 2


def test_suites_json_shows_engines():
    result = run("suites", "--json")
    assert result.returncode == 0
    rows = {r["code"]: r for r in json.loads(result.stdout)}
    assert rows[0x000A]["engines"] == ["dicomtls"]  # libssl has no 3DES suites: our engine
    assert rows[0x0009]["legacy"] is True and rows[0x0009]["engines"] == ["dicomtls"]
    assert rows[0xC02F]["engines"] == ["libssl", "dicomtls"]
    assert rows[0xC02B]["engines"] == ["libssl"]    # ECDSA: libssl only
    assert rows[0xC07C]["engines"] == []            # Camellia-GCM: neither
    aes = json.loads(run("suites", "--profile", "aes", "--json").stdout)
    assert [r["name"] for r in aes] == ["TLS_RSA_WITH_AES_128_CBC_SHA",
                                        "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]


def test_keylog_written(pki, port, tmp_path):
    keylog = tmp_path / "keys.log"
    server = start_server(pki, port)
    client = run("tls-client", "127.0.0.1", str(port), "--keylog", str(keylog),
                 *tls_args(pki, "client"))
    finish(server)
    assert client.returncode == 0, client.stderr
    labels = {line.split()[0] for line in keylog.read_text().splitlines()}
    assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"} <= labels


def test_demo_runs(tmp_path):
    result = run("demo", "--mib", "4", "--objects", "3", "--pki-dir", str(tmp_path / "pki"),
                 timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SHA-256 matches" in result.stdout
    import re
    stored = re.search(r"stored (\d+) of (\d+) objects", result.stdout)
    assert stored and stored.group(1) == stored.group(2) and int(stored.group(1)) >= 3
    assert re.search(r"byte check: (\d+) of \1 stored data sets are identical", result.stdout)
    assert "rfc8996      TLSv1.3" in result.stdout
