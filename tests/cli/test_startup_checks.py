"""Servers and clients with credentials they cannot use stop at start-up: exit 1, one line naming
the file and the cause, no traceback, nothing bound (issue 8, item 1)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def broken(pki, tmp_path, case, role):
    """(TLS options, words the error line must contain) for one broken configuration."""
    cert = pki.server_cert if role == "server" else pki.client_cert
    key = pki.server_key if role == "server" else pki.client_key
    enc = pki.server_key_encrypted if role == "server" else pki.client_key_encrypted
    other = pki.client_key if role == "server" else pki.server_key
    garbled = tmp_path / "bundle.pem"
    garbled.write_bytes(pki.ca_cert.read_bytes()
                        + b"-----BEGIN CERTIFICATE-----\nAAAA!!\n-----END CERTIFICATE-----\n")
    base = ["--cert", str(cert), "--ca", str(pki.ca_cert)]
    return {
        "wrong-password": (base + ["--key", str(enc), "--key-password", "wrong"],
                           ["KeyPasswordError", "wrong password", str(enc)]),
        "missing-key": (base + ["--key", str(tmp_path / "absent.key")],
                        ["no such file", "absent.key"]),
        "mismatch": (base + ["--key", str(other)], ["KeyMismatchError", str(other)]),
        "garbled-ca": (["--cert", str(cert), "--key", str(key), "--ca", str(garbled)],
                       ["CertificateLoadError", str(garbled), "certificate 2 (line"]),
        "no-ca": (["--cert", str(cert), "--key", str(key), "--peer-cert", "require"],
                  ["needs trusted certificates", "--ca"]),
    }[case]


CASES = ["wrong-password", "missing-key", "mismatch", "garbled-ca", "no-ca"]


def bound(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_one_line_failure(proc, words, seconds):
    assert proc.returncode == 1, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if not l.startswith("WARNING")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "listening" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert seconds < 5  # a second or less here; the bound is for a loaded CI machine


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", [
    ["tls-server"], ["serve", "--tls", "--out", "{out}"], ["echo-server", "--tls"],
    ["tls-server", "--profile", "basic"],  # the own engine's loader
])
def test_server_with_unusable_credentials_does_not_start(pki, tmp_path, port, case, command):
    options, words = broken(pki, tmp_path, case, "server")
    command = [c.replace("{out}", str(tmp_path / "out")) for c in command]
    started = time.monotonic()
    proc = subprocess.run(CLI + command[:1] + [str(port)] + command[1:] + options,
                          capture_output=True, text=True, timeout=30)
    assert_one_line_failure(proc, words, time.monotonic() - started)
    assert not bound(port)


@pytest.mark.parametrize("case", ["wrong-password", "mismatch", "garbled-ca"])
@pytest.mark.parametrize("command", [["echo", "--tls"], ["tls-client"]])
def test_client_with_unusable_credentials_does_not_connect(pki, tmp_path, case, command):
    options, words = broken(pki, tmp_path, case, "client")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.3)
    with listener:
        port = listener.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.run(CLI + command[:1] + ["127.0.0.1", str(port)] + command[1:]
                              + options, capture_output=True, text=True, timeout=30)
        assert_one_line_failure(proc, words, time.monotonic() - started)
        with pytest.raises(socket.timeout):
            listener.accept()  # the client never connected


def test_check_tls_command(pki, tmp_path):
    ok = subprocess.run(CLI + ["check-tls", "--cert", str(pki.server_cert), "--key",
                               str(pki.server_key_encrypted), "--key-password", pki.password,
                               "--ca", str(pki.ca_cert)], capture_output=True, text=True,
                        timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert "usable on engine libssl" in ok.stdout and "1 trusted CA" in ok.stdout
    options, words = broken(pki, tmp_path, "mismatch", "client")
    bad = subprocess.run(CLI + ["check-tls", "--role", "client"] + options,
                         capture_output=True, text=True, timeout=30)
    assert_one_line_failure(bad, words, 0)
