"""Q/R against DCMTK 3.6.7: findscu (plain and TLS) and getscu (plain: 3.6.7 has no TLS) against
our QRServer.

DCMTK binaries by absolute path (pynetdicom's Python scripts shadow them on PATH)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.qr.scp import QRServer
from dicomtls.tls.config import TLSConfig
from test_dcmtk_echo import dcmtk

pytestmark = pytest.mark.interop

FINDSCU, GETSCU = "/usr/bin/findscu", "/usr/bin/getscu"
FILES = ("CT_small.dcm", "MR_small.dcm")


def _args(pki, use_tls):
    return ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca_cert)] \
        if use_tls else []


@pytest.fixture
def server(tmp_path, pki, request):
    src = tmp_path / "src"
    src.mkdir()
    for name in FILES:
        shutil.copy(get_testdata_file(name), src / name)
    tls = TLSConfig.from_profile(certificate=str(pki.server_cert),
                                 private_key=str(pki.server_key), ca_file=str(pki.ca_cert)) \
        if request.param == "tls" else None
    with QRServer(src, tls_config=tls, timeout=20) as srv:
        yield srv, request.param == "tls"


@pytest.mark.parametrize("server", ["plain", "tls"], indirect=True)
def test_findscu(server, pki):
    srv, use_tls = server
    proc = subprocess.run([dcmtk(FINDSCU), "-v", *_args(pki, use_tls), "-S", "-k",
                           "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k",
                           "PatientName", "127.0.0.1", str(srv.port)],
                          capture_output=True, text=True, timeout=60)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert not re.search(r"^[EW]:", log, re.M), log
    for name in FILES:
        assert str(pydicom.dcmread(get_testdata_file(name)).StudyInstanceUID) in log, log


# getscu 3.6.7 has no TLS options ("Unknown option +tls"): plain only.
@pytest.mark.parametrize("server", ["plain"], indirect=True)
def test_getscu(server, pki, tmp_path):
    srv, use_tls = server
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    out = tmp_path / "got"
    out.mkdir()
    proc = subprocess.run([dcmtk(GETSCU), "-v", *_args(pki, use_tls), "-S", "-od", str(out),
                           "-k", "QueryRetrieveLevel=STUDY", "-k",
                           f"StudyInstanceUID={ct.StudyInstanceUID}", "127.0.0.1", str(srv.port)],
                          capture_output=True, text=True, timeout=60)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert not re.search(r"^E:", log, re.M), log
    got = os.listdir(out)
    assert len(got) == 1, log
    assert pydicom.dcmread(out / got[0]) == pydicom.dcmread(get_testdata_file("CT_small.dcm"))
