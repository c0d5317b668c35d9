"""Requests the peer sends to our SCU while it waits (``ClientAssociation.on_request``): an
N-EVENT-REPORT-RQ arriving during ``echo()`` is handed to the handler and answered with what it
returns; without a handler it is answered 0x0211 instead of being dropped (which would leave
the peer waiting). Peers: our own SCP (a service that sends the report before answering the
C-ECHO), and pynetdicom doing the same from its C-ECHO handler. Plain TCP and TLS."""

from __future__ import annotations

import threading

import pytest

from conftest import require_module

import dicomtls
from dicomtls.dimse.messages import N_EVENT_REPORT_RQ, response_for
from dicomtls.io.association_runner import (ServedAssociation, accept_transport, associate,
                                            serve_association)
from dicomtls.io.services import VerificationService
from dicomtls.nservices import NServiceClient
from dicomtls.ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
                                     VERIFICATION_SOP_CLASS)

COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
SUPPORTED = {uid: (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)
             for uid in (VERIFICATION_SOP_CLASS, COMMITMENT)}
REPORT = b"\x08\x00\x50\x00\x04\x00\x00\x00ABC\x00"  # (0008,0050) Accession Number, implicit LE


class ReportBeforeEcho(VerificationService):
    """An SCP service (Verification and, for the commitment class, DIMSE-N): on each
    C-ECHO-RQ, first send an N-EVENT-REPORT-RQ (Storage Commitment result) on the commitment
    context, then answer the echo; the N-EVENT-REPORT-RSPs that come back are recorded."""

    supported = SUPPORTED

    def __init__(self):
        self.responses: list = []

    def c_echo(self, link, event) -> None:
        ctx = next(c.context_id for c in link.assoc.contexts.values()
                   if c.accepted and c.abstract_syntax == COMMITMENT)
        link.send(ctx, N_EVENT_REPORT_RQ(
            message_id=100 + len(self.responses), affected_sop_class_uid=COMMITMENT,
            affected_sop_instance_uid=COMMITMENT_INSTANCE, event_type_id=1), REPORT)
        super().c_echo(link, event)

    def n_request(self, link, event) -> None:
        link.answer(event, 0x0211)

    def n_event_report_answered(self, link, event) -> None:
        self.responses.append(event.message)


def serve_once(listener, tls_config, service):
    out = {}

    def run():
        transport = accept_transport(listener, tls_config, 10)
        out["result"] = serve_association(transport, [service], timeout=10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def configs(pki, use_tls):
    if not use_tls:
        return None, None
    make = dicomtls.TLSConfig.from_profile
    return (make(certificate=str(pki.server_cert), private_key=str(pki.server_key),
                 ca_file=str(pki.ca_cert)),
            make(certificate=str(pki.client_cert), private_key=str(pki.client_key),
                 ca_file=str(pki.ca_cert)))


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("hook", ["status", "none", "absent", "raises", "message"])
def test_report_during_echo_is_answered(pki, use_tls, hook):
    server_tls, client_tls = configs(pki, use_tls)
    seen = []

    def on_request(assoc, event):
        seen.append((event.message, event.dataset))
        if hook == "raises":
            raise RuntimeError("handler bug")
        if hook == "message":
            return response_for(event.message, 0x0107, error_comment="check the report")
        return 0x0001 if hook == "status" else None

    service = ReportBeforeEcho()
    listener = dicomtls.listen("127.0.0.1", 0)
    thread, out = serve_once(listener, server_tls, service)
    try:
        with associate("127.0.0.1", listener.getsockname()[1], tls_config=client_tls,
                       contexts=[VERIFICATION_SOP_CLASS, COMMITMENT], timeout=10,
                       on_request=None if hook == "absent" else on_request) as assoc:
            assert assoc.echo() == 0x0000
            assert assoc.echo() == 0x0000  # and again: each echo brings one report
    finally:
        thread.join(10)
        listener.close()
    result: ServedAssociation = out["result"]
    assert result.outcome == "released" and result.echoes == 2
    want = {"status": 0x0001, "none": 0x0000, "absent": 0x0211, "raises": 0x0110,
            "message": 0x0107}[hook]
    assert [r.status for r in service.responses] == [want, want]
    for rsp in service.responses:   # the response names what the request named
        assert (rsp.affected_sop_class_uid, rsp.affected_sop_instance_uid,
                rsp.event_type_id) == (COMMITMENT, COMMITMENT_INSTANCE, 1)
    assert [r.message_id_being_responded_to for r in service.responses] == [100, 101]
    if hook != "absent":
        assert [bytes(d) for _, d in seen] == [REPORT, REPORT]
        assert all(isinstance(m, N_EVENT_REPORT_RQ) for m, _ in seen)
    if hook == "message":
        assert service.responses[0].error_comment == "check the report"


def test_nservice_client_as_the_handler(pki):
    """``NServiceClient.handle_request`` records reports that arrive outside its own calls
    and answers them with ``on_event_report``'s status."""
    service = ReportBeforeEcho()
    listener = dicomtls.listen("127.0.0.1", 0)
    thread, _ = serve_once(listener, None, service)
    try:
        with associate("127.0.0.1", listener.getsockname()[1],
                       contexts=[VERIFICATION_SOP_CLASS, COMMITMENT], timeout=10) as assoc:
            client = NServiceClient(assoc, on_event_report=lambda rq, data, ts: 0x0002)
            assoc.on_request = client.handle_request
            assert assoc.echo() == 0x0000
    finally:
        thread.join(10)
        listener.close()
    assert [(rq.event_type_id, bytes(data)) for rq, data in client.events] == [(1, REPORT)]
    assert [r.status for r in service.responses] == [0x0002]


def test_pynetdicom_scp_sends_a_report_during_echo():
    """pynetdicom's C-ECHO handler sends an N-EVENT-REPORT on the same association and waits
    for its answer before it answers the echo: our SCU must answer while in ``echo()``."""
    pynetdicom = require_module("pynetdicom")
    from pydicom.dataset import Dataset
    got = {}

    def on_echo(event):
        ds = Dataset()
        ds.AccessionNumber = "ABC"
        status, _ = event.assoc.send_n_event_report(ds, 2, COMMITMENT, COMMITMENT_INSTANCE)
        got["status"] = status.Status if status else None
        return 0x0000

    ae = pynetdicom.AE(ae_title="PYNETDICOM")
    ae.add_supported_context(VERIFICATION_SOP_CLASS)
    ae.add_supported_context(COMMITMENT, scu_role=True, scp_role=True)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[(pynetdicom.evt.EVT_C_ECHO, on_echo)])
    port = server.server_address[1]
    reports = []
    try:
        with associate("127.0.0.1", port, contexts=[VERIFICATION_SOP_CLASS, COMMITMENT],
                       timeout=10, on_request=lambda a, ev: reports.append(ev) or 0x0000
                       ) as assoc:
            assert assoc.echo() == 0x0000
    finally:
        server.shutdown()
    (report,) = reports
    assert report.message.event_type_id == 2
    assert b"ABC" in bytes(report.dataset)
    assert got["status"] == 0x0000
