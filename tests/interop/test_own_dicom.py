"""DICOM over dicomtls' own TLS engine, through the command line: `dicomtls echo` and
`dicomtls store` against `dicomtls serve` with the retired PS3.15 profiles that need 3DES
(``basic``, ``aes``) and with single DES named on the command line. Every stored data set is
compared byte for byte with its source.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydicom.data import get_testdata_file

from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scp import safe_filename

pytestmark = pytest.mark.interop

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
SAMPLES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]

CASES = [
    pytest.param(["--profile", "basic"], "TLSv1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", id="basic"),
    pytest.param(["--profile", "aes"], "TLSv1.2", "TLS_RSA_WITH_AES_128_CBC_SHA", id="aes"),
    pytest.param(["--cipher", "TLS_RSA_WITH_DES_CBC_SHA", "--min-version", "1.0"], "TLSv1.1",
                 "TLS_RSA_WITH_DES_CBC_SHA", id="des"),
    pytest.param(["--cipher", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "--min-version", "1.0",
                  "--max-version", "1.0"], "TLSv1", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
                 id="dhe-3des-tls1.0"),
]


def tls(pki, role, extra):
    return ["--tls", "--cert", str(getattr(pki, f"{role}_cert")),
            "--key", str(getattr(pki, f"{role}_key")), "--ca", str(pki.ca_cert), *extra]


def start_serve(pki, out, extra, command="serve"):
    where = ["--out", str(out)] if command == "serve" else []
    serve = subprocess.Popen([*CLI, command, "0", "--bind", "127.0.0.1", *where,
                              "--once", "--json", *tls(pki, "server", extra)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = ""
    while "127.0.0.1:" not in line:
        line = serve.stderr.readline()
        if not line:
            serve.kill()
            raise AssertionError("serve did not start: " + serve.stderr.read())
    return serve, int(line.split("127.0.0.1:")[1].split(",")[0].split()[0])


@pytest.mark.parametrize("extra,version,suite", CASES)
def test_store_over_own_engine(pki, tmp_path, extra, version, suite):
    out = tmp_path / "out"
    src = tmp_path / "src"
    src.mkdir()
    for name in SAMPLES:
        (src / name).write_bytes(open(get_testdata_file(name), "rb").read())
    serve, port = start_serve(pki, out, extra)
    try:
        proc = subprocess.run([*CLI, "store", "127.0.0.1", str(port), str(src), "--json",
                               *tls(pki, "client", extra)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert (record["sent"], record["failed"]) == (len(SAMPLES), 0)
        session = record["session"]
        assert (session["protocol"], session["cipher_suite"], session["engine"]) == (
            version, suite, "dicomtls")
        assert serve.wait(30) == 0
        served = json.loads(serve.stdout.read())
        assert served["stored"] == len(SAMPLES)
    finally:
        serve.kill()
        serve.wait(10)
    for name in SAMPLES:
        meta = read_meta(get_testdata_file(name))
        stored = read_meta(os.path.join(out, safe_filename(meta.sop_instance_uid)))
        assert read_dataset(stored) == read_dataset(meta), name


@pytest.mark.parametrize("extra,version,suite", CASES[:1] + CASES[2:3])
def test_echo_over_own_engine(pki, extra, version, suite):
    serve, port = start_serve(pki, None, extra, command="echo-server")
    try:
        proc = subprocess.run([*CLI, "echo", "127.0.0.1", str(port), *tls(pki, "client", extra)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert suite in proc.stdout + proc.stderr and version in proc.stdout + proc.stderr
        assert serve.wait(30) == 0
    finally:
        serve.kill()
        serve.wait(10)
