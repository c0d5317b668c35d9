"""Our Q/R SCU against our Q/R SCP (QRServer), over TLS and plain: find, move, get, cancel, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.qr import scu
from dicomtls.qr.index import StorageIndex
from dicomtls.qr.scp import QRServer
from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scu import store
from dicomtls.tls.config import TLSConfig

FILES = [get_testdata_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")]
CT = pydicom.dcmread(FILES[0])


@pytest.fixture(scope="module")
def qr_cert(pki, tmp_path_factory):
    """A server certificate that may also act as a TLS client (serverAuth + clientAuth): the
    C-MOVE SCP opens its sub-association with the same TLS settings (and identity)."""
    from dicomtls.crypto.devpki import issue_certificate
    from dicomtls.crypto.keys import load_private_key
    from dicomtls.crypto.x509 import load_certificates
    d = tmp_path_factory.mktemp("qr-cert")
    ca = (load_certificates(pki.ca_cert)[0], load_private_key(pki.ca_key))
    key = load_private_key(pki.server_key)
    cert = issue_certificate(key, "localhost", issuer=ca, purposes=("serverAuth", "clientAuth"),
                             san_dns=("localhost",), san_ip=("127.0.0.1",))
    (d / "qr.pem").write_bytes(cert.to_pem())
    return d / "qr.pem", pki.server_key


def _tls(pki, side, qr_cert=None):
    cert, key = (pki.server_cert, pki.server_key) if side == "server" else \
        (pki.client_cert, pki.client_key)
    if qr_cert is not None:
        cert, key = qr_cert
    return TLSConfig.from_profile(certificate=str(cert), private_key=str(key),
                                  ca_file=str(pki.ca_cert))


@pytest.fixture(params=["plain", "tls"])
def servers(request, tmp_path, pki, qr_cert):
    tls = request.param == "tls"
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    with QRServer(dst, tls_config=_tls(pki, "server") if tls else None, timeout=20) as dest, \
            QRServer(src, tls_config=_tls(pki, "server", qr_cert) if tls else None, timeout=20,
                     ae_table={"DEST": ("127.0.0.1", dest.port)}) as server:
        kw = {"tls_config": _tls(pki, "client") if tls else None, "timeout": 20}
        summary = store("127.0.0.1", server.port, FILES, **kw)
        assert summary.sent == 3
        yield server, dest, kw, src, dst


def test_find_move_get(servers, tmp_path):
    server, dest, kw, src, dst = servers
    res = scu.find("127.0.0.1", server.port, ["QueryRetrieveLevel=STUDY", "StudyInstanceUID",
                                              "PatientID", "ModalitiesInStudy"], **kw)
    assert res.status == 0 and len(res.matches) == 3
    assert (res.session is not None) == (kw["tls_config"] is not None)
    res = scu.find("127.0.0.1", server.port, ["QueryRetrieveLevel=IMAGE",
                                              f"StudyInstanceUID={CT.StudyInstanceUID}",
                                              "SOPInstanceUID"], model="patient", **kw)
    assert [m.SOPInstanceUID for m in res.matches] == [CT.SOPInstanceUID]

    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={CT.StudyInstanceUID}"]
    res = scu.move("127.0.0.1", server.port, "DEST", keys, **kw)
    assert (res.status, res.completed, res.failed) == (0, 1, 0)
    moved = dst / f"{CT.SOPInstanceUID}.dcm"
    assert read_dataset(read_meta(moved)) == read_dataset(read_meta(FILES[0]))
    # the destination saw a TLS sub-association exactly when the move was asked over TLS (its
    # result is recorded once its thread has closed the connection: wait for it, bounded)
    deadline = time.monotonic() + 10
    while not any(r.stored for r in dest.results) and time.monotonic() < deadline:
        time.sleep(0.02)
    sub = [r for r in dest.results if r.stored]
    assert len(sub) == 1 and (sub[0].session is not None) == (kw["tls_config"] is not None)

    res = scu.move("127.0.0.1", server.port, "NOWHERE", keys, **kw)
    assert res.status == 0xA801

    out = tmp_path / "got"
    res = scu.get("127.0.0.1", server.port, out, ["QueryRetrieveLevel=STUDY", "StudyInstanceUID="
                  + "\\".join(str(pydicom.dcmread(f).StudyInstanceUID) for f in FILES)], **kw)
    assert (res.status, res.completed, res.failed) == (0, 3, 0)
    # (file names come from the data set's SOP Instance UID, as the C-STORE-RQ names them)
    assert sorted(os.listdir(out)) == sorted(f"{read_meta(f).sop_instance_uid}.dcm"
                                             for f in FILES)
    for f in FILES:
        got = out / f"{read_meta(f).sop_instance_uid}.dcm"
        assert pydicom.dcmread(got) == pydicom.dcmread(f)  # some went Implicit -> Explicit


class _SlowIndex(StorageIndex):
    def find(self, identifier, model="study"):
        for match in super().find(identifier, model):
            yield match
            time.sleep(0.05)


def test_cancel_during_find(tmp_path):
    for i in range(30):  # 30 studies: copies of one file with new UIDs
        ds = pydicom.dcmread(FILES[0])
        ds.StudyInstanceUID = f"1.2.3.{i + 1}"
        ds.SOPInstanceUID = f"1.2.3.{i + 1}.1"
        ds.save_as(tmp_path / f"{i}.dcm")
    with QRServer(tmp_path, index=_SlowIndex(tmp_path), timeout=20) as server:
        res = scu.find("127.0.0.1", server.port, ["QueryRetrieveLevel=STUDY",
                                                  "StudyInstanceUID"], max_results=2)
        assert res.status == 0xFE00
        assert 2 <= len(res.matches) < 30
        # the association goes on after the cancel
        assert scu.find("127.0.0.1", server.port, ["QueryRetrieveLevel=STUDY"]).status == 0
    assert all(r.outcome == "released" for r in server.results)


def test_cli_find_and_get(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for f in FILES:
        (src / os.path.basename(f)).write_bytes(open(f, "rb").read())
    with QRServer(src, timeout=20) as server:
        cmd = [sys.executable, "-m", "dicomtls.cli.main"]
        out = subprocess.run(cmd + ["find", "127.0.0.1", str(server.port), "-k",
                                    "QueryRetrieveLevel=STUDY", "-k", "PatientName=*CT*", "-k",
                                    "StudyInstanceUID", "--json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        record = json.loads(out.stdout)
        assert [m["StudyInstanceUID"] for m in record["matches"]] == [CT.StudyInstanceUID]
        got = tmp_path / "got"
        out = subprocess.run(cmd + ["get", "127.0.0.1", str(server.port), "--out", str(got),
                                    "-k", "QueryRetrieveLevel=STUDY", "-k",
                                    f"StudyInstanceUID={CT.StudyInstanceUID}"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert os.listdir(got) == [f"{CT.SOPInstanceUID}.dcm"]


COMPRESSED = ("JPEG2000.dcm", "SC_rgb_rle.dcm", "JPEGLSNearLossless_08.dcm", "JPGExtended.dcm")


def compressed_study(src, study="1.2.826.0.1.3680043.2.1143.77.1"):
    """The compressed test files as one study (some have no Study Instance UID), each with its
    own SOP Instance UID; their transfer syntaxes unchanged. -> [paths]."""
    paths = []
    for i, name in enumerate(COMPRESSED):
        ds = pydicom.dcmread(get_testdata_file(name))
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = study + ".1"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{study}.1.{i + 1}"
        ds.PatientID = "COMPRESSED"
        ds.save_as(src / name)
        paths.append(src / name)
    return paths


def test_get_plans_compressed_contexts():
    contexts = scu.plan_get_contexts(scu.get_storage_classes(), scu._default_compressed())
    assert len(contexts) + 1 <= 128
    sc = str(pydicom.uid.SecondaryCaptureImageStorage)
    assert {ts for uid, tss in contexts if uid == sc for ts in tss} >= \
        set(scu.GET_COMPRESSED_SYNTAXES) | set(scu.GET_TRANSFER_SYNTAXES)
    # caller's classes: compressed contexts for as many as fit, every class uncompressed
    many = scu.get_storage_classes()
    contexts = scu.plan_get_contexts(many)
    assert len(contexts) <= 127 and {uid for uid, _ in contexts} == set(many)
    with pytest.raises(ValueError):
        scu.plan_get_contexts([f"1.2.3.{i}" for i in range(128)])


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_get_compressed(tmp_path, pki, use_tls):
    src = tmp_path / "src"
    src.mkdir()
    paths = compressed_study(src)
    kw = {"tls_config": _tls(pki, "client") if use_tls else None, "timeout": 20}
    with QRServer(src, tls_config=_tls(pki, "server") if use_tls else None,
                  timeout=20) as server:
        out = tmp_path / "got"
        res = scu.get("127.0.0.1", server.port, out, [
            "QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.826.0.1.3680043.2.1143.77.1"],
            **kw)
    assert (res.status, res.completed, res.failed) == (0, len(paths), 0), res.to_dict()
    for path in paths:
        source = read_meta(path)
        got = read_meta(out / f"{source.sop_instance_uid}.dcm")
        assert got.transfer_syntax_uid == source.transfer_syntax_uid, path.name
        assert read_dataset(got) == read_dataset(source), path.name  # byte-identical


class _SlowRecords(list):
    """Retrieve records whose iteration (one item per sub-operation) takes a while."""

    def __iter__(self):
        for rec in super().__iter__():
            yield rec
            time.sleep(0.05)


class _SlowRetrieveIndex(StorageIndex):
    def retrieve(self, identifier, model="study"):
        return _SlowRecords(super().retrieve(identifier, model))


def _one_study(src, n=20, study="1.2.3.99"):
    """``n`` copies of CT_small in one study (new SOP Instance UIDs)."""
    for i in range(n):
        ds = pydicom.dcmread(FILES[0])
        ds.StudyInstanceUID = study
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{study}.1.{i + 1}"
        ds.save_as(src / f"{i}.dcm")
    return ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}"]


@pytest.mark.parametrize("service", ["move", "get"])
def test_cancel_between_suboperations(tmp_path, service):
    src, dst, got = tmp_path / "src", tmp_path / "dst", tmp_path / "got"
    src.mkdir()
    dst.mkdir()
    keys = _one_study(src)
    with QRServer(dst, timeout=20) as dest, \
            QRServer(src, index=_SlowRetrieveIndex(src), timeout=20,
                     ae_table={"DEST": ("127.0.0.1", dest.port)}) as server:
        if service == "move":
            res = scu.move("127.0.0.1", server.port, "DEST", keys, cancel_after=1, timeout=20)
            received = os.listdir(dst)
        else:
            res = scu.get("127.0.0.1", server.port, got, keys, cancel_after=1, timeout=20)
            received = os.listdir(got)
        assert res.status == 0xFE00, res.to_dict()
        assert 1 <= res.completed < 20 and res.failed == 0, res.to_dict()
        assert len(received) == res.completed
        # the not-done instances are listed as failed (PS3.4 C.4.2.1.4: Failed SOP Instance
        # UID List with a Cancel status)
        assert len(res.failed_uids) == 20 - res.completed
        if service == "get":
            assert len(res.stored) == res.completed
        # the server goes on after the cancel
        assert scu.find("127.0.0.1", server.port, ["QueryRetrieveLevel=STUDY"],
                        timeout=20).status == 0
        server.close()
    assert all(r.outcome == "released" for r in server.results)
    ops = [op for r in server.results for op in r.operations if op["service"] == service]
    assert ops == [{"service": service, "status": 0xFE00, "completed": res.completed,
                    "failed": 0, "warning": 0, **({"destination": "DEST"}
                                                   if service == "move" else {})}]


@pytest.mark.parametrize("service", ["move", "get"])
def test_cli_cancel_after(tmp_path, service):
    """``dicomtls move/get --cancel-after N``: C-CANCEL after N Pending responses; the SCP
    stops between sub-operations, answers 0xFE00 (exit status 0) and counts the operation in
    its one-line summary."""
    src, dst, got = tmp_path / "src", tmp_path / "dst", tmp_path / "got"
    src.mkdir()
    dst.mkdir()
    keys = _one_study(src)
    cmd = [sys.executable, "-m", "dicomtls.cli.main", service]
    with QRServer(dst, timeout=20) as dest, \
            QRServer(src, index=_SlowRetrieveIndex(src), timeout=20,
                     ae_table={"DEST": ("127.0.0.1", dest.port)}) as server:
        where = ["--dest", "DEST"] if service == "move" else ["--out", str(got)]
        args = ["127.0.0.1", str(server.port), *where, "--json"]
        for k in keys:
            args += ["-k", k]
        out = subprocess.run(cmd + args + ["--cancel-after", "2"], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        record = json.loads(out.stdout)
        assert record["status"] == 0xFE00 and 2 <= record["completed"] < 20, record
        assert len(record["failed_uids"]) == 20 - record["completed"]
        received = os.listdir(dst if service == "move" else got)
        assert len(received) == record["completed"]
        bad = subprocess.run(cmd + args + ["--cancel-after", "0"], capture_output=True,
                             text=True, timeout=60)
        assert bad.returncode == 2 and "--cancel-after" in bad.stderr
        bad = subprocess.run(cmd + args + ["-k", "NoSuchKeyword=1"], capture_output=True,
                             text=True, timeout=60)
        assert bad.returncode == 2 and "NoSuchKeyword" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
        server.close()
    (served,) = server.results
    assert served.operations[0]["status"] == 0xFE00
    line = served.summary()
    assert f"C-{service.upper()}" in line and "status 0xFE00" in line
    assert "0 objects received" not in line
