"""DIMSE-N against pynetdicom, both roles, plain TCP and TLS with mutual authentication.

* pynetdicom ``send_n_create/send_n_set/send_n_get/send_n_action/send_n_delete`` (SCU) -> our
  ``NServiceServer`` (MPPS, Storage Commitment Push Model with the result as an
  N-EVENT-REPORT on the same association);
* our ``NServiceClient`` -> a pynetdicom SCP (``evt.EVT_N_*`` handlers).
"""

from __future__ import annotations

import threading
import time

import pytest

from dicomtls.io.association_runner import associate
from dicomtls.nservices import (NServiceBase, NServiceClient, NServiceServer, decode_dataset,
                                encode_dataset)
from dicomtls.nservices.scp import NO_SUCH_SOP_INSTANCE, UNRECOGNIZED_OPERATION

from pynetdicom_peer import (TIMEOUT, PynetdicomServer, evt, make_ae,  # noqa: E402
                             our_config, py_context)
from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom.sop_class import (ModalityPerformedProcedureStep,  # noqa: E402
                                  StorageCommitmentPushModel)

pytestmark = pytest.mark.interop

MPPS = "1.2.840.10008.3.1.2.3.3"
COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
FILM_SESSION = "1.2.840.10008.5.1.1.1"  # pynetdicom allows N-DELETE on print, not on MPPS
MODES = ["plain", "tls"]


def _results(server, n=1):
    deadline = time.monotonic() + TIMEOUT
    while len(server.results) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.results)


# ---- pynetdicom SCU -> our SCP ------------------------------------------------------------------
class _MPPS(NServiceBase):
    def __init__(self):
        self.instances = {}

    def n_create(self, instance, attrs, req):
        self.instances[instance] = decode_dataset(attrs, req.transfer_syntax)
        return 0x0000, instance, attrs

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


class _Commitment(NServiceBase):
    def n_action(self, instance, action_type_id, info, req):
        ds = decode_dataset(info, req.transfer_syntax)
        result = Dataset()
        result.TransactionUID = ds.TransactionUID
        result.ReferencedSOPSequence = ds.ReferencedSOPSequence
        req.event_report(1, encode_dataset(result, req.transfer_syntax))
        return 0x0000


@pytest.mark.parametrize("mode", MODES)
def test_pynetdicom_scu_vs_our_nservice_scp(pki, mode):
    tls = mode == "tls"
    reports = []

    def on_report(event):
        reports.append((event.event_type, event.event_information.TransactionUID))
        return 0x0000, None

    mpps = _MPPS()
    with NServiceServer({MPPS: mpps, COMMITMENT: _Commitment()}, ae_title="OURSCP",
                        tls_config=our_config(pki, "server") if tls else None,
                        timeout=TIMEOUT) as server:
        ae = make_ae("PYSCU")
        ae.add_requested_context(ModalityPerformedProcedureStep)
        ae.add_requested_context(StorageCommitmentPushModel)
        tls_args = (py_context(pki, "client"), "127.0.0.1") if tls else None
        try:
            assoc = ae.associate("127.0.0.1", server.port, ae_title="OURSCP", tls_args=tls_args,
                                 evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
            assert assoc.is_established
            try:
                ds = Dataset()
                ds.PerformedProcedureStepStatus = "IN PROGRESS"
                ds.PatientName = "Doe^Jane"
                uid = "1.2.826.0.1.3680043.9.77"
                status, attrs = assoc.send_n_create(ds, MPPS, uid)
                assert status.Status == 0x0000 and attrs.PatientName == "Doe^Jane"

                mod = Dataset()
                mod.PerformedProcedureStepStatus = "COMPLETED"
                status, attrs = assoc.send_n_set(mod, MPPS, uid)
                assert status.Status == 0x0000
                assert attrs.PerformedProcedureStepStatus == "COMPLETED"

                status, attrs = assoc.send_n_get([0x00400252], MPPS, uid)
                assert status.Status == 0x0000
                assert attrs.PerformedProcedureStepStatus == "COMPLETED"
                assert "PatientName" not in attrs
                status, _ = assoc.send_n_get([0x00400252], MPPS, "1.2.3")
                assert status.Status == NO_SUCH_SOP_INSTANCE

                info = Dataset()
                info.TransactionUID = "1.2.3.4.300"
                ref = Dataset()
                ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
                ref.ReferencedSOPInstanceUID = "1.2.3.4.301"
                info.ReferencedSOPSequence = [ref]
                status, _ = assoc.send_n_action(info, 1, COMMITMENT, COMMITMENT_INSTANCE)
                assert status.Status == 0x0000
                # the commitment result arrives as an N-EVENT-REPORT on this association
                deadline = time.monotonic() + TIMEOUT
                while not reports and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert reports == [(1, "1.2.3.4.300")]
                # Storage Commitment has no N-DELETE: unrecognized operation
                status = assoc.send_n_delete(COMMITMENT, COMMITMENT_INSTANCE)
                assert status.Status == UNRECOGNIZED_OPERATION
                assert assoc.send_n_delete(MPPS, uid).Status == 0x0000
                assoc.release()
            finally:
                if assoc.is_established:
                    assoc.abort()
        finally:
            ae.shutdown()
        (result,) = _results(server)
    assert result.outcome == "released"
    assert result.event_statuses == [0x0000]
    assert (result.session is not None) == tls
    assert mpps.instances == {}


# ---- our SCU -> pynetdicom SCP ------------------------------------------------------------------
class _PynetdicomNSCP(PynetdicomServer):
    def __init__(self, ssl_context=None):
        self.ae = make_ae("PYNETDICOM")
        self.ae.add_supported_context(ModalityPerformedProcedureStep)
        self.ae.add_supported_context(StorageCommitmentPushModel)
        self.ae.add_supported_context(FILM_SESSION)
        self.ssl_context = ssl_context
        self.instances: dict = {}
        self.actions: list = []
        self._lock = threading.Lock()

    def _create(self, event):
        uid = event.request.AffectedSOPInstanceUID or "1.2.826.0.1.3680043.9.88"
        ds = event.attribute_list
        with self._lock:
            self.instances[uid] = ds
        ds.SOPInstanceUID = uid
        return 0x0000, ds

    def _set(self, event):
        ds = self.instances.get(event.request.RequestedSOPInstanceUID)
        if ds is None:
            return 0x0112, None
        for elem in event.modification_list:
            ds[elem.tag] = elem
        return 0x0000, ds

    def _get(self, event):
        ds = self.instances.get(event.request.RequestedSOPInstanceUID)
        if ds is None:
            return 0x0112, None
        out = Dataset()
        tags = event.attribute_identifiers
        for elem in ds:
            if not tags or elem.tag in tags:
                out[elem.tag] = elem
        return 0x0000, out

    def _action(self, event):
        self.actions.append((event.action_type, event.action_information.TransactionUID))
        return 0x0000, None

    def _delete(self, event):
        uid = event.request.RequestedSOPInstanceUID
        return 0x0000 if self.instances.pop(uid, None) is not None else 0x0112

    def handlers(self) -> list:
        return [(evt.EVT_N_CREATE, self._create), (evt.EVT_N_SET, self._set),
                          (evt.EVT_N_GET, self._get), (evt.EVT_N_ACTION, self._action),
                          (evt.EVT_N_DELETE, self._delete)]


@pytest.mark.parametrize("mode", MODES)
def test_our_nservice_scu_vs_pynetdicom_scp(pki, mode):
    tls = mode == "tls"
    with _PynetdicomNSCP(py_context(pki, "server") if tls else None) as scp:
        with associate("127.0.0.1", scp.port, called_ae="PYNETDICOM", calling_ae="OURSCU",
                       contexts=(MPPS, COMMITMENT, FILM_SESSION), timeout=TIMEOUT,
                       tls_config=our_config(pki, "client") if tls else None) as assoc:
            assert (assoc.session is not None) == tls
            client = NServiceClient(assoc)
            ts = client.transfer_syntax(MPPS)
            ds = Dataset()
            ds.PerformedProcedureStepStatus = "IN PROGRESS"
            ds.PatientName = "Roe^Richard"
            uid = "1.2.826.0.1.3680043.9.99"
            status, got_uid, data = client.n_create(MPPS, uid, encode_dataset(ds, ts))
            assert (status, got_uid) == (0x0000, uid)
            assert decode_dataset(data, ts).PatientName == "Roe^Richard"

            mod = Dataset()
            mod.PerformedProcedureStepStatus = "DISCONTINUED"
            status, data = client.n_set(MPPS, uid, encode_dataset(mod, ts))
            assert status == 0x0000
            assert decode_dataset(data, ts).PerformedProcedureStepStatus == "DISCONTINUED"

            # two tags: pynetdicom 3.0's logging chokes on a single-valued AT list
            status, data = client.n_get(MPPS, uid, [0x00400252, 0x00400253])
            got = decode_dataset(data, ts)
            assert status == 0x0000 and got.PerformedProcedureStepStatus == "DISCONTINUED"
            assert "PatientName" not in got
            assert client.n_get(MPPS, "1.2.3", [0x00400252])[0] == NO_SUCH_SOP_INSTANCE

            cts = client.transfer_syntax(COMMITMENT)
            info = Dataset()
            info.TransactionUID = "1.2.3.4.400"
            info.ReferencedSOPSequence = []
            status, _ = client.n_action(COMMITMENT, COMMITMENT_INSTANCE, 1,
                                        encode_dataset(info, cts))
            assert status == 0x0000

            fts = client.transfer_syntax(FILM_SESSION)
            film = Dataset()
            film.NumberOfCopies = "1"
            film_uid = "1.2.826.0.1.3680043.9.98"
            assert client.n_create(FILM_SESSION, film_uid, encode_dataset(film, fts))[:2] == \
                (0x0000, film_uid)
            assert client.n_delete(FILM_SESSION, film_uid) == 0x0000
            assert client.n_delete(FILM_SESSION, film_uid) == NO_SUCH_SOP_INSTANCE
            scp.instances.pop(uid)
    assert scp.actions == [(1, "1.2.3.4.400")]
    assert scp.instances == {}
