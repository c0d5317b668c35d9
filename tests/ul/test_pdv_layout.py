"""Data set PDUs laid out in a caller-owned buffer (``ul.pdv_layout``, ``Association.
start_dataset``) and read in place (``PDUReader.recv_buffer``): fed to a receiving association,
the bytes are the same message as the general path produces. No sockets."""

from __future__ import annotations

import os

import pytest

from dicomtls.dimse.messages import C_STORE_RQ
from dicomtls.errors import LocalProtocolError
from dicomtls.ul.association import (NEED_DATA, Association, DatasetComplete, DatasetFragment,
                                     DatasetStarted, Established, MessageReceived)
from dicomtls.ul.framing import PDUReader, P_DATA_TF
from dicomtls.ul.pdv_layout import PDU_OVERHEAD, DatasetLayout, layout_buffer_size
from dicomtls.ul.pdu import PDataTF, decode_pdu

SC = "1.2.840.10008.5.1.4.1.1.7"
VERIFICATION = "1.2.840.10008.1.1"


def pair(max_pdu=4096, stream=True):
    """An established requestor/acceptor pair; the acceptor announces ``max_pdu``."""
    rq = Association("requestor", max_pdu_length=max_pdu)
    ac = Association("acceptor", max_pdu_length=max_pdu, stream_datasets=stream,
                     supported={SC: ("1.2.840.10008.1.2.1",), VERIFICATION: ("1.2.840.10008.1.2",)})
    rq.request("SCP", "SCU", [(SC, ["1.2.840.10008.1.2.1"]), VERIFICATION])
    ac.receive_data(rq.data_to_send())
    ac.next_event()
    ac.accept()
    assert isinstance(ac.next_event(), Established)
    rq.receive_data(ac.data_to_send())
    assert isinstance(rq.next_event(), Established)
    return rq, ac


def drain(assoc):
    out = []
    while (event := assoc.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def send_laid_out(rq, data, pdu_area, head_room, *, head=True):
    """Lay ``data`` out through ``start_dataset`` into one reused buffer as the transport
    driver does (whole PDUs after the head); the written bytes."""
    msg = C_STORE_RQ(message_id=7, affected_sop_class_uid=SC, affected_sop_instance_uid="1.2.3")
    layout = rq.start_dataset(1, msg, len(data))
    buf = memoryview(bytearray(pdu_area + head_room))
    wire, pos = bytearray(), 0
    if not head:
        wire += rq.data_to_send()
    while not layout.done:
        queued = rq.buffers_to_send() if head else []
        out, slots = layout.frame(buf[:sum(map(len, queued)) + pdu_area], queued)
        for slot in slots:
            slot[:] = data[pos:pos + len(slot)]
            pos += len(slot)
        wire += out          # "written": the buffer is reused by the next frame()
    assert pos == len(data) and rq.buffers_to_send() == []
    return bytes(wire)


@pytest.mark.parametrize("size", [0, 1, 4084, 4085, 10_000, 100_000])
@pytest.mark.parametrize("head", [True, False])
def test_laid_out_message_arrives_identical(size, head):
    rq, ac = pair(max_pdu=4096)
    data = os.urandom(size)
    wire = send_laid_out(rq, data, 3 * (4090 + PDU_OVERHEAD), 512, head=head)
    ac.receive_data(wire)
    events = drain(ac)
    assert isinstance(events[0], DatasetStarted)
    assert events[0].message.affected_sop_instance_uid == "1.2.3"
    frags = [e for e in events if isinstance(e, DatasetFragment)]
    assert b"".join(bytes(f.data) for f in frags) == data
    assert [f.is_last for f in frags] == [False] * (len(frags) - 1) + [True]
    assert all(len(f.data) <= 4096 - 6 for f in frags)  # the peer's maximum holds
    assert isinstance(events[-1], DatasetComplete)
    # the same bytes as the general path, PDU for PDU
    rq2, _ = pair(max_pdu=4096)
    rq2.send_message(1, C_STORE_RQ(message_id=7, affected_sop_class_uid=SC,
                                   affected_sop_instance_uid="1.2.3"), data)
    assert wire == rq2.data_to_send()


def test_headers_and_slots():
    calls = []
    layout = DatasetLayout(3, 25, 10, calls.append)
    buf = memoryview(bytearray(2 * (10 + PDU_OVERHEAD) + 5))
    out, slots = layout.frame(buf, [b"HEAD"])
    assert bytes(out[:4]) == b"HEAD" and [len(s) for s in slots] == [10, 10]
    assert len(out) == 4 + 2 * (10 + PDU_OVERHEAD) and calls == [2]
    pdu = decode_pdu(bytes(out[4:4 + 22]))
    assert isinstance(pdu, PDataTF) and pdu.pdvs[0].context_id == 3
    assert (pdu.pdvs[0].is_command, pdu.pdvs[0].is_last) == (False, False)
    out, slots = layout.frame(buf)
    assert [len(s) for s in slots] == [5] and layout.done and calls == [2, 1]
    assert out[6 + 4 + 1] == 2  # control header: data, last
    with pytest.raises(LocalProtocolError, match="laid out already"):
        layout.frame(buf)


def test_a_buffer_too_small_for_one_pdu_is_refused():
    layout = DatasetLayout(1, 100, 50, lambda n: None)
    with pytest.raises(LocalProtocolError, match="holds no data PDU"):
        layout.frame(memoryview(bytearray(PDU_OVERHEAD)))


def test_buffer_size_holds_whole_pdus():
    size, frag = layout_buffer_size(262_138, 4 << 20, 16 << 10)
    assert frag == 262_138 and (size - (16 << 10)) % (frag + PDU_OVERHEAD) == 0
    size, frag = layout_buffer_size(64 << 20, 4 << 20, 0)   # a peer allowing 64 MiB PDUs
    assert frag == (4 << 20) - PDU_OVERHEAD and size == 4 << 20


def test_start_dataset_checks_context_and_state():
    rq, _ = pair()
    with pytest.raises(LocalProtocolError, match="not accepted"):
        rq.start_dataset(5, C_STORE_RQ(message_id=1, affected_sop_class_uid=SC,
                                       affected_sop_instance_uid="1"), 10)
    rq.release()
    with pytest.raises(Exception, match="Evt9"):
        rq.start_dataset(1, C_STORE_RQ(message_id=1, affected_sop_class_uid=SC,
                                       affected_sop_instance_uid="1"), 10)


def test_fragment_length_may_be_smaller_than_the_peers():
    rq, ac = pair(max_pdu=1 << 20)
    layout = rq.start_dataset(1, C_STORE_RQ(message_id=1, affected_sop_class_uid=SC,
                                            affected_sop_instance_uid="1"), 3000,
                              fragment_length=1000)
    out, slots = layout.frame(memoryview(bytearray(1 << 16)), rq.buffers_to_send())
    assert [len(s) for s in slots] == [1000, 1000, 1000]


# ---- reading in place ----------------------------------------------------------------------

def test_recv_buffer_fills_the_pdu_in_place():
    body = os.urandom(50_000)
    pdu = PDataTF.header_for_single_pdv(1, False, True, len(body)) + body
    reader = PDUReader(max_pdu_length=1 << 20)
    assert reader.recv_buffer() is None           # at a boundary: read a chunk and feed it
    reader.feed(pdu[:100])
    view = reader.recv_buffer()
    assert len(view) == len(pdu) - 100
    view[:1000] = pdu[100:1100]
    reader.filled(1000)
    assert reader.next_pdu() is None
    rest = reader.recv_buffer()
    rest[:] = pdu[1100:]
    reader.filled(len(rest))
    pdu_type, got = reader.next_pdu()
    assert pdu_type == P_DATA_TF and bytes(got) == pdu and got.readonly
    assert reader.recv_buffer() is None
    with pytest.raises(ValueError):
        reader.filled(1)


def test_recv_buffer_is_none_while_an_unbounded_pdu_grows():
    reader = PDUReader(max_pdu_length=0)           # no limit: buffers grow as data arrives
    reader.feed(PDataTF.header_for_single_pdv(1, False, True, 40 << 20))
    assert reader.recv_buffer() is None


def test_association_reads_in_place():
    rq, ac = pair(max_pdu=1 << 20)
    data = os.urandom(300_000)
    rq.send_message(1, C_STORE_RQ(message_id=3, affected_sop_class_uid=SC,
                                  affected_sop_instance_uid="9"), data)
    wire = memoryview(rq.data_to_send())
    pos = 0
    while pos < len(wire):
        view = ac.receive_buffer()
        if view is None:
            ac.receive_data(bytes(wire[pos:pos + 1000]))
            pos += 1000
        else:
            n = min(len(view), 70_000, len(wire) - pos)
            view[:n] = wire[pos:pos + n]
            ac.received_into(n)
            pos += n
    events = drain(ac)
    assert b"".join(bytes(e.data) for e in events if isinstance(e, DatasetFragment)) == data
    ac2 = Association("acceptor", stream_datasets=False)
    assert ac2.receive_buffer() is None
    assert not any(isinstance(e, MessageReceived) for e in events)
