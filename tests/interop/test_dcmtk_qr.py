"""Q/R against DCMTK 3.6.7: findscu (plain and TLS) and getscu (plain: 3.6.7 has no TLS) against
our QRServer; movescu (plain: 3.6.7 movescu has no TLS options) against our ``dicomtls serve
--ae-table`` moving to DCMTK storescp, all inside one private network namespace (storescp cannot
bind loopback only).

DCMTK binaries by absolute path (pynetdicom's Python scripts shadow them on PATH)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.qr.scp import QRServer
from dicomtls.tls.config import TLSConfig
from dicomtls.storage.part10 import read_dataset, read_meta
from test_dcmtk_echo import STORESCP, dcmtk

pytestmark = pytest.mark.interop

FINDSCU, GETSCU, MOVESCU = "/usr/bin/findscu", "/usr/bin/getscu", "/usr/bin/movescu"
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


def _move_sources(src):
    """Study S of CT_small: CT_small, a copy with a new SOP Instance UID and JPEG2000.dcm
    moved into it (as stored: JPEG 2000); MR_small stays out of the move. -> (study, names)."""
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), src / "mr.dcm")
    copy = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = ct.SOPInstanceUID + ".2"
    copy.save_as(src / "ct2.dcm")
    j2k = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    j2k.StudyInstanceUID = ct.StudyInstanceUID
    j2k.PatientID = ct.PatientID
    j2k.save_as(src / "j2k.dcm")
    return str(ct.StudyInstanceUID), ["ct.dcm", "ct2.dcm", "j2k.dcm"]


def test_movescu_to_our_serve_to_storescp(netns, tmp_path):
    """movescu -> our serve (C-MOVE SCP) -> storescp (the move destination STORESCP)."""
    for prog in (MOVESCU, STORESCP):
        dcmtk(prog)
    src, out = tmp_path / "src", tmp_path / "scp-out"
    src.mkdir()
    out.mkdir()
    study, moved = _move_sources(src)
    serve_port, scp_port = 11112, 11113  # the namespace is ours alone
    table = tmp_path / "ae.json"
    table.write_text(json.dumps({"STORESCP": ["127.0.0.1", scp_port]}))
    logs = {n: tmp_path / f"{n}.log" for n in ("storescp", "serve", "serve-err", "movescu")}
    script = textwrap.dedent(f"""\
        ip link set lo up
        wait_port() {{
            needle=$(printf ':%04X 00000000:0000 0A' $1)
            i=0
            while ! grep -q "$needle" /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
                i=$((i+1)); [ $i -gt 200 ] && {{ echo "port $1 did not open" >&2; return 1; }}
                sleep 0.05
            done
        }}
        {STORESCP} -d +B +xa -aet STORESCP -od "$OUT" {scp_port} > "$SCPLOG" 2>&1 &
        scp=$!
        "$PY" -m dicomtls.cli.main serve {serve_port} --out "$SRC" --aet OURQR \
            --ae-table "$TABLE" --json --timeout 30 > "$SERVELOG" 2> "$SERVEERR" &
        serve=$!
        if wait_port {scp_port} && wait_port {serve_port}; then
            {MOVESCU} -v -S -aet MOVESCU -aec OURQR -aem STORESCP \
                -k QueryRetrieveLevel=STUDY -k StudyInstanceUID={study} \
                127.0.0.1 {serve_port} > "$MOVELOG" 2>&1
            rc=$?
        else
            rc=98
        fi
        i=0  # the serve's JSON line follows the release
        while [ ! -s "$SERVELOG" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.05; done
        kill $serve  # (SIGINT is ignored by background jobs of a non-interactive sh)
        wait $serve 2>/dev/null
        kill $scp
        wait $scp 2>/dev/null
        exit $rc
        """)
    env = dict(os.environ, PY=sys.executable, OUT=str(out), SRC=str(src), TABLE=str(table),
               SCPLOG=str(logs["storescp"]), SERVELOG=str(logs["serve"]),
               SERVEERR=str(logs["serve-err"]), MOVELOG=str(logs["movescu"]))
    proc = subprocess.run([*netns, "sh", "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    text = {n: p.read_text() if p.exists() else "" for n, p in logs.items()}
    everything = f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}\n" + \
        "\n".join(f"--- {n}\n{t}" for n, t in text.items())
    assert proc.returncode == 0, everything
    assert not re.search(r"^E:", text["movescu"], re.M), everything
    assert not re.search(r"^[EW]:", text["storescp"], re.M), everything
    assert "Their Implementation Version Name: DICOMTLS_010" in text["storescp"], everything

    # storescp holds exactly the study's objects, same syntax, same data set
    stored = {read_meta(out / n).sop_instance_uid: read_meta(out / n) for n in os.listdir(out)}
    assert len(stored) == len(moved), everything
    for name in moved:
        source = read_meta(src / name)
        got = stored[source.sop_instance_uid]
        assert got.transfer_syntax_uid == source.transfer_syntax_uid, name
        assert read_dataset(got) == read_dataset(source), name
        assert pydicom.dcmread(got.path) == pydicom.dcmread(src / name), name

    # our serve's JSON line for movescu's association reports the move
    records = [json.loads(line) for line in text["serve"].splitlines() if line.strip()]
    mine = [r for r in records if r["calling_ae"] == "MOVESCU"]
    assert len(mine) == 1 and mine[0]["outcome"] == "released", everything
    assert mine[0]["operations"] == [{"service": "move", "status": 0, "destination": "STORESCP",
                                      "completed": len(moved), "failed": 0, "warning": 0}]


# getscu proposes its preferred syntax first in each storage context (and our SCP accepts the
# proposer's first syntax it supports), so one run per compressed syntax.
GETSCU_COMPRESSED = [("JPEG2000.dcm", "+xw"), ("SC_rgb_rle.dcm", "+xr"),
                     ("JPEGLSNearLossless_08.dcm", "+xu"), ("JPGExtended.dcm", "+xx")]


@pytest.mark.parametrize("name,option", GETSCU_COMPRESSED,
                         ids=[n for n, _ in GETSCU_COMPRESSED])
def test_getscu_compressed(tmp_path, name, option):
    dcmtk(GETSCU)
    src, out = tmp_path / "src", tmp_path / "got"
    src.mkdir()
    out.mkdir()
    study = "1.2.826.0.1.3680043.2.1143.78.1"
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.StudyInstanceUID = study  # (some of these files have none)
    ds.save_as(src / name)
    with QRServer(src, timeout=20) as srv:
        proc = subprocess.run([dcmtk(GETSCU), "-v", option, "-S", "-od", str(out), "-k",
                               "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
                               "127.0.0.1", str(srv.port)],
                              capture_output=True, text=True, timeout=60)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert not re.search(r"^E:", log, re.M), log
    got = os.listdir(out)
    assert len(got) == 1, log
    source, received = read_meta(src / name), read_meta(out / got[0])
    assert received.transfer_syntax_uid == source.transfer_syntax_uid, log
    assert pydicom.dcmread(out / got[0]) == pydicom.dcmread(src / name)
