"""Prometheus metrics: counted where things happen (in process, a registry of the test's own)
and served by `dicomtls serve --metrics-port`, one process and several workers, read over
HTTP as Prometheus would scrape them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from pydicom.data import get_testdata_file

import dicomtls
from conftest import free_port, require_module
from dicomtls.io.association_runner import associate
from dicomtls.io.gate import ConnectionLimits
from dicomtls.io.metrics import ServerMetrics, handshake_failure_reason
from dicomtls.io.server import VerificationServer

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def _config(pki, role):
    cert, key = (pki.server_cert, pki.server_key) if role == "server" else \
        (pki.client_cert, pki.client_key)
    return dicomtls.TLSConfig.from_profile(certificate=str(cert), private_key=str(key),
                                           ca_file=str(pki.ca_cert))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    """A CA nobody here trusts, with its own client certificate."""
    from dicomtls.crypto.devpki import create_dev_pki
    return create_dev_pki(tmp_path_factory.mktemp("other-ca"))


def _value(registry, name, **labels):
    value = registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


@pytest.mark.parametrize("text, reason", [
    ("TLS handshake failed: the peer sent alert unknown_ca (48)", "unknown_ca"),
    ("TLS handshake failed: not complete within 10 s", "timeout"),
    ("TLS handshake failed: the peer closed the connection", "closed"),
    ("no data: connection reset ([Errno 104])", "reset"),
    ("TLS handshake failed: peer certificate rejected: expired", "certificate"),
    (None, "other"),
])
def test_handshake_failure_reasons_are_a_small_set(text, reason):
    assert handshake_failure_reason(text) == reason


def test_counted_where_it_happens(pki, other_pki):
    prometheus_client = require_module("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    metrics = ServerMetrics(registry)
    limits = ConnectionLimits(first_byte_timeout=0.5, max_per_peer=3)
    server = VerificationServer(tls_config=_config(pki, "server"), limits=limits, timeout=5,
                                observer=metrics).start()
    try:
        for _ in range(2):
            with associate("127.0.0.1", server.port, tls_config=_config(pki, "client"),
                           timeout=5) as assoc:
                assert assoc.echo() == 0
        with pytest.raises(dicomtls.DicomTLSError):   # a client the server does not trust
            associate("127.0.0.1", server.port, tls_config=_config(other_pki, "client"),
                      timeout=5)
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
        time.sleep(0.2)
        assert _value(registry, "dicomtls_connections_waiting") == 3   # the 4th: over the cap
        assert _value(registry, "dicomtls_connections_refused_total", cap="max-per-peer") == 1
        deadline = time.monotonic() + 5
        while _value(registry, "dicomtls_connections_open") and time.monotonic() < deadline:
            time.sleep(0.05)   # the idle ones run into the first-byte deadline
        for sock in idle:
            sock.close()
    finally:
        server.shutdown(1)
    assert _value(registry, "dicomtls_associations_total", outcome="released") == 2
    assert _value(registry, "dicomtls_associations_total", outcome="error") == 4   # 1 + 3
    # the idle ones: TLS connections that never sent a ClientHello
    assert _value(registry, "dicomtls_handshake_failures_total", reason="timeout") == 3
    assert sum(_value(registry, "dicomtls_handshake_failures_total", reason=r)
               for r in ("certificate", "unknown_ca", "closed", "reset", "other")) == 1
    for gauge in ("dicomtls_connections_open", "dicomtls_connections_waiting",
                  "dicomtls_associations_active"):
        assert _value(registry, gauge) == 0, gauge
    assert _value(registry, "dicomtls_association_seconds_count") == 6


def _scrape(port) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as rsp:
        text = rsp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_metrics_port(tmp_path, workers):
    require_module("prometheus_client")
    metrics_port = free_port()
    proc = subprocess.Popen(CLI + ["serve", "0", "--out", str(tmp_path / "out"), "--workers",
                                   workers, "--metrics-port", str(metrics_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        port = int(line.split("127.0.0.1:")[1].split(",")[0])
        files = [get_testdata_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")]
        for path in files:
            subprocess.run(CLI + ["store", "127.0.0.1", str(port), path, "--quiet"],
                           check=True, timeout=60)
        deadline = time.monotonic() + 10
        while True:
            samples = _scrape(metrics_port)
            stored = samples.get('dicomtls_objects_total{result="stored"}', 0)
            if stored == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert stored == 3, samples
        assert samples['dicomtls_associations_total{outcome="released"}'] == 3
        assert samples["dicomtls_received_bytes_total"] > 0
        assert samples["dicomtls_connections_open"] == 0
        assert samples["dicomtls_associations_active"] == 0
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
