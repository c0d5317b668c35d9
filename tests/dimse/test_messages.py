"""DIMSE messages: byte-exact against pynetdicom for every message type, and field validation."""

from io import BytesIO

import pytest
from pynetdicom import dimse_messages as pnd_messages
from pynetdicom import dimse_primitives as pnd_primitives
from pynetdicom.dsutils import encode as pnd_encode

from dicomtls.dimse import messages as M
from dicomtls.dimse.commands import NO_DATASET, CommandSet, CommandTag
from dicomtls.dimse.messages import (
    _FIELD_TAGS, MESSAGE_TYPES, DIMSEMessage, decode_message, message_from_command_set,
)
from dicomtls.errors import DIMSEError, LocalProtocolError

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"        # even length
SOP_INSTANCE = "1.2.826.0.1.3680043.9.1234.1"   # odd length: NUL padding

# A value per field, chosen to exercise padding (odd-length UI/AE/LO) and multi-valued AT.
VALUES = {
    "affected_sop_class_uid": SOP_CLASS,
    "requested_sop_class_uid": "1.2.840.10008.5.1.1.1",
    "message_id": 513,
    "message_id_being_responded_to": 77,
    "move_destination": "STORE_SCP",
    "priority": M.Priority.HIGH,
    "offending_element": (0x00100010, 0x00100020),
    "error_comment": "Something odd",
    "error_id": 42,
    "affected_sop_instance_uid": SOP_INSTANCE,
    "requested_sop_instance_uid": "1.2.3.4.5.6",
    "event_type_id": 2,
    "attribute_identifier_list": (0x00080018, 0x00100010, 0x7FE00010),
    "action_type_id": 1,
    "number_of_remaining_suboperations": 5,
    "number_of_completed_suboperations": 6,
    "number_of_failed_suboperations": 7,
    "number_of_warning_suboperations": 8,
    "move_originator_application_entity_title": "MOVE_SCU",
    "move_originator_message_id": 3,
}

PRIMITIVES = {  # message class -> pynetdicom primitive
    "C_ECHO": pnd_primitives.C_ECHO, "C_STORE": pnd_primitives.C_STORE,
    "C_FIND": pnd_primitives.C_FIND, "C_GET": pnd_primitives.C_GET,
    "C_MOVE": pnd_primitives.C_MOVE, "C_CANCEL": pnd_primitives.C_CANCEL,
    "N_EVENT_REPORT": pnd_primitives.N_EVENT_REPORT, "N_GET": pnd_primitives.N_GET,
    "N_SET": pnd_primitives.N_SET, "N_ACTION": pnd_primitives.N_ACTION,
    "N_CREATE": pnd_primitives.N_CREATE, "N_DELETE": pnd_primitives.N_DELETE,
}
ALL = sorted(MESSAGE_TYPES.values(), key=lambda c: c.command_field)


def keyword(field_name: str) -> str:
    return CommandTag(_FIELD_TAGS[field_name]).name


def full_message(cls, status=None, **over) -> DIMSEMessage:
    """Every field filled in; a data set when the message may carry one."""
    kwargs = {n: VALUES[n] for n in cls.element_fields() if n != "status"}
    if "status" in cls.__dataclass_fields__:
        kwargs["status"] = 0xFF00 if status is None else status
    kwargs["has_dataset"] = cls.dataset_usage != "-"
    kwargs.update(over)
    return cls(**kwargs)


def minimal_message(cls) -> DIMSEMessage:
    kwargs = {n: VALUES.get(n) for n in cls.required if n != "status"}
    if "status" in cls.required:
        kwargs["status"] = 0x0000
    kwargs["has_dataset"] = cls.dataset_usage == "M"
    return cls(**kwargs)


def pynetdicom_bytes(msg: DIMSEMessage) -> bytes:
    """Encode the same message with pynetdicom: primitive -> DIMSEMessage -> pydicom bytes."""
    cls_name = type(msg).__name__
    primitive = PRIMITIVES[cls_name.rsplit("_", 1)[0]]()
    for name in msg.element_fields():
        value = getattr(msg, name)
        if value is not None:
            setattr(primitive, keyword(name), list(value) if isinstance(value, tuple) else value)
    for name in ("message_id", "message_id_being_responded_to", "status"):
        if getattr(msg, name, None) is not None:
            setattr(primitive, keyword(name), getattr(msg, name))
    if msg.has_dataset:
        setattr(primitive, pnd_messages._DATASET_KEYWORDS[cls_name], BytesIO(b"\x08\x00"))
    pmsg = getattr(pnd_messages, cls_name)()
    pmsg.primitive_to_message(primitive)
    return pnd_encode(pmsg.command_set, True, True)


# ---- the message catalogue ------------------------------------------------------------------

def test_command_field_values():
    expected = {
        "C-STORE-RQ": 0x0001, "C-GET-RQ": 0x0010, "C-FIND-RQ": 0x0020, "C-MOVE-RQ": 0x0021,
        "C-ECHO-RQ": 0x0030, "N-EVENT-REPORT-RQ": 0x0100, "N-GET-RQ": 0x0110,
        "N-SET-RQ": 0x0120, "N-ACTION-RQ": 0x0130, "N-CREATE-RQ": 0x0140,
        "N-DELETE-RQ": 0x0150,
    }
    names = {cls.name: cls.command_field for cls in ALL}
    for name, cf in expected.items():
        assert names[name] == cf
        assert names[name.replace("-RQ", "-RSP")] == cf | 0x8000
    assert names["C-CANCEL-RQ"] == 0x0FFF
    assert len(names) == 23
    for cls in ALL:
        assert cls.__name__ == cls.name.replace("-", "_")
        assert cls.is_request == (not cls.command_field & 0x8000)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_fields_match_pynetdicom_tables(cls):
    """Independent cross-check of which elements each message carries (PS3.7 9.3 / 10.3)."""
    theirs = set(pnd_messages._COMMAND_SET_KEYWORDS[cls.name])
    theirs -= {"CommandGroupLength", "CommandField", "CommandDataSetType"}
    assert {keyword(n) for n in cls.element_fields()} == theirs


# ---- byte-exact against pynetdicom ----------------------------------------------------------

@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_full_message_bytes_match_pynetdicom(cls):
    msg = full_message(cls)
    assert msg.encode() == pynetdicom_bytes(msg)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_minimal_message_bytes_match_pynetdicom(cls):
    msg = minimal_message(cls)
    assert msg.encode() == pynetdicom_bytes(msg)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_decode_pynetdicom_bytes(cls):
    msg = full_message(cls)
    decoded = decode_message(pynetdicom_bytes(msg))
    assert type(decoded) is cls
    assert decoded == msg
    assert decoded.extra == {}


@pytest.mark.parametrize("cls", [c for c in ALL if c.dataset_usage == "U"], ids=lambda c: c.name)
def test_optional_dataset_both_ways(cls):
    for has in (False, True):
        msg = full_message(cls, has_dataset=has)
        assert msg.encode() == pynetdicom_bytes(msg)
        assert decode_message(msg.encode()).has_dataset is has


# ---- required fields ------------------------------------------------------------------------

REQUIRED_CASES = [(cls, name) for cls in ALL for name in cls.required]


@pytest.mark.parametrize("cls, name", REQUIRED_CASES,
                         ids=[f"{c.name}-{n}" for c, n in REQUIRED_CASES])
def test_missing_required_field_from_wire(cls, name):
    cs = minimal_message(cls).to_command_set()
    del cs[_FIELD_TAGS[name]]
    with pytest.raises(DIMSEError, match=keyword(name)):
        message_from_command_set(cs)


@pytest.mark.parametrize("cls, name", REQUIRED_CASES,
                         ids=[f"{c.name}-{n}" for c, n in REQUIRED_CASES])
def test_missing_required_field_locally(cls, name):
    msg = minimal_message(cls)
    setattr(msg, name, None)
    with pytest.raises(LocalProtocolError, match=keyword(name)):
        msg.encode()


def test_empty_required_value_counts_as_missing():
    cs = minimal_message(M.C_STORE_RQ).to_command_set()
    cs[CommandTag.AffectedSOPInstanceUID] = ""
    with pytest.raises(DIMSEError, match="AffectedSOPInstanceUID"):
        message_from_command_set(cs)
    cs = minimal_message(M.C_ECHO_RQ).to_command_set()
    cs[CommandTag.MessageID] = None          # present, zero length
    with pytest.raises(DIMSEError, match="MessageID"):
        message_from_command_set(cs)


def test_required_tables_spot_checks():
    assert set(M.C_STORE_RQ.required) == {"affected_sop_class_uid", "message_id", "priority",
                                          "affected_sop_instance_uid"}
    assert set(M.C_MOVE_RQ.required) == {"affected_sop_class_uid", "message_id", "priority",
                                         "move_destination"}
    assert set(M.N_ACTION_RQ.required) == {"requested_sop_class_uid", "message_id",
                                           "requested_sop_instance_uid", "action_type_id"}
    assert set(M.N_CREATE_RQ.required) == {"affected_sop_class_uid", "message_id"}
    assert set(M.C_CANCEL_RQ.required) == {"message_id_being_responded_to"}
    for cls in ALL:
        if not cls.is_request:
            assert set(cls.required) == {"message_id_being_responded_to", "status"}


def test_missing_command_data_set_type():
    cs = minimal_message(M.C_ECHO_RQ).to_command_set()
    del cs[CommandTag.CommandDataSetType]
    with pytest.raises(DIMSEError, match="CommandDataSetType"):
        message_from_command_set(cs)


@pytest.mark.parametrize("cf", [None, 0x0002, 0x8FFF, 0x0031])
def test_unknown_or_missing_command_field(cf):
    cs = CommandSet(MessageID=1, CommandDataSetType=NO_DATASET)
    if cf is not None:
        cs[CommandTag.CommandField] = cf
    with pytest.raises(DIMSEError, match="Command Field"):
        message_from_command_set(cs)


def test_from_command_set_checks_command_field():
    cs = minimal_message(M.C_ECHO_RQ).to_command_set()
    with pytest.raises(DIMSEError):
        M.C_STORE_RQ.from_command_set(cs)


# ---- data set presence ----------------------------------------------------------------------

@pytest.mark.parametrize("cls", [c for c in ALL if c.dataset_usage == "M"], ids=lambda c: c.name)
def test_dataset_required(cls):
    cs = minimal_message(cls).to_command_set()
    cs[CommandTag.CommandDataSetType] = NO_DATASET
    with pytest.raises(DIMSEError, match="requires a data set"):
        message_from_command_set(cs)
    with pytest.raises(LocalProtocolError):
        cls(**{**{n: VALUES.get(n) for n in cls.required}, "has_dataset": False}).encode()


@pytest.mark.parametrize("cls", [c for c in ALL if c.dataset_usage == "-"], ids=lambda c: c.name)
def test_dataset_forbidden(cls):
    cs = minimal_message(cls).to_command_set()
    cs[CommandTag.CommandDataSetType] = 0x0000
    with pytest.raises(DIMSEError, match="has no data set"):
        message_from_command_set(cs)


def test_dataset_tables():
    must = {c.name for c in ALL if c.dataset_usage == "M"}
    never = {c.name for c in ALL if c.dataset_usage == "-"}
    assert must == {"C-STORE-RQ", "C-FIND-RQ", "C-GET-RQ", "C-MOVE-RQ", "N-SET-RQ"}
    assert never == {"C-ECHO-RQ", "C-ECHO-RSP", "C-STORE-RSP", "C-CANCEL-RQ", "N-GET-RQ",
                     "N-DELETE-RQ", "N-DELETE-RSP"}


def test_any_value_but_0101_means_dataset():
    cs = minimal_message(M.C_STORE_RQ).to_command_set()
    cs[CommandTag.CommandDataSetType] = 0xFEFE
    assert message_from_command_set(cs).has_dataset
    assert cs[CommandTag.CommandDataSetType] == 0xFEFE


# ---- conditional fields ---------------------------------------------------------------------

@pytest.mark.parametrize("cls", [M.C_GET_RSP, M.C_MOVE_RSP], ids=lambda c: c.name)
def test_pending_needs_suboperation_counts(cls):
    cs = full_message(cls, status=0xFF00).to_command_set()
    del cs[CommandTag.NumberOfFailedSuboperations]
    with pytest.raises(DIMSEError, match="NumberOfFailedSuboperations"):
        message_from_command_set(cs)
    with pytest.raises(LocalProtocolError, match="NumberOfRemainingSuboperations"):
        cls(message_id_being_responded_to=1, status=0xFF00).encode()
    # final responses may omit them
    for status in (0x0000, 0xB000, 0xA702, 0xFE00):
        assert decode_message(cls(message_id_being_responded_to=1, status=status).encode())


def test_response_category():
    assert M.C_FIND_RSP(message_id_being_responded_to=1, status=0xFF01).category == "Pending"
    assert M.C_STORE_RSP(message_id_being_responded_to=1, status=0xA700).category == "Failure"
    assert M.C_ECHO_RSP().category is None


# ---- extras and round trips -----------------------------------------------------------------

def test_extra_elements_are_preserved():
    """Annex C status details a table does not list, and unknown elements, survive a round trip."""
    msg = M.N_SET_RSP(message_id_being_responded_to=4, status=0x0105,
                      extra={int(CommandTag.OffendingElement): (0x00100010,)})
    data = msg.encode()
    cs = CommandSet.decode(data)
    cs[0x4321] = b"\x00\x01"
    back = message_from_command_set(cs)
    assert back.extra == {0x0901: (0x00100010,), 0x4321: b"\x00\x01"}
    assert back.to_command_set() == cs


def test_extra_clash_rejected():
    msg = M.C_ECHO_RQ(message_id=1, affected_sop_class_uid="1.2",
                      extra={int(CommandTag.MessageID): 3})
    with pytest.raises(LocalProtocolError, match="clashes"):
        msg.encode()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_round_trip(cls):
    msg = full_message(cls)
    assert decode_message(msg.encode()) == msg
    msg = minimal_message(cls)
    assert decode_message(msg.encode()) == msg


def test_bad_local_value_is_local_error():
    with pytest.raises(LocalProtocolError):
        M.C_ECHO_RQ(message_id=70000, affected_sop_class_uid="1.2").encode()
    with pytest.raises(LocalProtocolError):
        M.C_MOVE_RQ(message_id=1, affected_sop_class_uid="1.2",
                    move_destination="X" * 17).encode()


def test_defaults():
    rq = M.C_STORE_RQ(message_id=1, affected_sop_class_uid="1.2", affected_sop_instance_uid="3")
    assert rq.has_dataset and rq.priority == M.Priority.MEDIUM
    assert not M.C_ECHO_RQ().has_dataset
