"""PDU framing of a byte stream (PS3.8 9.3.1 header): any chunking in, whole PDUs out."""

import random
import tracemalloc

import pytest

from dicomtls.errors import (ABORT_INVALID_PDU_PARAMETER_VALUE, ABORT_UNRECOGNIZED_PDU, PDUError)
from dicomtls.ul import (PDV, AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ,
                         PDataTF, PDUReader, decode_pdu, read_pdu_header)
from dicomtls.ul.items import PresentationContextAC, PresentationContextRQ
from dicomtls.ul.user_info import ImplementationClassUID, MaximumLength, UserInformation

H = bytes.fromhex
MiB = 1 << 20
UI = UserInformation([MaximumLength(16384), ImplementationClassUID("1.2.3.4")])


def drain(reader):
    out = []
    while (item := reader.next_pdu()) is not None:
        out.append(item)
    return out


def mixed_pdus(rng, count):
    """``count`` encoded PDUs of every type, P-DATA-TF of varied sizes."""
    pdus = []
    for i in range(count):
        kind = rng.randrange(8)
        if kind == 0:
            pdu = AAssociateRQ("SCP", f"SCU{i}", [PresentationContextRQ(2 * k + 1, "1.2.840.10008.1.1",
                                                                        ["1.2.840.10008.1.2"])
                                                   for k in range(rng.randrange(1, 20))], UI)
        elif kind == 1:
            pdu = AAssociateAC("SCP", "SCU", [PresentationContextAC(1, 0, "1.2.840.10008.1.2")], UI)
        elif kind == 2:
            pdu = AAssociateRJ(2, 3, 1)
        elif kind == 3:
            pdu = AReleaseRQ()
        elif kind == 4:
            pdu = AReleaseRP()
        elif kind == 5:
            pdu = AAbort(2, rng.choice([0, 1, 2, 4, 5, 6]))
        else:
            pdu = PDataTF([PDV(rng.randrange(1, 256, 2), rng.random() < 0.5, rng.random() < 0.5,
                               rng.randbytes(rng.choice([0, 1, 100, 5000, 70000])))
                           for _ in range(rng.randrange(1, 4))])
        pdus.append(pdu.encode())
    return pdus


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("as_bytes", [True, False])
def test_stream_of_mixed_pdus_in_random_chunks(seed, as_bytes):
    rng = random.Random(seed)
    pdus = mixed_pdus(rng, 100)
    stream = b"".join(pdus)
    reader = PDUReader(max_pdu_length=1 << 18)
    got = []
    pos = 0
    while pos < len(stream):
        n = rng.choice([1, 2, 5, 6, 7, 64, 1000, rng.randrange(1, 200000)])
        chunk = stream[pos:pos + n]
        reader.feed(chunk if as_bytes else bytearray(chunk))
        pos += n
        got.extend(drain(reader))
    assert [bytes(view) for _, view in got] == pdus
    assert [t for t, _ in got] == [p[0] for p in pdus]
    assert reader.at_pdu_boundary and reader.buffered == 0
    # every view stays valid and decodes after the reader moved on
    assert [decode_pdu(view).encode() for _, view in got] == pdus


def test_one_feed_many_pdus_and_one_byte_at_a_time():
    pdus = mixed_pdus(random.Random(99), 30)
    reader = PDUReader()
    reader.feed(b"".join(pdus))
    assert [bytes(v) for _, v in drain(reader)] == pdus
    reader = PDUReader()
    stream = b"".join(pdus[:10])
    for i in range(len(stream)):
        reader.feed(stream[i:i + 1])
        if i == 3:
            assert reader.next_pdu() is None and reader.buffered == 4 and not reader.at_pdu_boundary
    assert [bytes(v) for _, v in drain(reader)] == pdus[:10]


def test_views_are_read_only_and_independent_of_the_callers_buffer():
    wire = AReleaseRQ().encode() + AAbort().encode()
    buf = bytearray(wire)
    reader = PDUReader()
    reader.feed(buf)
    buf[:] = bytes(len(buf))  # the caller reuses its receive buffer
    (t1, v1), (t2, v2) = drain(reader)
    assert (t1, t2) == (5, 7) and bytes(v1) + bytes(v2) == wire
    assert v1.readonly and v2.readonly


def test_whole_pdu_in_a_bytes_chunk_is_not_copied():
    wire = PDataTF([PDV(1, False, True, bytes(1000))]).encode()
    reader = PDUReader()
    chunk = wire + AReleaseRQ().encode()
    reader.feed(chunk)
    (_, view), (_, release) = drain(reader)
    assert view.obj is chunk and release.obj is chunk and bytes(view) == wire


def test_read_pdu_header():
    assert read_pdu_header(H("04 00 00010000 ff")) == (4, 0x10000)
    assert read_pdu_header(memoryview(H("01 ff ffffffff"))) == (1, 0xFFFFFFFF)
    with pytest.raises(PDUError) as info:
        read_pdu_header(H("04 00 0000"))
    assert info.value.abort_reason == ABORT_INVALID_PDU_PARAMETER_VALUE


def test_pdata_over_max_length():
    reader = PDUReader(max_pdu_length=16384)
    ok = PDataTF.header_for_single_pdv(1, False, True, 16384 - 6) + bytes(16384 - 6)
    big = PDataTF.header_for_single_pdv(1, False, True, 16384 - 5)  # PDU-length 16385
    reader.feed(ok + big)  # the error surfaces after the good PDU, in stream order
    assert bytes(reader.next_pdu()[1]) == ok
    with pytest.raises(PDUError) as info:
        reader.next_pdu()
    assert info.value.abort_reason == ABORT_INVALID_PDU_PARAMETER_VALUE
    assert "16385" in str(info.value)
    reader.feed(AReleaseRQ().encode())  # a failed reader stays failed
    with pytest.raises(PDUError):
        reader.next_pdu()


def test_max_length_applies_to_pdata_only_and_other_cap():
    reader = PDUReader(max_pdu_length=100)
    rq = AAssociateRQ("A", "B", [PresentationContextRQ(1, "1.2", ["1.2"] * 30)], UI).encode()
    assert len(rq) > 106
    reader.feed(rq)
    assert bytes(reader.next_pdu()[1]) == rq
    capped = PDUReader(max_other_length=1000)
    capped.feed(H("01 00 000003e9"))  # an A-ASSOCIATE-RQ claiming 1001 bytes
    with pytest.raises(PDUError) as info:
        capped.next_pdu()
    assert info.value.abort_reason == ABORT_INVALID_PDU_PARAMETER_VALUE
    default = PDUReader()
    default.feed(H("02 00 00100001"))  # over the 1 MiB default for A-ASSOCIATE-AC
    with pytest.raises(PDUError):
        default.next_pdu()


@pytest.mark.parametrize("header", [H("08 00 00000004"), H("00 00 00000000"), H("ff 00 ffffffff")])
def test_unknown_pdu_type(header):
    reader = PDUReader()
    for b in header:  # detected as soon as the header is complete, before any body
        reader.feed(bytes([b]))
    with pytest.raises(PDUError) as info:
        reader.next_pdu()
    assert info.value.abort_reason == ABORT_UNRECOGNIZED_PDU


def test_zero_length_pdu_is_framed_and_left_to_the_decoder():
    reader = PDUReader()
    reader.feed(H("05 00 00000000 06 00"))
    t, view = reader.next_pdu()
    assert (t, bytes(view)) == (5, H("05 00 00000000"))
    assert reader.next_pdu() is None and reader.buffered == 2
    with pytest.raises(PDUError):
        decode_pdu(view)


def test_lying_header_without_limit_allocates_nothing_large():
    tracemalloc.start()
    try:
        reader = PDUReader(max_pdu_length=0)
        reader.feed(H("04 00 ffffffff 00"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * MiB  # PREALLOCATE_LIMIT, not 4 GiB
    assert reader.buffered == 7


@pytest.mark.parametrize("max_pdu_length,limit", [(64 * MiB + 6, 72 * MiB), (0, 100 * MiB)])
def test_64_mib_pdata_in_1_mib_pieces_copied_once(max_pdu_length, limit):
    payload_len = 64 * MiB
    head = PDataTF.header_for_single_pdv(1, False, True, payload_len)
    payload = random.Random(1).randbytes(payload_len)
    pieces = [head] + [memoryview(payload)[i:i + MiB] for i in range(0, payload_len, MiB)]
    reader = PDUReader(max_pdu_length=max_pdu_length)
    tracemalloc.start()
    try:
        for piece in pieces:
            reader.feed(piece)
        t, view = reader.next_pdu()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # bounded limit: one 64 MiB buffer filled in place; no limit: 16 MiB, then 64 MiB (< 2x)
    assert peak < limit, peak / MiB
    assert t == 4 and len(view) == 12 + payload_len
    pdu = decode_pdu(view)
    assert pdu.pdvs[0].data == payload and pdu.pdvs[0].data.obj is view.obj
