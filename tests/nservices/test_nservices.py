"""DIMSE-N, our SCU against our SCP over TLS (mutual authentication) and plain TCP: every
N-service, N-EVENT-REPORT from the SCP on the same association, and the error statuses."""

from __future__ import annotations

import time

import pytest
from pydicom.dataset import Dataset

from dicomtls.io.association_runner import associate
from dicomtls.nservices import (NServiceBase, NServiceClient, NServiceServer, decode_dataset,
                                encode_dataset)
from dicomtls.nservices.scp import (NO_SUCH_SOP_INSTANCE, PROCESSING_FAILURE,
                                    SOP_CLASS_NOT_SUPPORTED, UNRECOGNIZED_OPERATION)
from dicomtls.tls.config import TLSConfig
from dicomtls.ul.negotiation import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

TIMEOUT = 10
MPPS = "1.2.840.10008.3.1.2.3.3"
COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
PRINTER = "1.2.840.10008.5.1.1.16"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"


class MPPSStore(NServiceBase):
    """N-CREATE / N-SET / N-GET / N-DELETE on in-memory MPPS instances."""

    def __init__(self):
        self.instances: dict[str, Dataset] = {}

    def n_create(self, instance, attrs, req):
        if instance in self.instances:
            return 0x0111  # Duplicate SOP Instance
        ds = decode_dataset(attrs, req.transfer_syntax) if attrs else Dataset()
        instance = instance or "1.2.3.4.5.6.7"
        self.instances[instance] = ds
        return 0x0000, instance, encode_dataset(ds, req.transfer_syntax)

    def n_set(self, instance, modification, req):
        ds = self.instances.get(instance)
        if ds is None:
            return None
        for elem in decode_dataset(modification, req.transfer_syntax):
            ds[elem.tag] = elem
        return 0x0000, encode_dataset(ds, req.transfer_syntax)

    def n_get(self, instance, tags, req):
        ds = self.instances.get(instance)
        if ds is None:
            return None
        out = Dataset()
        for elem in ds:
            if not tags or elem.tag in tags:
                out[elem.tag] = elem
        return 0x0000, encode_dataset(out, req.transfer_syntax)

    def n_delete(self, instance, req):
        return 0x0000 if self.instances.pop(instance, None) is not None else None


class Commitment(NServiceBase):
    """N-ACTION (Request Storage Commitment) answered, then the result as N-EVENT-REPORT."""

    def __init__(self):
        self.requests = []

    def n_action(self, instance, action_type_id, info, req):
        if action_type_id != 1:
            return 0x0123  # No such action
        ds = decode_dataset(info, req.transfer_syntax)
        self.requests.append(ds)
        result = Dataset()
        result.TransactionUID = ds.TransactionUID
        result.ReferencedSOPSequence = ds.ReferencedSOPSequence
        req.event_report(1, encode_dataset(result, req.transfer_syntax))
        return 0x0000


class Printer(NServiceBase):
    def n_get(self, instance, tags, req):
        if instance != PRINTER_INSTANCE:
            return None
        ds = Dataset()
        ds.PrinterStatus = "NORMAL"
        ds.PrinterStatusInfo = "NORMAL"
        ds.PrinterName = "DICOMTLS"
        return 0x0000, encode_dataset(ds, req.transfer_syntax)


class Broken(NServiceBase):
    def n_get(self, instance, tags, req):
        raise RuntimeError("boom")


def _config(pki, side):
    server = side == "server"
    return TLSConfig.from_profile(certificate=str(pki.server_cert if server else pki.client_cert),
                                  private_key=str(pki.server_key if server else pki.client_key),
                                  ca_file=str(pki.ca_cert))


@pytest.fixture(params=["tls", "plain"])
def served(request, pki):
    tls = request.param == "tls"
    handlers = {MPPS: MPPSStore(), COMMITMENT: Commitment(), PRINTER: Printer(),
                "1.2.3.999": Broken()}
    with NServiceServer(handlers, tls_config=_config(pki, "server") if tls else None,
                        ae_title="NSCP", timeout=TIMEOUT) as server:
        yield server, handlers, (_config(pki, "client") if tls else None)


def _results(server, n=1):
    """The server's results once ``n`` associations are done (a worker records its own)."""
    deadline = time.monotonic() + TIMEOUT
    while len(server.results) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.results)


def _associate(server, tls, contexts=(MPPS, COMMITMENT, PRINTER, "1.2.3.999")):
    return associate("127.0.0.1", server.port, tls_config=tls, called_ae="NSCP",
                     calling_ae="NSCU", contexts=contexts, timeout=TIMEOUT)


def test_mpps_create_set_get_delete(served):
    server, handlers, tls = served
    with _associate(server, tls) as assoc:
        if tls is not None:
            assert assoc.session is not None and assoc.session.peer_authenticated
        client = NServiceClient(assoc)
        ts = client.transfer_syntax(MPPS)
        ds = Dataset()
        ds.PerformedProcedureStepStatus = "IN PROGRESS"
        ds.PatientName = "Doe^John"
        status, uid, data = client.n_create(MPPS, "1.2.826.0.1.3680043.9.1", encode_dataset(ds, ts))
        assert (status, uid) == (0x0000, "1.2.826.0.1.3680043.9.1")
        assert decode_dataset(data, ts).PatientName == "Doe^John"
        # the SCP names the instance when we do not
        status, made, _ = client.n_create(MPPS, None, encode_dataset(ds, ts))
        assert status == 0x0000 and made == "1.2.3.4.5.6.7"
        # duplicate
        assert client.n_create(MPPS, uid, encode_dataset(ds, ts))[0] == 0x0111

        mod = Dataset()
        mod.PerformedProcedureStepStatus = "COMPLETED"
        status, data = client.n_set(MPPS, uid, encode_dataset(mod, ts))
        assert status == 0x0000
        assert decode_dataset(data, ts).PerformedProcedureStepStatus == "COMPLETED"

        status, data = client.n_get(MPPS, uid, [(0x0040, 0x0252)])
        got = decode_dataset(data, ts)
        assert status == 0x0000 and got.PerformedProcedureStepStatus == "COMPLETED"
        assert "PatientName" not in got
        status, data = client.n_get(MPPS, uid, [])
        assert decode_dataset(data, ts).PatientName == "Doe^John"

        assert client.n_delete(MPPS, uid) == 0x0000
        assert client.n_delete(MPPS, uid) == NO_SUCH_SOP_INSTANCE
        assert client.n_get(MPPS, uid, [])[0] == NO_SUCH_SOP_INSTANCE
        assert client.n_set(MPPS, uid, encode_dataset(mod, ts)) == (NO_SUCH_SOP_INSTANCE, None)
    assert set(handlers[MPPS].instances) == {"1.2.3.4.5.6.7"}
    (result,) = _results(server)
    assert result.outcome == "released"
    assert [op["service"] for op in result.operations] == [
        "n_create", "n_create", "n_create", "n_set", "n_get", "n_get", "n_delete", "n_delete",
        "n_get", "n_set"]
    # first-class on ServedAssociation: counted in the one-line summary and in to_dict()
    line = result.summary()
    assert "3 N-CREATE (1 failed), 2 N-SET (1 failed), 3 N-GET (1 failed), " \
        "2 N-DELETE (1 failed)" in line, line
    assert "objects received" not in line
    assert [op["service"] for op in result.to_dict()["operations"]] == \
        [op["service"] for op in result.operations]


def test_storage_commitment_action_and_event_report(served):
    server, handlers, tls = served
    seen = []
    with _associate(server, tls) as assoc:
        client = NServiceClient(assoc, on_event_report=lambda rq, data, ts: seen.append(
            decode_dataset(data, ts)))
        ts = client.transfer_syntax(COMMITMENT)
        info = Dataset()
        info.TransactionUID = "1.2.3.4.100"
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ref.ReferencedSOPInstanceUID = "1.2.3.4.101"
        info.ReferencedSOPSequence = [ref]
        status, reply = client.n_action(COMMITMENT, COMMITMENT_INSTANCE, 1,
                                        encode_dataset(info, ts))
        assert (status, reply) == (0x0000, None)
        rq, data = client.wait_event_report()
        assert rq.event_type_id == 1 and rq.affected_sop_class_uid == COMMITMENT
        assert rq.affected_sop_instance_uid == COMMITMENT_INSTANCE
        assert decode_dataset(data, ts).TransactionUID == "1.2.3.4.100"
        assert len(seen) == 1 and seen[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID \
            == "1.2.3.4.101"
        # unknown action type: no event
        assert client.n_action(COMMITMENT, COMMITMENT_INSTANCE, 7)[0] == 0x0123
    assert len(handlers[COMMITMENT].requests) == 1
    (result,) = _results(server)
    assert result.outcome == "released" and result.event_statuses == [0x0000]
    assert "2 N-ACTION (1 failed), 1 N-EVENT-REPORT" in result.summary()
    assert result.to_dict()["event_statuses"] == [0x0000]


def test_event_report_arriving_during_next_request_is_answered(served):
    """The SCU does not wait for the report: it is answered inside the next request."""
    server, handlers, tls = served
    with _associate(server, tls) as assoc:
        client = NServiceClient(assoc, on_event_report=lambda *a: 0x0000)
        ts = client.transfer_syntax(COMMITMENT)
        info = Dataset()
        info.TransactionUID = "1.2.3.4.200"
        info.ReferencedSOPSequence = []
        assert client.n_action(COMMITMENT, COMMITMENT_INSTANCE, 1, encode_dataset(info, ts))[0] \
            == 0x0000
        assert client.n_get(PRINTER, PRINTER_INSTANCE, [])[0] == 0x0000
        assert len(client.events) == 1
    (result,) = _results(server)
    assert result.event_statuses == [0x0000]


def test_printer_get_and_error_statuses(served):
    server, handlers, tls = served
    with _associate(server, tls) as assoc:
        client = NServiceClient(assoc)
        ts = client.transfer_syntax(PRINTER)
        status, data = client.n_get(PRINTER, PRINTER_INSTANCE, [0x21100010])
        assert status == 0x0000 and decode_dataset(data, ts).PrinterStatus == "NORMAL"
        assert client.n_get(PRINTER, "1.2.3", []) == (NO_SUCH_SOP_INSTANCE, None)
        # operations the Printer handler does not implement
        assert client.n_set(PRINTER, PRINTER_INSTANCE, b"")[0] == UNRECOGNIZED_OPERATION
        assert client.n_action(PRINTER, PRINTER_INSTANCE, 1)[0] == UNRECOGNIZED_OPERATION
        assert client.n_create(PRINTER)[0] == UNRECOGNIZED_OPERATION
        assert client.n_delete(PRINTER, PRINTER_INSTANCE) == UNRECOGNIZED_OPERATION
        # a handler that raises: processing failure, the association goes on
        assert client.n_get("1.2.3.999", "1.2.3", [])[0] == PROCESSING_FAILURE
        # a request for a SOP class with no handler on an accepted context
        ctx = assoc.context_for(PRINTER)
        from dicomtls.dimse.messages import N_GET_RQ
        mid = assoc.next_message_id()
        assoc.send_message(ctx, N_GET_RQ(message_id=mid, requested_sop_class_uid="1.2.3.4",
                                         requested_sop_instance_uid="1.2.3"))
        rsp = assoc.receive_message().message
        assert rsp.message_id_being_responded_to == mid
        assert rsp.status == SOP_CLASS_NOT_SUPPORTED
    (result,) = _results(server)
    assert result.outcome == "released"
    # one entry per request; the raising handler's carries its error
    assert len(result.operations) == 8
    (broken,) = [op for op in result.operations if "error" in op]
    assert broken["status"] == PROCESSING_FAILURE and "boom" in broken["error"]
    assert "4 N-GET (3 failed)" in result.summary()


def test_unsupported_sop_class_is_not_negotiated(served):
    server, _, tls = served
    with _associate(server, tls, contexts=(MPPS, "1.2.840.10008.5.1.1.1")) as assoc:
        client = NServiceClient(assoc)
        with pytest.raises(Exception, match="no accepted presentation context"):
            client.n_get("1.2.840.10008.5.1.1.1", "1.2.3", [])
        assert client.transfer_syntax(MPPS) in (IMPLICIT_VR_LITTLE_ENDIAN,
                                                EXPLICIT_VR_LITTLE_ENDIAN)


def test_dataset_helpers_round_trip():
    ds = Dataset()
    ds.PatientName = "A^B"
    ds.PerformedProcedureStepStatus = "COMPLETED"
    for ts in (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, "1.2.840.10008.1.2.2"):
        assert decode_dataset(encode_dataset(ds, ts), ts) == ds
    with pytest.raises(ValueError):
        encode_dataset(ds, "1.2.840.10008.1.2.4.50")
