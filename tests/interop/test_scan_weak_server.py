"""A deliberately weak server must be flagged item by item. Two of them, because no single
stack here has all the weaknesses: our own engine's `tls-server` with 3DES only, no
encrypt-then-MAC, TLS 1.0-1.2 and an expired certificate (and no DICOM behind it), and
`openssl s_server` with a 1024-bit DH group."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from conftest import free_port, require_binary, wait_for_port

from dicomtls.crypto.devpki import issue_certificate
from dicomtls.crypto.keys import PrivateKey, load_private_key
from dicomtls.crypto.x509 import load_certificates

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def expired_server_cert(pki, tmp_path):
    """A server certificate from the test CA that expired yesterday, and its key."""
    ca_cert = load_certificates(pki.ca_cert)[0]
    ca_key = load_private_key(pki.ca_key)
    key = PrivateKey.generate("rsa", bits=2048)
    cert = issue_certificate(key, "localhost", issuer=(ca_cert, ca_key),
                             purposes=("serverAuth",), san_dns=("localhost",),
                             san_ip=("127.0.0.1",), not_before=dt.timedelta(days=-400),
                             not_after=dt.timedelta(days=-1))
    cert_path, key_path = tmp_path / "expired.pem", tmp_path / "expired.key"
    cert_path.write_bytes(cert.to_pem())
    key_path.write_bytes(key.export())
    return cert_path, key_path


def scan_json(port, *args):
    proc = subprocess.run([*CLI, "scan", "127.0.0.1", str(port), "--json", "--timeout", "3",
                           *args], capture_output=True, text=True, timeout=240)
    assert proc.returncode in (0, 3), proc.stderr
    return proc, json.loads(proc.stdout)


def findings(doc):
    return {f["id"]: f for f in doc["findings"]}


def test_3des_only_no_etm_expired_certificate(pki, tmp_path):
    cert, key = expired_server_cert(pki, tmp_path)
    port = free_port()
    log = open(tmp_path / "tls-server.log", "wb")
    server = subprocess.Popen(
        CLI + ["tls-server", str(port), "--echo", "--cert", str(cert), "--key", str(key),
               "--peer-cert", "ignore", "--min-version", "1.0", "--max-version", "1.2",
               "--cipher", "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
               "--cipher", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "--no-etm"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, server)
        proc, doc = scan_json(port, "--versions", "1.0-1.2", "--ca", str(pki.ca_cert),
                              "--policy", "basic")
    finally:
        server.kill()
        server.wait(10)
        log.close()
    found = findings(doc)
    assert set(found["sweet32"]["evidence"]) >= {"TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                                                 "TLSv1.2 TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"}
    assert found["sweet32"]["severity"] == "medium"
    assert "TLSv1 TLS_RSA_WITH_3DES_EDE_CBC_SHA" in found["lucky13"]["evidence"]
    assert found["old-versions"]["evidence"] == ["TLSv1", "TLSv1.1"]
    assert found["no-forward-secrecy"]["evidence"][0].endswith("TLS_RSA_WITH_3DES_EDE_CBC_SHA")
    assert found["certificate-expired"]["severity"] == "high"
    assert found["certificate-untrusted"]["severity"] == "high"   # expired: the chain fails
    assert found["dicom"]["evidence"][0].startswith("basic: no_dicom")   # an echo, not DICOM
    assert "client-auth" in found   # --peer-cert ignore
    # The Basic profile's suite is there, but an expired certificate fails every policy.
    verdict = {v["policy"]: v for v in doc["verdicts"]}["basic"]
    assert verdict["result"] == "not_conformant"
    assert [r["code"] for r in verdict["reasons"] if r["severity"] == "fail"] == [
        "certificate-expired"]
    assert proc.returncode == 3


def test_1024_bit_dh_group(pki, tmp_path):
    openssl = require_binary("openssl")
    dh = tmp_path / "dh1024.pem"
    subprocess.run([openssl, "dhparam", "-out", str(dh), "1024"], check=True,
                   capture_output=True, timeout=120)
    port = free_port()
    log = open(tmp_path / "s_server.log", "wb")
    server = subprocess.Popen(
        [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.server_cert),
         "-key", str(pki.server_key), "-dhparam", str(dh), "-tls1_2",
         "-cipher", "DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0", "-rev", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, server)
        _, doc = scan_json(port, "--versions", "1.2", "--no-dicom")
    finally:
        server.kill()
        server.wait(10)
        log.close()
    found = findings(doc)
    assert found["dhe-group-small"]["severity"] == "high"
    assert found["dhe-group-small"]["title"] == "DHE group of 1024 bits"
    assert found["dhe-group-small"]["evidence"] == ["TLSv1.2 TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]
    b11 = {v["policy"]: v for v in doc["verdicts"]}["bcp195-ex"]
    assert "dhe-group-small" in [r["code"] for r in b11["reasons"] if r["severity"] == "fail"]
    assert "sweet32" not in found and "lucky13" not in found
