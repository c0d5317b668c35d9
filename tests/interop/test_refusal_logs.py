"""A refused TLS handshake is logged with who was refused: the peer's address and, when it
presented one, its certificate subject; the cause is said once (issue 8, item 6). Peers: Python's
``ssl`` (OpenSSL) clients against ``dicomtls serve --tls --json`` on both engines."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys

import pytest

from conftest import free_port

pytestmark = pytest.mark.interop

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    from dicomtls.crypto.devpki import create_dev_pki
    return create_dev_pki(tmp_path_factory.mktemp("other-pki"))


def start_serve(pki, tmp_path, *extra):
    port = free_port()
    proc = subprocess.Popen(
        CLI + ["serve", str(port), "--tls", "--json", "--out", str(tmp_path / "out"),
               "--cert", str(pki.server_cert), "--key", str(pki.server_key),
               "--ca", str(pki.ca_cert), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(5):
        if proc.stderr.readline().startswith("serve listening"):
            return proc, port
    proc.kill()
    raise AssertionError("serve did not start")


def python_client(port, ca, cert_pki, version, cipher=None):
    """Handshake (and one write) as an OpenSSL client; returns our local "host:port"."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = version
    ctx.load_verify_locations(str(ca))
    if cert_pki is not None:
        ctx.load_cert_chain(str(cert_pki.client_cert), str(cert_pki.client_key))
    if cipher:
        ctx.set_ciphers(cipher)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        local = "%s:%d" % raw.getsockname()[:2]
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"\x01")  # TLS 1.3: the refusal comes after our Finished
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass
    return local


def next_record(proc) -> dict:
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return json.loads(line)


SETUPS = {
    "libssl-1.3": ([], ssl.TLSVersion.TLSv1_3, None),
    "libssl-1.2": ([], ssl.TLSVersion.TLSv1_2, None),
    "own-1.2": (["--profile", "aes"], ssl.TLSVersion.TLSv1_2, "AES128-SHA"),
}


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_refused_handshakes_name_the_peer(pki, other_pki, tmp_path, setup):
    extra, version, cipher = SETUPS[setup]
    proc, port = start_serve(pki, tmp_path, *extra)
    try:
        # 1. A client certificate from a CA we do not trust: named in the record.
        local = python_client(port, pki.ca_cert, other_pki, version, cipher)
        record = next_record(proc)
        assert record["handshake_failed"] and record["outcome"] == "error"
        assert record["peer"] == local
        assert "CN=dicomtls client" in record["peer_certificate"]
        assert "peer certificate rejected" in record["error"]
        # 2. A client that does not trust us: its alert, the phase said once.
        local = python_client(port, other_pki.ca_cert, pki, version, cipher)
        record = next_record(proc)
        assert record["peer"] == local and record["peer_certificate"] is None
        assert record["error"].count("TLS handshake failed") == 1, record["error"]
        assert "unknown_ca (48)" in record["error"]
        # 3. No client certificate at all.
        local = python_client(port, pki.ca_cert, None, version, cipher)
        record = next_record(proc)
        assert record["peer"] == local and record["peer_certificate"] is None
        assert "no certificate" in record["error"] or "certificate_required" in record["error"]
    finally:
        proc.kill()
        proc.wait()


def test_text_log_line_names_peer_and_certificate(pki, other_pki, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        CLI + ["echo-server", str(port), "--tls", "--cert", str(pki.server_cert),
               "--key", str(pki.server_key), "--ca", str(pki.ca_cert)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().startswith("echo-server listening")
        local = python_client(port, pki.ca_cert, other_pki, ssl.TLSVersion.TLSv1_2)
        line = proc.stdout.readline()
        assert line.startswith(f"TLS connection from {local} (CN=dicomtls client"), line
        assert "TLS handshake failed: peer certificate rejected" in line
    finally:
        proc.kill()
        proc.wait()
