"""Two sans-IO Associations talking to each other through byte buffers: no sockets, no sleeps."""

from __future__ import annotations

import struct

import pytest

from dicomtls.dimse.messages import C_ECHO_RQ, C_ECHO_RSP, C_STORE_RQ
from dicomtls.errors import AssociationAborted, AssociationRejected, PDUError
from dicomtls.ul.association import (NEED_DATA, Aborted, AssociateRequested, Association,
                                     Established, MessageReceived, Rejected, Released,
                                     ReleaseRequested)
from dicomtls.ul.negotiation import (IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME,
                                     IMPLICIT_VR_LITTLE_ENDIAN, RJ_CALLED_AE_NOT_RECOGNIZED,
                                     VERIFICATION_SOP_CLASS, build_request, check_request,
                                     negotiate_contexts, propose_contexts)
from dicomtls.ul.pdu import AAbort, decode_pdu

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SUPPORTED = {VERIFICATION_SOP_CLASS: [IMPLICIT_VR_LITTLE_ENDIAN]}


def drain(assoc):
    events = []
    while True:
        ev = assoc.next_event()
        if ev is NEED_DATA:
            return events
        events.append(ev)


def pump(a, b):
    """Move a's pending bytes into b; return b's events."""
    data = a.data_to_send()
    if data:
        b.receive_data(data)
    return drain(b)


def established_pair(max_a=16384, max_b=16384, contexts=(VERIFICATION_SOP_CLASS,)):
    scu = Association("requestor", max_pdu_length=max_a)
    scp = Association("acceptor", supported=SUPPORTED, max_pdu_length=max_b)
    scu.request("SCP", "SCU", list(contexts))
    (req,) = pump(scu, scp)
    assert isinstance(req, AssociateRequested)
    assert check_request(req.request, ae_title="SCP") is None
    scp.accept()
    assert isinstance(drain(scp)[0], Established)
    (est,) = pump(scp, scu)
    assert isinstance(est, Established)
    return scu, scp, est


def test_establish_echo_release():
    scu, scp, est = established_pair(max_a=20000, max_b=30000)
    assert est.contexts[1].accepted and est.contexts[1].transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN
    assert scu.peer_max_pdu_length == 30000 and scp.peer_max_pdu_length == 20000
    ui = scu.accept_pdu.user_information
    assert ui.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert ui.implementation_version_name == IMPLEMENTATION_VERSION_NAME
    assert scu.state == scp.state == "Sta6"

    scu.send_message(1, C_ECHO_RQ(message_id=7, affected_sop_class_uid=VERIFICATION_SOP_CLASS))
    (msg,) = pump(scu, scp)
    assert isinstance(msg, MessageReceived) and msg.dataset is None
    assert isinstance(msg.message, C_ECHO_RQ) and msg.message.message_id == 7
    scp.send_message(1, C_ECHO_RSP(message_id_being_responded_to=7, status=0,
                                   affected_sop_class_uid=VERIFICATION_SOP_CLASS))
    (rsp,) = pump(scp, scu)
    assert rsp.message.status == 0

    scu.release()
    assert pump(scu, scp) == [ReleaseRequested(False)]
    scp.release()
    assert drain(scp) == [Released()]
    assert pump(scp, scu) == [Released()]
    assert scu.finished and scu.state == "Sta1"
    # The acceptor waits in Sta13 for the requestor to close the transport.
    assert scp.state == "Sta13"
    scp.receive_data(b"")
    assert drain(scp) == [] and scp.finished and scp.state == "Sta1"


def test_dataset_fragmented_to_peer_max_length():
    scu = Association("requestor")
    scp = Association("acceptor", supported={CT_STORAGE: [IMPLICIT_VR_LITTLE_ENDIAN]},
                      max_pdu_length=4096)
    scu.request("SCP", "SCU", [(CT_STORAGE, [IMPLICIT_VR_LITTLE_ENDIAN])])
    pump(scu, scp)
    scp.accept()
    drain(scp)
    pump(scp, scu)
    dataset = bytes(range(256)) * 100  # 25600 bytes
    scu.send_message(1, C_STORE_RQ(message_id=1, affected_sop_class_uid=CT_STORAGE,
                                   affected_sop_instance_uid="1.2.3", priority=0), dataset)
    bufs = scu.buffers_to_send()
    # Headers and payload views, never joined; no P-DATA-TF above the peer's 4096.
    assert any(isinstance(b, memoryview) for b in bufs)
    data = b"".join(bufs)
    off = 0
    while off < len(data):
        (length,) = struct.unpack_from(">I", data, off + 2)
        assert data[off] == 4 and length <= 4096
        off += 6 + length
    scp.receive_data(data)
    (msg,) = drain(scp)
    assert msg.dataset == dataset and msg.message.affected_sop_instance_uid == "1.2.3"


def test_reject_unknown_called_ae():
    scu = Association("requestor")
    scp = Association("acceptor", supported=SUPPORTED)
    scu.request("WRONG", "SCU", [VERIFICATION_SOP_CLASS])
    (req,) = pump(scu, scp)
    rj = check_request(req.request, ae_title="SCP")
    assert (rj.result, rj.source, rj.reason) == (1, 1, RJ_CALLED_AE_NOT_RECOGNIZED)
    scp.reject(rj.result, rj.source, rj.reason)
    assert scp.state == "Sta13" and scp.artim_deadline() is not None
    (ev,) = pump(scp, scu)
    assert isinstance(ev, Rejected) and ev.rj.reason == 7
    assert isinstance(ev.as_error(), AssociationRejected)
    assert scu.finished


def test_abstract_and_transfer_syntax_not_supported():
    scu, scp, est = established_pair(contexts=(
        VERIFICATION_SOP_CLASS, CT_STORAGE, (VERIFICATION_SOP_CLASS, ["1.2.840.10008.1.2.2"])))
    assert [c.context_id for c in scu.request_pdu.presentation_contexts] == [1, 3, 5]
    assert {i: c.result for i, c in est.contexts.items()} == {1: 0, 3: 3, 5: 4}
    with pytest.raises(Exception):
        scu.send_message(3, C_ECHO_RQ(message_id=1, affected_sop_class_uid=CT_STORAGE))


def test_negotiation_prefers_acceptor_order():
    rq = propose_contexts([(CT_STORAGE, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])])
    (ac,) = negotiate_contexts(rq, {CT_STORAGE: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]})
    assert ac.transfer_syntax == "1.2.840.10008.1.2.1"


def test_user_abort():
    scu, scp, _ = established_pair()
    scu.abort()
    assert drain(scu) == [Aborted(0, 0, local=True)]
    (ev,) = pump(scu, scp)
    assert ev == Aborted(0, 0, local=False)
    assert isinstance(ev.as_error(), AssociationAborted)
    assert scp.finished


@pytest.mark.parametrize("bad, reason", [
    (bytes([0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0]), 1),                  # unrecognized PDU type
    (bytes([0x05, 0, 0, 0, 0, 3, 0, 0, 0]), 6),                     # A-RELEASE-RQ length 3
    (bytes([0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 2, 3]), 6),            # PDV on an even context ID
])
def test_malformed_pdu_aborts_with_provider_reason(bad, reason):
    scu, scp, _ = established_pair()
    scp.receive_data(bad)
    (ev,) = drain(scp)
    assert isinstance(ev, Aborted) and ev.local and (ev.source, ev.reason) == (2, reason)
    assert isinstance(ev.error, PDUError) and ev.error.abort_reason == reason
    sent = scp.data_to_send()
    assert decode_pdu(sent) == AAbort(2, reason)
    assert scp.state == "Sta13"
    scu.receive_data(sent)
    (peer,) = drain(scu)
    assert (peer.source, peer.reason, peer.local) == (2, reason, False)


def test_pdv_on_unaccepted_context_aborts():
    scu, scp, _ = established_pair()
    scp.receive_data(bytes([0x04, 0, 0, 0, 0, 7, 0, 0, 0, 3, 3, 3, 0]))
    (ev,) = drain(scp)
    assert ev.local and ev.source == 2
    assert decode_pdu(scp.data_to_send()) == AAbort(2, 6)


def test_malformed_first_pdu_on_acceptor():
    scp = Association("acceptor", supported=SUPPORTED)
    scp.receive_data(bytes([0x09, 0, 0, 0, 0, 0]))
    (ev,) = drain(scp)
    assert isinstance(ev, Aborted) and ev.local and isinstance(ev.error, PDUError)
    assert isinstance(decode_pdu(scp.data_to_send()), AAbort)


def test_unexpected_pdu_aborts():
    scu, scp, _ = established_pair()
    scp.receive_data(build_request("SCP", "SCU", [VERIFICATION_SOP_CLASS]).encode())
    (ev,) = drain(scp)
    assert ev.local and (ev.source, ev.reason) == (2, 2)


def test_transport_closed_while_established():
    scu, scp, _ = established_pair()
    scp.receive_data(b"")
    (ev,) = drain(scp)
    assert ev.transport_closed and ev.source == 2 and scp.state == "Sta1"


def test_release_collision():
    scu, scp, _ = established_pair()
    scu.release()
    scp.release()
    a_bytes, b_bytes = scu.data_to_send(), scp.data_to_send()
    scp.receive_data(a_bytes)
    scu.receive_data(b_bytes)
    assert drain(scu) == [ReleaseRequested(True)] and scu.state == "Sta9"
    assert drain(scp) == [ReleaseRequested(True)] and scp.state == "Sta10"
    scu.release()                       # requestor answers first (AR-9 -> Sta11)
    scp.release()                       # acceptor's answer is deferred until AR-10
    assert pump(scu, scp) == [Released()] and scp.state == "Sta13"
    assert pump(scp, scu) == [Released()] and scu.state == "Sta1"


def test_artim_expiry_closes_transport():
    now = [100.0]
    scp = Association("acceptor", supported=SUPPORTED, artim_timeout=5, clock=lambda: now[0])
    assert scp.artim_deadline() == 105.0 and scp.state == "Sta2"
    scp.check_timers(104.0)
    assert not scp.finished
    scp.check_timers(105.0)
    assert scp.finished and scp.state == "Sta1" and scp.artim_deadline() is None


def test_bytes_one_at_a_time():
    scu = Association("requestor")
    scp = Association("acceptor", supported=SUPPORTED)
    scu.request("SCP", "SCU", [VERIFICATION_SOP_CLASS])
    events = []
    for byte in scu.data_to_send():
        scp.receive_data(bytes([byte]))
        events += drain(scp)
    assert len(events) == 1 and isinstance(events[0], AssociateRequested)


def _store_pair(stream):
    scu = Association("requestor")
    scp = Association("acceptor", supported={CT_STORAGE: [IMPLICIT_VR_LITTLE_ENDIAN],
                                             VERIFICATION_SOP_CLASS: [IMPLICIT_VR_LITTLE_ENDIAN]},
                      max_pdu_length=4096, stream_datasets=stream, max_dataset_length=10000)
    scu.request("SCP", "SCU", [(CT_STORAGE, [IMPLICIT_VR_LITTLE_ENDIAN]),
                               VERIFICATION_SOP_CLASS])
    pump(scu, scp)
    scp.accept()
    drain(scp)
    pump(scp, scu)
    return scu, scp


def test_streamed_c_store_dataset_events():
    """stream_datasets=True: a C-STORE-RQ's data set comes out as DatasetStarted, one
    DatasetFragment view per PDV, DatasetComplete -- no limit, nothing gathered; a C-ECHO on the
    same association still arrives whole."""
    from dicomtls.ul.association import DatasetComplete, DatasetFragment, DatasetStarted
    scu, scp = _store_pair(True)
    dataset = bytes(range(256)) * 200  # 51200 bytes: above max_dataset_length (10000)
    chunks = (dataset[i:i + 7000] for i in range(0, len(dataset), 7000))
    steps = list(scu.iter_send_message(1, C_STORE_RQ(
        message_id=7, affected_sop_class_uid=CT_STORAGE, affected_sop_instance_uid="1.2.3",
        priority=0), chunks))
    assert sum(steps) == len(dataset)  # data set bytes only
    scp.receive_data(scu.data_to_send())
    events = drain(scp)
    assert isinstance(events[0], DatasetStarted) and events[0].message.message_id == 7
    frags = events[1:-1]
    assert all(isinstance(f, DatasetFragment) and isinstance(f.data, memoryview) for f in frags)
    assert all(len(f.data) <= 4096 - 6 for f in frags) and frags[-1].is_last
    assert b"".join(bytes(f.data) for f in frags) == dataset
    assert isinstance(events[-1], DatasetComplete) and events[-1].data is None
    scu.send_message(3, C_ECHO_RQ(message_id=8, affected_sop_class_uid=VERIFICATION_SOP_CLASS))
    (msg,) = pump(scu, scp)
    assert isinstance(msg, MessageReceived) and msg.message.message_id == 8


def test_accumulated_dataset_limit_without_streaming():
    scu, scp = _store_pair(False)
    scu.send_message(1, C_STORE_RQ(message_id=1, affected_sop_class_uid=CT_STORAGE,
                                   affected_sop_instance_uid="1.2.3", priority=0), bytes(20000))
    events = pump(scu, scp)
    assert isinstance(events[-1], Aborted) and "stream_datasets" in str(events[-1].error)


def test_predicate_chooses_streamed_messages():
    from dicomtls.ul.association import DatasetStarted
    scu, scp = _store_pair(lambda message: False)
    scu.send_message(1, C_STORE_RQ(message_id=1, affected_sop_class_uid=CT_STORAGE,
                                   affected_sop_instance_uid="1.2.3", priority=0), b"\0" * 100)
    (msg,) = pump(scu, scp)
    assert isinstance(msg, MessageReceived) and msg.dataset == b"\0" * 100
    assert not isinstance(msg, DatasetStarted)
