"""Command Set encoding/decoding: byte-exact against pydicom's Implicit VR LE writer."""

import struct

import pytest
from pydicom.datadict import DicomDictionary
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dicomtls.dimse.commands import (
    COMMAND_ELEMENTS, NO_DATASET, TAG_BY_KEYWORD, CommandSet, CommandTag,
)
from dicomtls.errors import DIMSEError, LocalProtocolError


def pydicom_bytes(**elements) -> bytes:
    """What pydicom writes for these keyword elements, group length included and computed."""
    ds = Dataset()
    for kw, value in elements.items():
        setattr(ds, kw, value)
    ds.CommandGroupLength = 0
    first = _write(ds)
    ds.CommandGroupLength = len(first) - 12
    return _write(ds)


def _write(ds) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, ds)
    return fp.getvalue()


def elem(element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, element, len(value)) + value


def with_group_length(body: bytes) -> bytes:
    return elem(0, struct.pack("<I", len(body))) + body


# ---- the dictionary -------------------------------------------------------------------------

def test_dictionary_matches_pydicom_annex_e():
    """Every non-retired group-0000 element of pydicom's dictionary (PS3.7 Annex E), same VR/VM
    and keyword, and nothing else."""
    current = {tag: entry for tag, entry in DicomDictionary.items()
               if tag >> 16 == 0 and entry[3] != "Retired"}
    assert set(current) == set(COMMAND_ELEMENTS)
    for tag, (vr, vm, _name, _retired, keyword) in current.items():
        ours = COMMAND_ELEMENTS[tag]
        assert (ours.vr, ours.vm, ours.keyword) == (vr, vm, keyword), hex(tag)
    assert TAG_BY_KEYWORD["MessageID"] == 0x0110


# ---- encoding, byte-exact -------------------------------------------------------------------

CASES = [
    # odd-length UI (NUL pad), even-length UI, US
    dict(AffectedSOPClassUID="1.2.840.10008.1.1", CommandField=0x30, MessageID=1,
         CommandDataSetType=NO_DATASET),
    dict(AffectedSOPClassUID="1.2.840.10008.5.1.4.1.1.2", AffectedSOPInstanceUID="1.2.3.44",
         CommandField=1, MessageID=65535, Priority=2, CommandDataSetType=1,
         MoveOriginatorApplicationEntityTitle="ODD", MoveOriginatorMessageID=0),
    # AE odd and 16 long, LO odd, AT single and multi
    dict(CommandField=0x8021, MessageIDBeingRespondedTo=9, CommandDataSetType=NO_DATASET,
         Status=0xC001, OffendingElement=[0x00100010, 0x7FE00010], ErrorComment="bad thing",
         ErrorID=3),
    dict(CommandField=0x21, MessageID=2, MoveDestination="SIXTEEN_CHARS_AE",
         AffectedSOPClassUID="1.2", Priority=1, CommandDataSetType=0),
    dict(CommandField=0x110, MessageID=3, RequestedSOPClassUID="1.2.3",
         RequestedSOPInstanceUID="1.2.3.4.5", AttributeIdentifierList=0x00280010,
         CommandDataSetType=NO_DATASET),
    dict(CommandField=0x8010, MessageIDBeingRespondedTo=4, Status=0xFF00,
         NumberOfRemainingSuboperations=10, NumberOfCompletedSuboperations=1,
         NumberOfFailedSuboperations=2, NumberOfWarningSuboperations=3,
         CommandDataSetType=NO_DATASET, EventTypeID=5, ActionTypeID=6),
    # zero-length values
    dict(CommandField=0x8030, MessageIDBeingRespondedTo=1, Status=0, ErrorComment="",
         ErrorID=None, CommandDataSetType=NO_DATASET),
]


@pytest.mark.parametrize("elements", CASES)
def test_encode_is_byte_identical_to_pydicom(elements):
    cs = CommandSet(**{kw: (tuple(v) if isinstance(v, list) else v)
                       for kw, v in elements.items()})
    assert cs.encode() == pydicom_bytes(**elements)


@pytest.mark.parametrize("elements", CASES)
def test_decode_pydicom_bytes(elements):
    cs = CommandSet.decode(pydicom_bytes(**elements))
    for kw, value in elements.items():
        got = cs.get_keyword(kw)
        if isinstance(value, list):
            value = tuple(value)
        elif kw in ("OffendingElement", "AttributeIdentifierList"):
            value = (value,)
        elif value is None:
            value = None
        assert got == value, kw
    assert len(cs) == len(elements)
    assert cs.encode() == pydicom_bytes(**elements)


def test_group_length_is_computed_and_first():
    data = CommandSet({CommandTag.CommandField: 0x30}).encode()
    assert data == with_group_length(elem(0x100, b"\x30\x00"))
    assert struct.unpack_from("<I", data, 8)[0] == len(data) - 12


def test_iteration_is_tag_order_and_padding():
    cs = CommandSet()
    cs[CommandTag.MessageID] = 1
    cs[CommandTag.AffectedSOPClassUID] = "1.2.3"
    cs[CommandTag.MoveDestination] = "AE1"
    cs[CommandTag.ErrorComment] = "abc"
    assert list(cs) == [0x0002, 0x0110, 0x0600, 0x0902]
    assert cs.raw(0x0002) == b"1.2.3\x00"
    assert cs.raw(0x0600) == b"AE1 "
    assert cs.raw(0x0902) == b"abc "


def test_unknown_element_kept_raw_and_round_trips():
    # (0000,0010) Command Recognition Code is retired; (0000,5555) was never defined
    body = (elem(0x0010, b"RECOG ") + elem(0x0100, b"\x30\x00")
            + elem(0x0800, b"\x01\x01") + elem(0x5555, b"\x01\x02\x03\x04"))
    data = with_group_length(body)
    cs = CommandSet.decode(data)
    assert cs[0x0010] == b"RECOG "
    assert cs[0x5555] == b"\x01\x02\x03\x04"
    assert cs.encode() == data


def test_decode_accepts_memoryview_and_bytearray():
    data = CommandSet(CommandField=1, MessageID=2).encode()
    assert CommandSet.decode(memoryview(data)) == CommandSet.decode(bytearray(data))


def test_equality_and_mapping_behaviour():
    a = CommandSet(MessageID=1, CommandField=0x30)
    b = CommandSet({0x0100: 0x30, 0x0110: 1})
    assert a == b
    del b[0x0110]
    assert a != b and 0x0110 not in b and len(b) == 1


def test_decoded_values_strip_padding():
    body = (elem(0x0002, b"1.2\x00") + elem(0x0600, b"DEST  ")
            + elem(0x0901, b"\x10\x00\x10\x00\x08\x00\x18\x00") + elem(0x0902, b"x y "))
    cs = CommandSet.decode(with_group_length(body))
    assert cs[0x0002] == "1.2"
    assert cs[0x0600] == "DEST"
    assert cs[0x0902] == "x y"
    assert cs[0x0901] == (0x00100010, 0x00080018)


def test_non_ascii_error_comment_round_trips():
    body = elem(0x0902, b"caf\xe9 ")
    data = with_group_length(body)
    assert CommandSet.decode(data).encode() == data


def test_has_dataset():
    assert not CommandSet(CommandDataSetType=NO_DATASET).has_dataset
    assert CommandSet(CommandDataSetType=0).has_dataset
    assert CommandSet(CommandDataSetType=0xFEFE).has_dataset
    with pytest.raises(DIMSEError):
        CommandSet().has_dataset


# ---- strict decoding ------------------------------------------------------------------------

GOOD_BODY = elem(0x0100, b"\x30\x00") + elem(0x0110, b"\x01\x00")


@pytest.mark.parametrize("data, match", [
    (b"", "does not start with Command Group Length"),
    (with_group_length(GOOD_BODY)[:-1], "truncated"),          # value cut short
    (with_group_length(GOOD_BODY)[:-5], "truncated"),          # header cut short
    (with_group_length(GOOD_BODY)[:7], "truncated"),
    (with_group_length(GOOD_BODY + b"\x08\x00\x18\x00\x00\x00\x00\x00"), "not in the command group"),
    (elem(0, struct.pack("<I", len(GOOD_BODY) + 2)) + GOOD_BODY, "Command Group Length"),
    (elem(0, struct.pack("<I", len(GOOD_BODY) - 2)) + GOOD_BODY, "Command Group Length"),
    (GOOD_BODY, "does not start with Command Group Length"),
    # the group length must come first (tags ascend); here an element precedes it
    (GOOD_BODY[:10] + with_group_length(GOOD_BODY[10:]), "out of order"),
    (with_group_length(elem(0x0110, b"\x01\x00") + elem(0x0100, b"\x30\x00")), "out of order"),
    (with_group_length(elem(0x0100, b"\x30\x00") + elem(0x0100, b"\x30\x00")), "repeated"),
    (with_group_length(struct.pack("<HHI", 0, 0x0902, 0xFFFFFFFF)), "undefined length"),
    (with_group_length(elem(0x0100, b"\x30\x00\x00\x00")), "US value is 4 bytes"),
    (with_group_length(elem(0x0901, b"\x10\x00")), "AT value is 2 bytes"),
    (with_group_length(elem(0x0002, b"1.\xff\x00")), "not ASCII"),
    (elem(0, b"\x00\x00") + GOOD_BODY, "UL value is 2 bytes"),
    (elem(0, b"") + GOOD_BODY, "empty"),
])
def test_decode_rejects(data, match):
    with pytest.raises(DIMSEError, match=match):
        CommandSet.decode(data)


def test_empty_command_set_decodes():
    assert len(CommandSet.decode(elem(0, b"\x00\x00\x00\x00"))) == 0


def test_odd_length_value_is_accepted_and_preserved():
    data = with_group_length(elem(0x0002, b"1.2.3"))
    cs = CommandSet.decode(data)
    assert cs[0x0002] == "1.2.3"
    assert cs.encode() == data


# ---- local misuse ---------------------------------------------------------------------------

@pytest.mark.parametrize("tag, value", [
    (CommandTag.MessageID, 65536),
    (CommandTag.MessageID, -1),
    (CommandTag.MessageID, "1"),
    (CommandTag.MessageID, True),
    (CommandTag.AffectedSOPClassUID, 5),
    (CommandTag.AffectedSOPClassUID, "1.2.é"),
    (CommandTag.AffectedSOPClassUID, "1." * 33),
    (CommandTag.MoveDestination, "SEVENTEEN_CHARS_X"),
    (CommandTag.ErrorComment, "a\\b"),
    (CommandTag.OffendingElement, (0x100000000,)),
    (CommandTag.OffendingElement, ("x",)),
    (0x5555, 5),                       # unknown elements need raw bytes
    (0x00080018, "1.2"),               # not group 0000
    (CommandTag.CommandGroupLength, 4),
])
def test_set_rejects(tag, value):
    cs = CommandSet()
    with pytest.raises(LocalProtocolError):
        cs[tag] = value
    assert tag not in cs


def test_unknown_keyword_rejected():
    with pytest.raises(LocalProtocolError):
        CommandSet(NotAKeyword=1)
