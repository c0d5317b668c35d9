"""C-STORE against DCMTK 3.6.7, plain TCP and TLS, both roles; stored data sets byte-compared.

* DCMTK ``storescu`` (SCU) -> our ``StorageServer`` on 127.0.0.1.
* our ``dicomtls store`` (SCU) -> DCMTK ``storescp +B`` (bit-preserving: it writes the data set
  exactly as received), confined to a private network namespace with our client, as in
  ``test_dcmtk_echo.py`` (storescp 3.6.7 cannot bind loopback only).

DCMTK binaries are called by absolute path (pynetdicom's Python scripts shadow them on PATH).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scp import StorageServer, safe_filename
from dicomtls.tls.config import TLSConfig
from test_dcmtk_echo import (STORESCP, dcmtk,
                             storescp_and_our_cli)

pytestmark = pytest.mark.interop

STORESCU = "/usr/bin/storescu"
DCMFTEST = "/usr/bin/dcmftest"

# (file, storescu transfer syntax option): storescu proposes the file's own syntax with these.
SCU_CASES = [("CT_small.dcm", "-xe"), ("MR_small_implicit.dcm", "-xi"),
             ("JPEG2000.dcm", "-xw"), ("SC_rgb_rle.dcm", "-xr"), ("JPGExtended.dcm", "-xx"),
             ("SC_rgb_jpeg_dcmtk.dcm", "-xy")]
OUR_SCU_FILES = ["CT_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm",
                 "JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm", "ExplVR_BigEnd.dcm", "rtplan.dcm",
                 "JPEGLSNearLossless_08.dcm"]


def _server_tls(pki):
    return TLSConfig.from_profile(certificate=str(pki.server_cert),
                                  private_key=str(pki.server_key), ca_file=str(pki.ca_cert))


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_storescu_to_our_serve(tmp_path, pki, use_tls):
    dcmtk(STORESCU)
    out = tmp_path / "out"
    out.mkdir()
    tls_args = ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca_cert)] \
        if use_tls else []
    with StorageServer(out, tls_config=_server_tls(pki) if use_tls else None,
                       ae_title="OURSCP", timeout=20) as server:
        for name, option in SCU_CASES:
            proc = subprocess.run([STORESCU, "-d", *tls_args, "-R", option, "-aec", "OURSCP",
                                   "127.0.0.1", str(server.port), get_testdata_file(name)],
                                  capture_output=True, text=True, timeout=60)
            log = proc.stdout + proc.stderr
            assert proc.returncode == 0, log
            assert not re.search(r"^[EW]:", log, re.M), log
            assert "I: Received Store Response" in log and "0x0000: Success" in log, log
        server.close()
    assert len(server.results) == len(SCU_CASES)
    assert all((r.outcome, r.stored, r.failed) == ("released", 1, 0) for r in server.results)
    assert all((r.session is not None) == use_tls for r in server.results)
    for name, _ in SCU_CASES:
        src = read_meta(get_testdata_file(name))
        stored_path = out / safe_filename(src.sop_instance_uid)
        stored = read_meta(stored_path)
        assert stored.transfer_syntax_uid == src.transfer_syntax_uid, name
        # storescu re-encodes what it sends from its parsed data set (and drops Data Set Trailing
        # Padding), so compare decoded elements; our side wrote what it received unchanged.
        a, b = pydicom.dcmread(stored_path), pydicom.dcmread(src.path)
        for ds in (a, b):
            if 0xFFFCFFFC in ds:
                del ds[0xFFFCFFFC]
        assert a == b, name
        assert a.file_meta.SourceApplicationEntityTitle == "STORESCU"
        check = subprocess.run([dcmtk(DCMFTEST), str(stored_path)], capture_output=True,
                               text=True)
        assert check.returncode == 0 and check.stdout.startswith("yes"), check.stdout


def _run_storescp_and_our_store(netns, tmp_path, storescp_args, client_args, files):
    src = tmp_path / "src"
    src.mkdir()
    for name in files:
        shutil.copy(get_testdata_file(name), src / name)
    proc, log, out = storescp_and_our_cli(
        netns, tmp_path, storescp_args,
        'store 127.0.0.1 PORT "$SRC" --aec STORESCP --aet OURSCU --json --quiet --timeout 30 '
        + client_args, SRC=src)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}\n{log}"
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (record["sent"], record["failed"]) == (len(files), 0), record
    assert not re.search(r"^[EW]:", log, re.M), log
    assert "Their Implementation Version Name: DICOMTLS_010" in log
    # Every stored file's data set is byte-identical to its source.
    stored = {read_meta(out / n).sop_instance_uid: read_meta(out / n) for n in os.listdir(out)}
    for name in files:
        source = read_meta(src / name)
        got = stored[source.sop_instance_uid]
        assert got.transfer_syntax_uid == source.transfer_syntax_uid, name
        assert read_dataset(got) == read_dataset(source), name
    return record, log


def test_our_store_to_storescp_plain(netns, tmp_path):
    dcmtk(STORESCP)
    record, _ = _run_storescp_and_our_store(netns, tmp_path, "", "", OUR_SCU_FILES)
    assert record["session"] is None


def test_our_store_to_storescp_tls(netns, tmp_path, pki):
    dcmtk(STORESCP)
    record, log = _run_storescp_and_our_store(
        netns, tmp_path, f"+tls {pki.server_key} {pki.server_cert} +cf {pki.ca_cert} +py",
        f"--tls --cert {pki.client_cert} --key {pki.client_key} --ca {pki.ca_cert}",
        OUR_SCU_FILES)
    assert record["session"]["protocol"].startswith("TLSv1.")
    assert record["session"]["peer_authenticated"]
