"""DCMTK 3.6.7 TLS profiles (+py, +px, +pz, +pa, +pb) against our CLI, both roles.

* DCMTK ``echoscu`` / ``storescu`` (SCU) -> our ``dicomtls echo-server`` / ``dicomtls serve``,
  started as subprocesses on 127.0.0.1 with ``--tls --profile P --json --once``, for every DCMTK
  profile that runs on OpenSSL 3 without triple-DES and every matching dicomtls profile, plus our
  default (``rfc8996``). The protocol and suite our server prints must be what DCMTK's ``-d`` log
  reports ("Protocol : ...", "Ciphersuite : ...", OpenSSL names) and what the two profiles imply.
* The 3DES profiles: ``+pb`` (Basic) is not an option in this DCMTK build at all; ``+pa`` (AES:
  AES128-SHA + 3DES) negotiates AES128-SHA over TLS 1.2 with our ``bcp195`` profile (the only one
  keeping TLS_RSA_WITH_AES_128_CBC_SHA) and fails with "no shared cipher" against the others.
* our ``dicomtls echo`` / ``dicomtls store`` (SCU) -> DCMTK ``storescp +px`` (and +py/+pz), in a
  private network namespace with our client (storescp cannot bind loopback only), with TLS 1.2
  pinned on our side (``--max-version 1.2``) as well as unpinned.

DCMTK binaries are called by absolute path (pynetdicom's Python scripts shadow them on PATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scp import safe_filename
from dicomtls.tls.suites import lookup
from test_dcmtk_echo import (STORESCP, dcmtk,
                             storescp_and_our_cli as _storescp_and_our_cli)

pytestmark = pytest.mark.interop

ECHOSCU = "/usr/bin/echoscu"
STORESCU = "/usr/bin/storescu"

T13 = ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
RSA12 = ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")

# (DCMTK option, our server profile) -> (protocol, suite) with the RSA dev PKI. Our server picks
# by its own order. +py/+px offer TLS 1.3 (OpenSSL's default 1.3 suites, AES-256 first); +pz and
# our bcp195-ex are TLS 1.2 only, where both put ECDHE-RSA-AES128-GCM-SHA256 first.
RSA_MATRIX = {
    ("+py", "bcp195-nd"): T13, ("+py", "bcp195"): T13, ("+py", "bcp195-ex"): RSA12,
    ("+py", "rfc8996"): T13,
    ("+px", "bcp195-nd"): T13, ("+px", "bcp195"): T13, ("+px", "bcp195-ex"): RSA12,
    ("+px", "rfc8996"): T13,
    ("+pz", "bcp195-nd"): RSA12, ("+pz", "bcp195"): RSA12, ("+pz", "bcp195-ex"): RSA12,
    ("+pz", "rfc8996"): RSA12,
}
MATCHING = {"+py": "bcp195-nd", "+px": "bcp195", "+pz": "bcp195-ex"}


# ---- our CLI server as a subprocess -------------------------------------------------------------
class CliServer:
    def __init__(self, proc, port, out_dir):
        self.proc, self.port, self.out_dir = proc, port, out_dir
        self.stdout = self.stderr = ""

    def finish(self, timeout=30) -> dict:
        """Wait for the --once server to exit; its one JSON association record."""
        try:
            self.stdout, rest = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.stdout, rest = self.proc.communicate()
        self.stderr += rest
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith("{")]
        assert lines, f"our server printed no JSON record:\n{self.stdout}\n{self.stderr}"
        return json.loads(lines[-1])


@contextmanager
def cli_server(command, pki, profile, tmp_path, *extra):
    """``dicomtls <command> 0 --tls --profile P --json --once`` on 127.0.0.1 (ephemeral port)."""
    out_dir = tmp_path / "ours-out"
    args = [sys.executable, "-m", "dicomtls.cli.main", command, "0", "--bind", "127.0.0.1",
            "--tls", "--cert", str(pki.server_cert), "--key", str(pki.server_key),
            "--ca", str(pki.ca_cert), "--profile", profile, "--json", "--once",
            "--timeout", "20", *extra]
    if command == "serve":
        args += ["--out", str(out_dir)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 20
        port = None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen += line
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            proc.kill()
            raise AssertionError(f"our {command} did not start:\n{seen}{proc.stderr.read()}")
        server = CliServer(proc, port, out_dir)
        server.stderr = seen
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _dcmtk_tls(pki, option):
    return ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca_cert), option]


def _dcmtk_negotiated(log: str):
    """(protocol, OpenSSL suite name) from DCMTK's -d 'TLS CONNECTION DETAILS' block."""
    proto = re.search(r"Protocol\s*:\s*(\S+)", log)
    suite = re.search(r"Ciphersuite\s*:\s*([^,\s]+)", log)
    return (proto.group(1) if proto else None, suite.group(1) if suite else None)


def _check_agreement(record, log, expected):
    session = record["session"]
    assert session is not None, record
    assert (session["protocol"], session["cipher_suite"]) == expected, session
    assert session["peer_authenticated"]
    assert "CN=dicomtls client" in session["peer_certificate"]["subject"]
    assert _dcmtk_negotiated(log) == (expected[0], lookup(expected[1]).openssl_name), log


# ---- DCMTK echoscu -> our echo-server -----------------------------------------------------------
@pytest.mark.parametrize("option,profile", sorted(RSA_MATRIX),
                         ids=[f"{o}-{p}" for o, p in sorted(RSA_MATRIX)])
def test_echoscu_profile_vs_our_echo_server(pki, tmp_path, option, profile):
    dcmtk(ECHOSCU)
    with cli_server("echo-server", pki, profile, tmp_path) as server:
        proc = subprocess.run([ECHOSCU, "-d", *_dcmtk_tls(pki, option), "-aec", "OURSCP",
                               "127.0.0.1", str(server.port)],
                              capture_output=True, text=True, timeout=60)
        record = server.finish()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log + server.stderr
    assert "Received Echo Response (Success)" in log, log
    assert (record["outcome"], record["echoes"], record["calling_ae"]) == \
        ("released", 1, "ECHOSCU"), record
    _check_agreement(record, log, RSA_MATRIX[(option, profile)])


# ---- DCMTK storescu -> our serve ---------------------------------------------------------------
STORE_FILES = ["CT_small.dcm", "JPEG2000.dcm"]


@pytest.mark.parametrize("option,profile",
                         [(o, p) for o, p in MATCHING.items()] +
                         [(o, "rfc8996") for o in MATCHING],
                         ids=[f"{o}-{p}" for o, p in MATCHING.items()] +
                             [f"{o}-rfc8996" for o in MATCHING])
def test_storescu_profile_vs_our_serve(pki, tmp_path, option, profile):
    dcmtk(STORESCU)
    with cli_server("serve", pki, profile, tmp_path) as server:
        # Both files on one association (our server runs --once): storescu -xw proposes JPEG
        # 2000 and the uncompressed syntaxes, so each file goes in its stored syntax.
        proc = subprocess.run([STORESCU, "-d", *_dcmtk_tls(pki, option), "-xw", "-aec", "OURSCP",
                               "127.0.0.1", str(server.port),
                               *[get_testdata_file(n) for n in STORE_FILES]],
                              capture_output=True, text=True, timeout=60)
        record = server.finish()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log + server.stderr
    assert not re.search(r"^[EF]:", log, re.M), log
    assert (record["outcome"], record["stored"], record["failed"]) == \
        ("released", len(STORE_FILES), 0), record
    _check_agreement(record, log, RSA_MATRIX[(option, profile)])
    for name in STORE_FILES:
        src = read_meta(get_testdata_file(name))
        stored = server.out_dir / safe_filename(src.sop_instance_uid)
        a, b = pydicom.dcmread(stored), pydicom.dcmread(src.path)
        for ds in (a, b):
            if 0xFFFCFFFC in ds:
                del ds[0xFFFCFFFC]
        assert a == b, name


# ---- ECDSA certificates: +pz's ECDSA suites ------------------------------------------------------
EC_MATRIX = {
    # Our bcp195-ex order: RSA GCM suites, then ECDSA AES-256 before AES-128 (PS3.15 B.11 order).
    ("+pz", "bcp195-ex"): ("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    ("+pz", "rfc8996"): ("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    ("+py", "rfc8996"): T13,
    ("+py", "bcp195-nd"): T13,  # TLS 1.3 suites do not depend on the certificate type
}


@pytest.mark.parametrize("option,profile", sorted(EC_MATRIX),
                         ids=[f"{o}-{p}" for o, p in sorted(EC_MATRIX)])
def test_echoscu_profile_vs_our_echo_server_ecdsa(pki_ec, tmp_path, option, profile):
    dcmtk(ECHOSCU)
    with cli_server("echo-server", pki_ec, profile, tmp_path) as server:
        proc = subprocess.run([ECHOSCU, "-d", *_dcmtk_tls(pki_ec, option), "127.0.0.1",
                               str(server.port)], capture_output=True, text=True, timeout=60)
        record = server.finish()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log + server.stderr
    assert record["outcome"] == "released" and record["echoes"] == 1, record
    _check_agreement(record, log, EC_MATRIX[(option, profile)])
    assert record["session"]["authentication"] == "ECDSA" or \
        record["session"]["protocol"] == "TLSv1.3"


def test_echoscu_bcp195_nd_vs_our_bcp195_ex_with_ecdsa_has_no_common_suite(pki_ec, tmp_path):
    """+py is TLS 1.2/1.3 with RSA-only GCM suites; bcp195-ex is TLS 1.2 only: with an ECDSA
    server certificate nothing is left, and both sides say so."""
    dcmtk(ECHOSCU)
    with cli_server("echo-server", pki_ec, "bcp195-ex", tmp_path) as server:
        proc = subprocess.run([ECHOSCU, "-d", *_dcmtk_tls(pki_ec, "+py"), "127.0.0.1",
                               str(server.port)], capture_output=True, text=True, timeout=60)
        record = server.finish()
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "handshake failure" in log, log
    assert record["outcome"] == "error" and "no shared cipher" in record["error"], record


# ---- the 3DES profiles ---------------------------------------------------------------------------
def test_dcmtk_367_has_no_basic_profile_option(pki):
    """+pb (PS3.15 B.1, 3DES only) does not exist in this DCMTK build."""
    proc = subprocess.run([dcmtk(ECHOSCU), *_dcmtk_tls(pki, "+pb"), "127.0.0.1", "1"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "Unknown option +pb" in proc.stdout + proc.stderr


@pytest.mark.parametrize("profile", ["bcp195-nd", "bcp195-ex", "rfc8996"])
def test_dcmtk_aes_profile_fails_against_profiles_without_aes_cbc(pki, tmp_path, profile):
    """+pa offers only TLS_RSA_WITH_AES_128_CBC_SHA (+ 3DES, absent from OpenSSL 3's default
    security level): no suite in common with the GCM-only profiles."""
    dcmtk(ECHOSCU)
    with cli_server("echo-server", pki, profile, tmp_path) as server:
        proc = subprocess.run([ECHOSCU, "-d", *_dcmtk_tls(pki, "+pa"), "127.0.0.1",
                               str(server.port)], capture_output=True, text=True, timeout=60)
        record = server.finish()
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "TLS error" in log and "handshake failure" in log, log
    assert record["outcome"] == "error" and record["echoes"] == 0
    assert "no shared cipher" in record["error"], record


def test_dcmtk_aes_profile_negotiates_aes_cbc_with_our_bcp195(pki, tmp_path):
    """Our bcp195 keeps AES128-SHA (for AES-profile peers): +pa gets it, over TLS 1.2, and never
    3DES."""
    dcmtk(ECHOSCU)
    with cli_server("echo-server", pki, "bcp195", tmp_path) as server:
        proc = subprocess.run([ECHOSCU, "-d", *_dcmtk_tls(pki, "+pa"), "127.0.0.1",
                               str(server.port)], capture_output=True, text=True, timeout=60)
        record = server.finish()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log + server.stderr
    assert record["outcome"] == "released"
    _check_agreement(record, log, ("TLSv1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"))
    assert record["session"]["key_exchange"] == "RSA"


@pytest.mark.parametrize("profile", ["aes", "basic"])
def test_dcmtk_aes_profile_vs_our_retired_profiles_on_the_own_engine(pki, tmp_path, profile):
    """Our ``aes`` and ``basic`` profiles name 3DES, which libssl lacks: dicomtls' own engine
    serves them. DCMTK's +pa (AES128-SHA; its OpenSSL drops the 3DES half) gets AES128-SHA from
    our ``aes``; against ``basic`` (3DES only) there is no common suite and both sides say so."""
    dcmtk(ECHOSCU)
    with cli_server("echo-server", pki, profile, tmp_path) as server:
        proc = subprocess.run([ECHOSCU, "-d", *_dcmtk_tls(pki, "+pa"), "127.0.0.1",
                               str(server.port)], capture_output=True, text=True, timeout=60)
        record = server.finish()
    log = proc.stdout + proc.stderr
    if profile == "basic":
        assert proc.returncode != 0 and "handshake failure" in log, log
        assert record["outcome"] == "error" and "no cipher suite in common" in record["error"]
        return
    assert proc.returncode == 0, log + server.stderr
    assert record["outcome"] == "released"
    _check_agreement(record, log, ("TLSv1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"))
    assert record["session"]["engine"] == "dicomtls"


# ---- our echo/store -> DCMTK storescp ------------------------------------------------------------
OUR_STORE_FILES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm"]


def _our_tls(pki, *extra):
    return (f"--tls --cert {pki.client_cert} --key {pki.client_key} --ca {pki.ca_cert} "
            + " ".join(extra))


# (storescp profile, our extra options) -> (protocol, suite). storescp picks TLS 1.2 suites by its
# own preference, strongest first and DHE before ECDHE (checked: our ClientHello lists
# ECDHE-RSA-AES128-GCM-SHA256 first, as the profiles order them), so AES-256 wins on TLS 1.2.
ECDHE256 = ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
DHE256 = ("TLSv1.2", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384")
OUR_SCU_MATRIX = {
    ("+px", ""): T13,
    ("+px", "--max-version 1.2"): ECDHE256,          # rfc8996 offers no DHE
    ("+px", "--profile bcp195 --max-version 1.2"): DHE256,
    ("+py", "--profile bcp195-nd"): T13,
    ("+pz", "--profile bcp195-ex"): DHE256,
    ("+pz", ""): ECDHE256,                           # +pz is TLS 1.2 only
    # dicomtls' own engine as the client: our aes profile (AES128-SHA + 3DES in one hello) and
    # bcp195's TLS 1.2 suites forced onto it.
    ("+pa", "--profile aes"): ("TLSv1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"),
    ("+px", "--profile bcp195 --max-version 1.2 --engine dicomtls"): DHE256,
}


@pytest.mark.parametrize("scp_option,ours", sorted(OUR_SCU_MATRIX),
                         ids=[f"{s}-{o.replace('--', '').replace(' ', '_') or 'default'}"
                              for s, o in sorted(OUR_SCU_MATRIX)])
def test_our_echo_vs_storescp_profile(netns, tmp_path, pki, scp_option, ours):
    dcmtk(STORESCP)
    proc, log, _ = _storescp_and_our_cli(
        netns, tmp_path, f"+tls {pki.server_key} {pki.server_cert} +cf {pki.ca_cert} {scp_option}",
        f"echo 127.0.0.1 PORT --aec STORESCP --aet OURSCU --json --timeout 20 "
        f"{_our_tls(pki, ours)}")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{log}"
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["status"] == 0
    session = record["session"]
    expected = OUR_SCU_MATRIX[(scp_option, ours)]
    assert (session["protocol"], session["cipher_suite"]) == expected, session
    assert session["engine"] == ("dicomtls" if "aes" in ours or "dicomtls" in ours else "libssl")
    assert session["peer_authenticated"] and "CN=localhost" in session["peer_certificate"]["subject"]
    assert "Received Echo Request" in log and not re.search(r"^[EW]:", log, re.M), log
    # storescp -d logs the TLS details of the accepted connection as well.
    assert _dcmtk_negotiated(log) == (expected[0], lookup(expected[1]).openssl_name), log


@pytest.mark.parametrize("ours", ["", "--max-version 1.2"], ids=["default", "tls1.2"])
def test_our_store_vs_storescp_bcp195(netns, tmp_path, pki, ours):
    dcmtk(STORESCP)
    src = tmp_path / "src"
    src.mkdir()
    for name in OUR_STORE_FILES:
        shutil.copy(get_testdata_file(name), src / name)
    proc, log, out = _storescp_and_our_cli(
        netns, tmp_path, f"+tls {pki.server_key} {pki.server_cert} +cf {pki.ca_cert} +px",
        f"store 127.0.0.1 PORT {src} --aec STORESCP --aet OURSCU --json --quiet --timeout 30 "
        f"{_our_tls(pki, ours)}")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{log}"
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (record["sent"], record["failed"]) == (len(OUR_STORE_FILES), 0), record
    expected = ECDHE256 if ours else T13
    assert (record["session"]["protocol"], record["session"]["cipher_suite"]) == expected
    assert not re.search(r"^[EW]:", log, re.M), log
    assert _dcmtk_negotiated(log) == (expected[0], lookup(expected[1]).openssl_name), log
    stored = {read_meta(out / n).sop_instance_uid: read_meta(out / n) for n in os.listdir(out)}
    for name in OUR_STORE_FILES:
        source = read_meta(src / name)
        got = stored[source.sop_instance_uid]
        assert got.transfer_syntax_uid == source.transfer_syntax_uid, name
        assert read_dataset(got) == read_dataset(source), name
