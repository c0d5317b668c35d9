"""The product N-services against our SCU, plain TCP and TLS: Modality Performed Procedure Step
(PS3.4 F.7: N-CREATE, N-SET only while IN PROGRESS, instances as DICOM JSON) and Storage
Commitment Push Model (PS3.4 J.3: N-ACTION, then the result as an N-EVENT-REPORT on the same
association, checked against what the storage service holds)."""

from __future__ import annotations

import json
import os
import time
from functools import partial

import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dicomtls.io.association_runner import associate
from dicomtls.io.server import AssociationServer
from dicomtls.io.services import VerificationService
from dicomtls.nservices import (MPPS_SOP_CLASS, STORAGE_COMMITMENT_SOP_CLASS, MPPSService,
                                NServiceClient, NServices, StorageCommitmentService,
                                decode_dataset, encode_dataset)
from dicomtls.nservices.commitment import STORAGE_COMMITMENT_INSTANCE
from dicomtls.qr.index import StorageIndex
from dicomtls.storage.part10 import read_meta
from dicomtls.storage.scp import StorageService
from dicomtls.storage.scu import store

from test_nservices import _config  # this directory is on sys.path

TIMEOUT = 10
CT = "1.2.840.10008.5.1.4.1.1.2"   # CT Image Storage; MR_small.dcm is an MR image


@pytest.fixture(params=["plain", "tls"])
def served(request, tmp_path, pki):
    """Verification + Storage + MPPS + Storage Commitment over ``tmp_path/out``."""
    tls = request.param == "tls"
    out = tmp_path / "out"
    out.mkdir()
    handlers = {MPPS_SOP_CLASS: MPPSService(out / "mpps"),
                STORAGE_COMMITMENT_SOP_CLASS: StorageCommitmentService(StorageIndex(out),
                                                                       retrieve_ae="NSCP")}
    services = (VerificationService, partial(StorageService, out), partial(NServices, handlers))
    with AssociationServer(services=services, ae_title="NSCP", timeout=TIMEOUT,
                           tls_config=_config(pki, "server") if tls else None) as server:
        yield server, out, {"tls_config": _config(pki, "client") if tls else None,
                            "called_ae": "NSCP", "timeout": TIMEOUT}


def _results(server, n=1):
    deadline = time.monotonic() + TIMEOUT
    while len(server.results) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.results)


def _step(status: str, **attrs) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def test_mpps_create_set_and_the_rules(served):
    server, out, kw = served
    uid = "1.2.826.0.1.3680043.9.7001"
    with associate("127.0.0.1", server.port, contexts=[MPPS_SOP_CLASS], **kw) as assoc:
        client = NServiceClient(assoc)
        ts = client.transfer_syntax(MPPS_SOP_CLASS)
        status, got, data = client.n_create(MPPS_SOP_CLASS, uid, encode_dataset(
            _step("IN PROGRESS", PatientName="Doe^Jane", PerformedProcedureStepID="PPS1"), ts))
        assert (status, got) == (0x0000, uid)
        assert decode_dataset(data, ts).PatientName == "Doe^Jane"
        # the same instance again: Duplicate SOP Instance; not IN PROGRESS: Invalid Attribute
        assert client.n_create(MPPS_SOP_CLASS, uid, encode_dataset(_step("IN PROGRESS"), ts))[0] \
            == 0x0111
        assert client.n_create(MPPS_SOP_CLASS, "1.2.3.4.5", encode_dataset(
            _step("COMPLETED"), ts))[0] == 0x0106
        assert "IN PROGRESS" in client.last_response.error_comment
        # no instance UID from the SCU: the SCP makes one
        status, made, _ = client.n_create(MPPS_SOP_CLASS, None,
                                          encode_dataset(_step("IN PROGRESS"), ts))
        assert status == 0x0000 and made and made != uid

        status, data = client.n_set(MPPS_SOP_CLASS, uid, encode_dataset(
            _step("IN PROGRESS", PerformedProcedureStepDescription="half way"), ts))
        assert status == 0x0000
        assert decode_dataset(data, ts).PerformedProcedureStepDescription == "half way"
        assert client.n_set(MPPS_SOP_CLASS, uid, encode_dataset(_step("PAUSED"), ts))[0] \
            == 0x0106
        assert client.n_set(MPPS_SOP_CLASS, uid, encode_dataset(_step("COMPLETED"), ts))[0] \
            == 0x0000
        # COMPLETED is final: PS3.4 F.7.2.2.4 Processing failure, Error ID A710
        status, _ = client.n_set(MPPS_SOP_CLASS, uid, encode_dataset(
            _step("IN PROGRESS", PerformedProcedureStepDescription="again"), ts))
        assert status == 0x0110
        assert client.last_response.error_id == 0xA710
        assert client.last_response.error_comment == \
            "Performed Procedure Step Object may no longer be updated"
        assert client.n_set(MPPS_SOP_CLASS, "1.2.3.9", encode_dataset(_step("COMPLETED"),
                                                                      ts))[0] == 0x0112
        # not operations of the MPPS SOP class
        assert client.n_get(MPPS_SOP_CLASS, uid)[0] == 0x0211
        assert client.n_delete(MPPS_SOP_CLASS, uid) == 0x0211
    stored = Dataset.from_json(json.loads((out / "mpps" / f"{uid}.json").read_text()))
    assert stored.PerformedProcedureStepStatus == "COMPLETED"
    assert stored.PerformedProcedureStepDescription == "half way" and stored.PatientName == \
        "Doe^Jane"
    assert (stored.SOPClassUID, stored.SOPInstanceUID) == (MPPS_SOP_CLASS, uid)
    assert sorted(os.listdir(out / "mpps")) == sorted([f"{uid}.json", f"{made}.json"])
    (result,) = _results(server)
    assert result.outcome == "released"
    assert "4 N-CREATE (2 failed), 5 N-SET (3 failed), 1 N-GET (1 failed), 1 N-DELETE " \
        "(1 failed)" in result.summary()


def _commit_request(transaction: str, refs) -> Dataset:
    info = Dataset()
    info.TransactionUID = transaction
    info.ReferencedSOPSequence = []
    for sop_class, sop_instance in refs:
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = sop_class, sop_instance
        info.ReferencedSOPSequence.append(ref)
    return info


def _refs(report, keyword):
    return [(str(r.ReferencedSOPInstanceUID), int(r.get("FailureReason", 0)))
            for r in report.get(keyword, [])]


def test_storage_commitment_reports_what_the_storage_holds(served):
    server, out, kw = served
    files = [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")]
    assert store("127.0.0.1", server.port, files, **kw).sent == 2
    held = [(m.sop_class_uid, m.sop_instance_uid) for m in map(read_meta, files)]
    uids = [uid for _, uid in held]
    with associate("127.0.0.1", server.port, contexts=[STORAGE_COMMITMENT_SOP_CLASS],
                   **kw) as assoc:
        client = NServiceClient(assoc)
        ts = client.transfer_syntax(STORAGE_COMMITMENT_SOP_CLASS)
        # all held: event type 1
        status, _ = client.n_action(STORAGE_COMMITMENT_SOP_CLASS, STORAGE_COMMITMENT_INSTANCE,
                                    1, encode_dataset(_commit_request("1.2.3.100", held), ts))
        assert status == 0x0000
        rq, data = client.wait_event_report()
        report = decode_dataset(data, ts)
        assert (rq.event_type_id, rq.affected_sop_instance_uid) == (1,
                                                                    STORAGE_COMMITMENT_INSTANCE)
        assert report.TransactionUID == "1.2.3.100" and report.RetrieveAETitle == "NSCP"
        assert _refs(report, "ReferencedSOPSequence") == [(u, 0) for u in uids]
        assert "FailedSOPSequence" not in report
        # one missing, one named with another class: event type 2 with the reasons
        status, _ = client.n_action(STORAGE_COMMITMENT_SOP_CLASS, STORAGE_COMMITMENT_INSTANCE,
                                    1, encode_dataset(_commit_request("1.2.3.101", [
                                        held[0], (CT, "1.2.3.404"), (CT, uids[1])]), ts))
        assert status == 0x0000
        rq, data = client.wait_event_report()
        report = decode_dataset(data, ts)
        assert rq.event_type_id == 2 and report.TransactionUID == "1.2.3.101"
        assert _refs(report, "ReferencedSOPSequence") == [(uids[0], 0)]
        assert _refs(report, "FailedSOPSequence") == [("1.2.3.404", 0x0112), (uids[1], 0x0119)]
        # refusals of the request itself: no event follows them
        assert client.n_action(STORAGE_COMMITMENT_SOP_CLASS, STORAGE_COMMITMENT_INSTANCE, 2,
                               encode_dataset(_commit_request("1.2.3.102", []), ts))[0] == 0x0123
        assert client.n_action(STORAGE_COMMITMENT_SOP_CLASS, "1.2.3.4", 1,
                               encode_dataset(_commit_request("1.2.3.103", []), ts))[0] == 0x0112
        no_refs = Dataset()
        no_refs.TransactionUID = "1.2.3.104"
        assert client.n_action(STORAGE_COMMITMENT_SOP_CLASS, STORAGE_COMMITMENT_INSTANCE, 1,
                               encode_dataset(no_refs, ts))[0] == 0x0120
        assert "ReferencedSOPSequence" in client.last_response.error_comment
        assert len(client.events) == 2
    results = _results(server, 2)
    assert results[-1].outcome == "released" and results[-1].event_statuses == [0, 0]
    assert "5 N-ACTION (3 failed), 2 N-EVENT-REPORT" in results[-1].summary()
