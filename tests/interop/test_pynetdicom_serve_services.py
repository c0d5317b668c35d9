"""pynetdicom as the SCU of `dicomtls serve --services echo,store,mpps,commitment` (a separate
process on 127.0.0.1), plain TCP and TLS with mutual authentication: C-ECHO and C-STORE, then
MPPS N-CREATE / N-SET (refused once COMPLETED, PS3.4 F.7.2.2.4) and Storage Commitment N-ACTION
answered by an N-EVENT-REPORT on the same association, checked against what was stored (PS3.4
J.3). DCMTK has no MPPS or Storage Commitment SCU: pynetdicom is the real peer here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from pynetdicom_peer import TIMEOUT, evt, make_ae, py_context  # noqa: E402
from pynetdicom.sop_class import (CTImageStorage, ModalityPerformedProcedureStep,  # noqa: E402
                                  StorageCommitmentPushModel, Verification)

pytestmark = pytest.mark.interop

COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"


@contextmanager
def serve(tmp_path, pki, tls: bool, services=None):
    """``dicomtls serve 0 --once --json [--services ...]`` over ``tmp_path/out``: (process,
    port)."""
    args = [sys.executable, "-m", "dicomtls.cli.main", "serve", "0", "--out",
            str(tmp_path / "out"), "--once", "--json", "--timeout", "20", "--aet", "OURSCP"]
    if services is not None:
        args += ["--services", services]
    if tls:
        args += ["--tls", "--cert", str(pki.server_cert), "--key", str(pki.server_key),
                 "--ca", str(pki.ca_cert)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, line + proc.stderr.read()
        assert f"services {services or 'echo,store,qr'}" in line, line
        yield proc, int(m.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _dataset(**attrs) -> Dataset:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _wait(items, deadline):
    while not items and time.monotonic() < deadline:
        time.sleep(0.02)
    return items


@contextmanager
def pynetdicom_scu(port, contexts, **associate_kw):
    """A pynetdicom association proposing ``contexts`` to our AE: released when the block
    ends normally, aborted otherwise (or if the block left it established)."""
    ae = make_ae("PYSCU")
    for sop_class in contexts:
        ae.add_requested_context(sop_class)
    with ExitStack() as cleanup:   # last in, first out: abort what is left, then shut down
        cleanup.callback(ae.shutdown)
        assoc = ae.associate("127.0.0.1", port, ae_title="OURSCP", **associate_kw)
        cleanup.callback(lambda: assoc.is_established and assoc.abort())
        assert assoc.is_established
        yield assoc
        assoc.release()


@pytest.mark.parametrize("mode", ["plain", "tls"])
def test_pynetdicom_scu_vs_serve_mpps_and_commitment(tmp_path, pki, mode):
    tls = mode == "tls"
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    reports = []

    def on_report(event):
        reports.append((event.event_type, event.event_information))
        return 0x0000, None

    uid = "1.2.826.0.1.3680043.9.7701"
    info = _dataset(TransactionUID="1.2.826.0.1.3680043.9.7702", ReferencedSOPSequence=[
        _dataset(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=sop_instance)
        for sop_instance in (ct.SOPInstanceUID, "1.2.826.0.1.3680043.9.7703")])
    with serve(tmp_path, pki, tls, "echo,store,mpps,commitment") as (proc, port):
        with pynetdicom_scu(port, (Verification, CTImageStorage, ModalityPerformedProcedureStep,
                                   StorageCommitmentPushModel),
                            tls_args=(py_context(pki, "client"), "127.0.0.1") if tls else None,
                            evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)]) as assoc:
            assert assoc.send_c_echo().Status == 0x0000
            assert assoc.send_c_store(ct).Status == 0x0000

            status, attrs = assoc.send_n_create(_dataset(
                PerformedProcedureStepStatus="IN PROGRESS", PatientName="Doe^Jane"),
                ModalityPerformedProcedureStep, uid)
            assert status.Status == 0x0000 and attrs.PatientName == "Doe^Jane"
            done = _dataset(PerformedProcedureStepStatus="COMPLETED")
            status, attrs = assoc.send_n_set(done, ModalityPerformedProcedureStep, uid)
            assert (status.Status, attrs.PerformedProcedureStepStatus) == (0, "COMPLETED")
            status, _ = assoc.send_n_set(done, ModalityPerformedProcedureStep, uid)
            assert status.Status == 0x0110 and status.ErrorID == 0xA710

            status, _ = assoc.send_n_action(info, 1, StorageCommitmentPushModel,
                                            COMMITMENT_INSTANCE)
            assert status.Status == 0x0000
            (event_type, report), = _wait(reports, time.monotonic() + TIMEOUT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert event_type == 2 and report.TransactionUID == info.TransactionUID
    assert [r.ReferencedSOPInstanceUID for r in report.ReferencedSOPSequence] == \
        [ct.SOPInstanceUID]
    (failed,) = report.FailedSOPSequence
    assert (failed.ReferencedSOPInstanceUID, failed.FailureReason) == \
        ("1.2.826.0.1.3680043.9.7703", 0x0112)
    mpps = json.loads((tmp_path / "out" / "mpps" / f"{uid}.json").read_text())
    assert Dataset.from_json(mpps).PerformedProcedureStepStatus == "COMPLETED"
    (record,) = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    assert record["outcome"] == "released" and (record["session"] is not None) == tls
    assert (record["echoes"], record["stored"], record["event_statuses"]) == (1, 1, [0])
    assert [(op["service"], op["status"]) for op in record["operations"]] == [
        ("n_create", 0), ("n_set", 0), ("n_set", 0x0110), ("n_action", 0)]


def test_default_serve_does_not_offer_the_n_services(tmp_path, pki):
    """`serve` without --services is Verification + Storage + Q/R: pynetdicom's MPPS context is
    refused, its echo works."""
    with serve(tmp_path, pki, False) as (proc, port):
        with pynetdicom_scu(port, (Verification, ModalityPerformedProcedureStep)) as assoc:
            assert [c.abstract_syntax for c in assoc.rejected_contexts] == \
                [ModalityPerformedProcedureStep]
            assert assoc.send_c_echo().Status == 0x0000
        assert proc.wait(timeout=20) == 0
