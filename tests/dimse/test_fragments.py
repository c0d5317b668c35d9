"""PDV fragmentation (sizes, flags, zero copy) and the receiving MessageAssembler."""

import math
import random
from io import BytesIO

import pytest
from pynetdicom import dimse_messages as pnd_messages
from pynetdicom import dimse_primitives as pnd_primitives

from dicomtls.dimse import messages as M
from dicomtls.dimse.fragments import (
    DEFAULT_FRAGMENT_LENGTH, CommandComplete, DatasetComplete, DatasetFragment,
    MessageAssembler, control_header, iter_fragments, max_fragment_length,
    parse_control_header,
)
from dicomtls.errors import DIMSEError, LocalProtocolError

STORE = M.C_STORE_RQ(message_id=1, affected_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                     affected_sop_instance_uid="1.2.3.4.5")
ECHO = M.C_ECHO_RQ(message_id=2, affected_sop_class_uid="1.2.840.10008.1.1")
CMD = STORE.encode()
ECHO_CMD = ECHO.encode()

PDU_LENGTHS = [0, 16384, 4096, 7, 8, 9, 13, 257, 1 << 20]


def dataset(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def random_chunks(data: bytes, seed: int) -> list:
    """Split ``data`` into uneven chunks, some empty, some bytearray / memoryview."""
    rng, out, off = random.Random(seed), [], 0
    while off < len(data):
        step = rng.choice([0, 1, 5, 100, 4090, 70000])
        piece = data[off:off + step]
        out.append(rng.choice([bytes, bytearray, memoryview])(piece))
        off += step
    return out


def check_stream(frags, command, data, max_pdu):
    limit = DEFAULT_FRAGMENT_LENGTH if max_pdu == 0 else max_pdu - 6
    kinds = [f.is_command for f in frags]
    n_cmd = kinds.count(True)
    assert kinds == [True] * n_cmd + [False] * (len(frags) - n_cmd), "commands before data"
    cmd, dat = frags[:n_cmd], frags[n_cmd:]
    assert [f.is_last for f in cmd] == [False] * (n_cmd - 1) + [True]
    assert b"".join(f.data for f in cmd) == command
    assert all(isinstance(f.data, memoryview) for f in frags)
    assert all(len(f.data) <= limit for f in frags)
    assert all(f.context_id == 3 for f in frags)
    if data is None:
        assert dat == []
    else:
        assert [f.is_last for f in dat] == [False] * (len(dat) - 1) + [True]
        assert b"".join(f.data for f in dat) == data
        assert all(len(f.data) for f in dat[:-1]), "no empty fragment except a lone last one"


@pytest.mark.parametrize("max_pdu", PDU_LENGTHS)
@pytest.mark.parametrize("size_kind", ["zero", "one", "exact", "exact+1", "several", "big"])
def test_fragments_from_bytes(max_pdu, size_kind):
    frag = DEFAULT_FRAGMENT_LENGTH if max_pdu == 0 else max_pdu - 6
    n = {"zero": 0, "one": 1, "exact": frag, "exact+1": frag + 1,
         "several": 3 * frag + 2,
         # tiny PDUs would make millions of one-byte fragments; 20 kB makes the point
         "big": 2_500_001 if max_pdu == 0 or max_pdu > 100 else 20_001}[size_kind]
    data = dataset(n)
    frags = list(iter_fragments(3, CMD, data, max_pdu))
    check_stream(frags, CMD, data, max_pdu)
    n_cmd = math.ceil(len(CMD) / frag)
    assert len(frags) == n_cmd + max(1, math.ceil(n / frag)), "as few fragments as possible"


@pytest.mark.parametrize("max_pdu", PDU_LENGTHS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fragments_from_chunks(max_pdu, seed):
    data = dataset(150_000 if max_pdu == 0 or max_pdu > 100 else 3000, seed)
    chunks = random_chunks(data, seed)
    frags = list(iter_fragments(3, CMD, iter(chunks), max_pdu))
    check_stream(frags, CMD, data, max_pdu)


@pytest.mark.parametrize("max_pdu", PDU_LENGTHS)
def test_no_dataset(max_pdu):
    frags = list(iter_fragments(3, ECHO_CMD, None, max_pdu))
    check_stream(frags, ECHO_CMD, None, max_pdu)


@pytest.mark.parametrize("source", [b"", [], [b"", bytearray()], memoryview(b"")])
def test_zero_length_dataset_gives_one_empty_last_fragment(source):
    frags = list(iter_fragments(3, CMD, source, 4096))
    assert [(f.is_command, f.is_last, bytes(f.data)) for f in frags] == [
        (True, True, CMD), (False, True, b"")]


def test_max_pdu_7_gives_one_byte_fragments():
    frags = list(iter_fragments(1, b"\x01\x02\x03\x04", b"abc", 7))
    assert [(f.is_command, f.is_last, bytes(f.data)) for f in frags] == [
        (True, False, b"\x01"), (True, False, b"\x02"), (True, False, b"\x03"),
        (True, True, b"\x04"),
        (False, False, b"a"), (False, False, b"b"), (False, True, b"c")]


def test_zero_copy():
    data = bytearray(dataset(20_000))
    frags = list(iter_fragments(1, CMD, data, 4096))
    for f in frags[1:]:
        assert f.data.obj is data
    data[0] ^= 0xFF                      # visible through the fragment: it was not copied
    assert frags[1].data[0] == data[0]
    chunk = bytes(5000)
    frags = list(iter_fragments(1, CMD, [chunk], 4096))
    assert all(f.data.obj is chunk for f in frags[1:])


def test_memoryview_of_other_format_is_sliced_in_bytes():
    import array
    words = array.array("H", range(3000))
    frags = list(iter_fragments(1, CMD, memoryview(words), 1006))
    assert b"".join(f.data for f in frags[1:]) == words.tobytes()
    assert all(len(f.data) <= 1000 for f in frags)


def test_matches_pynetdicom_encode_msg():
    """Same PDVs (control header + fragment) as pynetdicom for the same message and limit."""
    data = dataset(10_000)
    for max_pdu in (16384, 4096, 1000, 7):
        prim = pnd_primitives.C_STORE()
        prim.MessageID = STORE.message_id
        prim.AffectedSOPClassUID = STORE.affected_sop_class_uid
        prim.AffectedSOPInstanceUID = STORE.affected_sop_instance_uid
        prim.Priority = STORE.priority
        prim.DataSet = BytesIO(data)
        pmsg = pnd_messages.C_STORE_RQ()
        pmsg.primitive_to_message(prim)
        theirs = [pdv for p in pmsg.encode_msg(1, max_pdu)
                  for pdv in p.presentation_data_value_list]
        ours = [(f.context_id, bytes([control_header(f.is_command, f.is_last)]) + f.data)
                for f in iter_fragments(1, CMD, data, max_pdu)]
        assert ours == theirs, max_pdu


def test_max_fragment_length():
    assert max_fragment_length(0) == DEFAULT_FRAGMENT_LENGTH == 1 << 20
    assert max_fragment_length(16384) == 16378
    assert max_fragment_length(7) == 1
    for bad in (1, 6, -1, "16384", None):
        with pytest.raises(LocalProtocolError):
            max_fragment_length(bad)


@pytest.mark.parametrize("ctx", [0, 2, 256, -1, "1"])
def test_bad_context_id_fails_at_call(ctx):
    with pytest.raises(LocalProtocolError):
        iter_fragments(ctx, CMD, None, 0)


def test_bad_inputs_fail_at_call():
    with pytest.raises(LocalProtocolError):
        iter_fragments(1, b"", None, 0)
    with pytest.raises(LocalProtocolError):
        iter_fragments(1, "text", None, 0)
    with pytest.raises(LocalProtocolError):
        iter_fragments(1, CMD, None, 6)
    with pytest.raises(LocalProtocolError):
        iter_fragments(1, CMD, "text", 0)
    with pytest.raises(LocalProtocolError):
        list(iter_fragments(1, CMD, [memoryview(bytes(10))[::2]], 0))   # not contiguous
    gen = iter_fragments(1, CMD, ["not bytes"], 0)
    with pytest.raises(LocalProtocolError):
        list(gen)


def test_control_header():
    assert [control_header(c, l) for c in (False, True) for l in (False, True)] == [0, 2, 1, 3]
    assert parse_control_header(0xFC | 3) == (True, True)    # reserved bits ignored
    assert parse_control_header(0xFC) == (False, False)
    assert parse_control_header(0x02) == (False, True)


# ---- MessageAssembler -----------------------------------------------------------------------

def feed_all(asm, frags):
    events = []
    for f in frags:
        events += asm.feed(f.context_id, f.is_command, f.is_last, f.data)
    return events


@pytest.mark.parametrize("max_pdu", [0, 16384, 4096, 7])
def test_assembler_round_trip(max_pdu):
    data = dataset(5000 if max_pdu == 7 else 100_000)
    asm = MessageAssembler()
    events = feed_all(asm, iter_fragments(5, CMD, data, max_pdu))
    assert isinstance(events[0], CommandComplete)
    assert events[0].message == STORE and events[0].context_id == 5
    assert events[0].command_set.encode() == CMD
    frags = events[1:-1]
    assert all(isinstance(e, DatasetFragment) for e in frags)
    assert [e.is_last for e in frags] == [False] * (len(frags) - 1) + [True]
    assert b"".join(e.data for e in frags) == data
    assert isinstance(events[-1], DatasetComplete)
    assert events[-1].message == STORE and events[-1].data is None
    assert asm.idle


def test_assembler_passes_memoryviews_through():
    asm = MessageAssembler()
    asm.feed(1, True, True, CMD)
    buf = bytearray(b"payload")
    (ev, done) = asm.feed(1, False, True, buf)
    assert ev.data.obj is buf and isinstance(ev.data, memoryview)
    assert done == DatasetComplete(1, STORE, None)


def test_assembler_accumulates_when_asked():
    data = dataset(30_000)
    asm = MessageAssembler(accumulate_dataset=True)
    events = feed_all(asm, iter_fragments(1, CMD, data, 4096))
    assert events[-1].data == data
    events = feed_all(asm, iter_fragments(1, CMD, b"", 4096))   # zero-length data set
    assert events[-1].data == b""


def test_assembler_sequence_of_messages():
    asm = MessageAssembler()
    events = feed_all(asm, iter_fragments(1, ECHO_CMD, None, 64))
    assert [type(e) for e in events] == [CommandComplete]
    assert events[0].message == ECHO and not events[0].message.has_dataset
    assert asm.idle and asm.context_id is None
    events = feed_all(asm, iter_fragments(3, CMD, b"xy", 64))
    assert [type(e) for e in events] == [CommandComplete, DatasetFragment, DatasetComplete]
    # the next message may use another presentation context
    events = feed_all(asm, iter_fragments(5, ECHO_CMD, None, 64))
    assert events[0].context_id == 5


def test_assembler_state_properties():
    asm = MessageAssembler()
    asm.feed(7, True, False, CMD[:10])
    assert not asm.idle and asm.context_id == 7 and asm.message is None
    asm.feed(7, True, True, CMD[10:])
    assert asm.message == STORE
    asm.feed(7, False, True, b"")
    assert asm.idle and asm.message is None


def test_command_copy_survives_buffer_reuse():
    asm = MessageAssembler()
    buf = bytearray(CMD[:20])
    asm.feed(1, True, False, buf)
    buf[:] = b"\xff" * 20                 # the UL reuses its buffer
    (ev,) = asm.feed(1, True, True, CMD[20:])
    assert ev.message == STORE


def error_case(steps, match):
    asm = MessageAssembler()
    with pytest.raises(DIMSEError, match=match):
        for step in steps:
            asm.feed(*step)
    # an assembler that failed stays failed
    with pytest.raises(DIMSEError, match="failed earlier"):
        asm.feed(1, True, True, ECHO_CMD)


def test_error_data_before_any_command():
    error_case([(1, False, True, b"data")], "before any command")


def test_error_data_before_command_complete():
    error_case([(1, True, False, CMD[:10]), (1, False, True, b"data")],
               "before the command set was complete")


def test_error_data_after_dataless_command():
    error_case([(1, True, True, ECHO_CMD), (1, False, True, b"data")], "before any command")


def test_error_context_changes_mid_command():
    error_case([(1, True, False, CMD[:10]), (3, True, True, CMD[10:])], "context 3")


def test_error_context_changes_mid_dataset():
    error_case([(1, True, True, CMD), (1, False, False, b"a"), (3, False, True, b"b")],
               "context 3")


def test_error_context_changes_between_command_and_data():
    error_case([(1, True, True, CMD), (3, False, True, b"b")], "context 3")


def test_error_command_fragment_after_data():
    error_case([(1, True, True, CMD), (1, False, False, b"a"), (1, True, True, ECHO_CMD)],
               "command fragment after")


def test_error_command_fragment_instead_of_data():
    error_case([(1, True, True, CMD), (1, True, True, ECHO_CMD)], "command fragment after")


def test_error_malformed_command():
    error_case([(1, True, True, CMD[:-1])], "truncated|Group Length")


def test_error_invalid_message():
    bad = M.C_ECHO_RQ(message_id=1, affected_sop_class_uid="1.2").to_command_set()
    del bad[0x0002]
    error_case([(1, True, True, bad.encode())], "AffectedSOPClassUID")


def test_error_command_too_long():
    asm = MessageAssembler(max_command_length=100)
    asm.feed(1, True, False, bytes(60))
    with pytest.raises(DIMSEError, match="longer than 100"):
        asm.feed(1, True, False, bytes(60))
