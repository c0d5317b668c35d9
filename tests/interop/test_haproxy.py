"""Past one machine: HAProxy (the Debian package) in TCP mode in front of two `dicomtls serve`
instances on loopback, TLS passed through to dicomtls, PROXY protocol v2 from HAProxy so the
servers log and cap the modality's own address. HAProxy connects to the backends from
127.0.0.9 (the only address `serve --proxy-protocol` lists); the SCUs (our `store`, DCMTK
`storescu`) connect from 127.0.0.1, which is what the records must name."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from pydicom.data import get_testdata_file

from conftest import free_port, require_binary, wait_for_port

pytestmark = pytest.mark.interop

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
STORESCU = "/usr/bin/storescu"
HAPROXY_CONFIG = """\
global
    maxconn 512
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend dicom
    bind 127.0.0.1:{front}
    default_backend scps
backend scps
    balance roundrobin
    source 127.0.0.9
    server a 127.0.0.1:{a} send-proxy-v2
    server b 127.0.0.1:{b} send-proxy-v2
"""


def _tls(pki, role):
    cert, key = (pki.server_cert, pki.server_key) if role == "server" else \
        (pki.client_cert, pki.client_key)
    return ["--tls", "--cert", str(cert), "--key", str(key), "--ca", str(pki.ca_cert)]


@pytest.fixture
def balanced(tmp_path, pki):
    """Two TLS `serve` backends behind HAProxy: (front port, [(proc, out dir)])."""
    haproxy = require_binary("haproxy")
    backends = []
    for name in ("a", "b"):
        out = tmp_path / name
        port = free_port()
        proc = subprocess.Popen(
            CLI + ["serve", str(port), "--out", str(out), "--json",
                   "--proxy-protocol", "127.0.0.9", *_tls(pki, "server")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "listening" in proc.stderr.readline()
        backends.append((proc, out, port))
    front = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(front=front, a=backends[0][2], b=backends[1][2]))
    lb = subprocess.Popen([haproxy, "-f", str(config), "-db"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(front, lb)   # through to a backend: it records a connection with no data
        yield front, backends
    finally:
        lb.terminate()
        lb.wait(timeout=10)
        for proc, _, _ in backends:
            proc.terminate()
            proc.wait(timeout=30)


def _records(backends) -> list:
    """Every JSON line the backends wrote, once they have stopped."""
    out = []
    for proc, _, _ in backends:
        proc.terminate()
        stdout, _ = proc.communicate(timeout=30)
        out.append([json.loads(line) for line in stdout.splitlines() if line.startswith("{")])
    return out


def test_our_store_and_storescu_through_haproxy(balanced, pki):
    front, backends = balanced
    files = [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]
    for path in files:   # one association each: round robin puts one on each backend
        subprocess.run(CLI + ["store", "127.0.0.1", str(front), path, "--quiet",
                              *_tls(pki, "client")], check=True, timeout=60)
    proc = subprocess.run([STORESCU, "+tls", str(pki.client_key), str(pki.client_cert),
                           "+cf", str(pki.ca_cert), "127.0.0.1", str(front),
                           get_testdata_file("CT_small.dcm")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    time.sleep(0.2)
    per_backend = _records(backends)
    released = [[r for r in records if r["outcome"] == "released"] for records in per_backend]
    assert all(released), per_backend   # both backends served
    every = [r for records in released for r in records]
    assert len(every) == 3 and sum(r["stored"] for r in every) == 3
    for record in every:
        # the SCU's own address, not HAProxy's 127.0.0.9; TLS ended at dicomtls
        assert record["peer"].startswith("127.0.0.1:"), record
        assert record["session"] is not None and record["peer_certificate"]
    assert {r["calling_ae"].strip() for r in every} >= {"STORESCU"}
