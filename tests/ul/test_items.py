"""A-ASSOCIATE items and user information sub-items (PS3.8 9.3.2-9.3.3, Annex D; PS3.7 D.3.3).

Known answers are written out byte by byte from the PS3.8/PS3.7 tables, not produced by our encoder.
"""

import pytest

from dicomtls.errors import (ABORT_INVALID_PDU_PARAMETER_VALUE, ABORT_UNEXPECTED_PDU_PARAMETER,
                             ABORT_UNRECOGNIZED_PDU_PARAMETER, PDUError)
from dicomtls.ul.items import (ApplicationContextItem, PresentationContextAC,
                               PresentationContextRQ, decode_uid, encode_uid)
from dicomtls.ul.user_info import (AsynchronousOperationsWindow, ImplementationClassUID,
                                   ImplementationVersionName, MaximumLength, SCPSCURoleSelection,
                                   SOPClassCommonExtendedNegotiation, SOPClassExtendedNegotiation,
                                   UnknownSubItem, UserIdentityAC, UserIdentityRQ, UserInformation)

H = bytes.fromhex
VERIFICATION = b"1.2.840.10008.1.1"  # 17 bytes
IMPLICIT_LE = b"1.2.840.10008.1.2"  # 17 bytes
EXPLICIT_LE = b"1.2.840.10008.1.2.1"  # 19 bytes
UID64 = "1." + "2" * 62


def expect_pdu_error(reason, fn, *args):
    with pytest.raises(PDUError) as info:
        fn(*args)
    assert info.value.abort_reason == reason, str(info.value)
    return info.value


# ---- known answers --------------------------------------------------------------------------------

KNOWN = [
    # Application Context Item: type 10, reserved, length 0x0015, "1.2.840.10008.3.1.1.1"
    (H("10 00 0015") + b"1.2.840.10008.3.1.1.1", ApplicationContextItem()),
    # Presentation Context Item (RQ): type 20, reserved, length 0x0045 (4 + 21 + 21 + 23)
    (H("20 00 0045")
     + H("03 00 00 00")  # Presentation-context-ID 3, three reserved bytes
     + H("30 00 0011") + VERIFICATION  # Abstract Syntax Sub-Item
     + H("40 00 0011") + IMPLICIT_LE  # Transfer Syntax Sub-Item
     + H("40 00 0013") + EXPLICIT_LE,  # Transfer Syntax Sub-Item
     PresentationContextRQ(3, "1.2.840.10008.1.1", ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"))),
    # Presentation Context Item (AC), accepted: ID 5, reserved, result 0, reserved, TS sub-item
    (H("21 00 0019") + H("05 00 00 00") + H("40 00 0011") + IMPLICIT_LE,
     PresentationContextAC(5, 0, "1.2.840.10008.1.2")),
    # Presentation Context Item (AC), rejected 3 (abstract-syntax-not-supported): empty TS sub-item
    (H("21 00 0008") + H("07 00 03 00") + H("40 00 0000"), PresentationContextAC(7, 3, None)),
    # Maximum Length Sub-Item: length 4, uint32 16384
    (H("51 00 0004 00004000"), MaximumLength(16384)),
    (H("51 00 0004 00000000"), MaximumLength(0)),
    # Implementation Class UID Sub-Item
    (H("52 00 0007") + b"1.2.3.4", ImplementationClassUID("1.2.3.4")),
    # Asynchronous Operations Window: invoked 0x0010, performed 0x0001
    (H("53 00 0004 0010 0001"), AsynchronousOperationsWindow(16, 1)),
    # SCP/SCU Role Selection: UID-length 0x0011, UID, SCU-role 1, SCP-role 0
    (H("54 00 0015 0011") + VERIFICATION + H("01 00"),
     SCPSCURoleSelection("1.2.840.10008.1.1", True, False)),
    # Implementation Version Name Sub-Item
    (H("55 00 0008") + b"DTLS_010", ImplementationVersionName("DTLS_010")),
    # SOP Class Extended Negotiation: UID-length, UID, application information (3 bytes)
    (H("56 00 0016 0011") + VERIFICATION + H("01 00 01"),
     SOPClassExtendedNegotiation("1.2.840.10008.1.1", b"\x01\x00\x01")),
    # SOP Class Common Extended Negotiation: type 57, Sub-item-version 00, length 0x0040 (19 + 19 + 2 + 24)
    (H("57 00 0040")
     + H("0011") + VERIFICATION  # SOP-class-uid-length, SOP-class-uid
     + H("0011") + b"1.2.840.10008.4.2"  # Service-class-uid-length, Service-class-uid
     + H("0018")  # Related-general-sop-class-identification-length (2 + 4 + 2 + 16)
     + H("0004") + b"1.23"  # Related-general-sop-class-uid-length, UID
     + H("0010") + b"1.2.840.10008.99",
     SOPClassCommonExtendedNegotiation("1.2.840.10008.1.1", "1.2.840.10008.4.2",
                                       ("1.23", "1.2.840.10008.99"))),
    # User Identity (RQ): type 2, positive response 1, primary "bob", secondary "pw"
    (H("58 00 000b 02 01 0003") + b"bob" + H("0002") + b"pw",
     UserIdentityRQ(2, b"bob", b"pw", True)),
    # User Identity (RQ): type 5 (JWT), no response requested, secondary length 0
    (H("58 00 000a 05 00 0004") + b"eyJ0" + H("0000"), UserIdentityRQ(5, b"eyJ0")),
    # User Identity (AC): Server-response-length 3
    (H("59 00 0005 0003") + b"tkt", UserIdentityAC(b"tkt")),
    # User Information Item wrapping two sub-items and an unknown one (type 0x77)
    (H("50 00 0015") + H("51 00 0004 00010000") + H("52 00 0003") + b"1.2"
     + H("77 00 0002 abcd"),
     UserInformation((MaximumLength(65536), ImplementationClassUID("1.2"),
                      UnknownSubItem(0x77, b"\xab\xcd")))),
]


@pytest.mark.parametrize("wire,obj", KNOWN, ids=[type(o).__name__ for _, o in KNOWN])
def test_known_answer(wire, obj):
    assert type(obj).decode(wire) == obj
    assert obj.encode() == wire


def test_user_information_properties():
    ui = UserInformation([
        MaximumLength(1000), ImplementationClassUID("1.2.3"), ImplementationVersionName("X"),
        AsynchronousOperationsWindow(2, 3), SCPSCURoleSelection("1.2", True, True),
        SCPSCURoleSelection("1.3", False, True), SOPClassExtendedNegotiation("1.4", b"a"),
        SOPClassCommonExtendedNegotiation("1.5", "1.6"), UserIdentityRQ(1, b"u"),
        UnknownSubItem(0xEE, b"zz")])
    assert isinstance(ui.sub_items, tuple)
    assert ui.maximum_length == 1000 and ui.implementation_class_uid == "1.2.3"
    assert ui.implementation_version_name == "X"
    assert ui.asynchronous_operations_window == AsynchronousOperationsWindow(2, 3)
    assert [r.sop_class_uid for r in ui.role_selections] == ["1.2", "1.3"]
    assert ui.extended_negotiations[0].service_class_application_information == b"a"
    assert ui.common_extended_negotiations[0].related_general_sop_class_uids == ()
    assert ui.user_identity.primary_field == b"u" and ui.user_identity_response is None
    assert ui.unknown_sub_items == (UnknownSubItem(0xEE, b"zz"),)
    assert UserInformation.decode(ui.encode()) == ui
    empty = UserInformation()
    assert empty.maximum_length is None and empty.implementation_class_uid is None
    assert empty.encode() == H("50 00 0000")


def test_sub_item_order_is_kept():
    wire = (H("50 00 0017") + H("55 00 0003") + b"abc" + H("52 00 0004") + b"1.23"
            + H("51 00 0004 00000010"))
    ui = UserInformation.decode(wire)
    assert [type(i).__name__ for i in ui.sub_items] == [
        "ImplementationVersionName", "ImplementationClassUID", "MaximumLength"]
    assert ui.encode() == wire


# ---- UIDs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    (b"1.2.3\x00", "1.2.3"),  # even-length NUL padding
    (b"1.2.3 ", "1.2.3"),  # space padding
    (b"1.2.3  ", "1.2.3"),
    (b"1.2.3", "1.2.3"),
    (UID64.encode() + b"\x00", UID64),  # 64 characters plus a pad byte is still fine
])
def test_uid_padding_stripped(raw, expected):
    assert decode_uid(memoryview(raw), 0, len(raw), "test") == expected


def test_uid_decode_errors():
    for raw in (b"1.2.\xc3\xa9", ("1." + "2" * 63).encode()):
        expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, decode_uid, memoryview(raw), 0, len(raw),
                         "test")
    err = expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, ImplementationClassUID.decode,
                           H("52 00 0004") + b"1.\xff3")
    assert "offset 4" in str(err)


@pytest.mark.parametrize("bad", ["", "1..2", ".1", "1.", "1.2a", "1.2 ", "1." + "2" * 63, "١.٢",
                                 None, 1.2])
def test_uid_encode_validation(bad):
    with pytest.raises(ValueError):
        encode_uid(bad)
    with pytest.raises(ValueError):
        ImplementationClassUID(bad).encode()


def test_uid_64_chars_and_leading_zero_components():
    assert encode_uid(UID64) == UID64.encode()
    assert encode_uid("1.2.05") == b"1.2.05"  # tolerated so a peer's UID can be echoed back


# ---- presentation contexts ----------------------------------------------------------------------

def test_rq_context_list_is_tuple_and_many_transfer_syntaxes():
    ts = [f"1.2.840.10008.1.2.4.{n}" for n in range(50, 120)]
    pc = PresentationContextRQ(255, UID64, ts)
    assert pc.transfer_syntaxes == tuple(ts)
    assert PresentationContextRQ.decode(pc.encode()) == pc


@pytest.mark.parametrize("context_id", [0, 2, 254, 256, -1])
def test_context_id_encode_validation(context_id):
    with pytest.raises(ValueError):
        PresentationContextRQ(context_id, "1.2", ["1.2"]).encode()
    with pytest.raises(ValueError):
        PresentationContextAC(context_id, 0, "1.2").encode()


@pytest.mark.parametrize("context_id", [0x00, 0x02, 0xFE])
def test_context_id_even_refused_on_decode(context_id):
    rq = H("20 00 000c") + bytes((context_id, 0, 0, 0)) + H("30 00 0000") + H("40 00 0000")
    expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, PresentationContextRQ.decode, rq)
    ac = H("21 00 0008") + bytes((context_id, 0, 0, 0)) + H("40 00 0000")
    expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, PresentationContextAC.decode, ac)


def test_rq_context_needs_transfer_syntax():
    with pytest.raises(ValueError):
        PresentationContextRQ(1, "1.2", []).encode()


@pytest.mark.parametrize("wire,reason", [
    # no abstract syntax
    (H("20 00 0008 01000000") + H("40 00 0000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    # no transfer syntax
    (H("20 00 0009 01000000") + H("30 00 0001") + b"1", ABORT_INVALID_PDU_PARAMETER_VALUE),
    # two abstract syntaxes
    (H("20 00 0013 01000000") + H("30 00 0001") + b"1" + H("30 00 0001") + b"1"
     + H("40 00 0001") + b"1", ABORT_UNEXPECTED_PDU_PARAMETER),
    # a known item in the wrong place (application context inside a presentation context)
    (H("20 00 0013 01000000") + H("30 00 0001") + b"1" + H("40 00 0001") + b"1"
     + H("10 00 0001") + b"1", ABORT_UNEXPECTED_PDU_PARAMETER),
    # an unknown sub-item type
    (H("20 00 0013 01000000") + H("30 00 0001") + b"1" + H("40 00 0001") + b"1"
     + H("99 00 0001") + b"1", ABORT_UNRECOGNIZED_PDU_PARAMETER),
    # shorter than its fixed fields
    (H("20 00 0003 010000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    # sub-item length runs past the item
    (H("20 00 000a 01000000") + H("30 00 0005") + b"12", ABORT_INVALID_PDU_PARAMETER_VALUE),
    # truncated sub-item header
    (H("20 00 0006 01000000 3000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
])
def test_rq_context_malformed(wire, reason):
    expect_pdu_error(reason, PresentationContextRQ.decode, wire)


def test_ac_context_rejected_is_lenient():
    # no transfer syntax sub-item at all
    assert PresentationContextAC.decode(H("21 00 0004 01 00 02 00")) == PresentationContextAC(1, 2)
    # garbage in the (not significant) transfer syntax
    assert PresentationContextAC.decode(H("21 00 0009 01 00 04 00 40 00 0001 ff")) == \
        PresentationContextAC(1, 4, None)
    # a real UID is kept, and re-encoded
    pc = PresentationContextAC.decode(H("21 00 0009 01 00 01 00 40 00 0001") + b"9")
    assert pc == PresentationContextAC(1, 1, "9") and not pc.accepted
    assert pc.encode() == H("21 00 0009 01 00 01 00 40 00 0001") + b"9"


@pytest.mark.parametrize("wire,reason", [
    (H("21 00 0004 01 00 00 00"), ABORT_INVALID_PDU_PARAMETER_VALUE),  # accepted, no TS
    (H("21 00 000e 01 00 00 00 40 00 0001 31 40 00 0001 31"), ABORT_UNEXPECTED_PDU_PARAMETER),
    (H("21 00 000e 01 00 03 00 40 00 0001 31 40 00 0001 31"), ABORT_UNEXPECTED_PDU_PARAMETER),
    (H("21 00 0009 01 00 05 00 40 00 0001 31"), ABORT_INVALID_PDU_PARAMETER_VALUE),  # result 5
    (H("21 00 0009 01 00 00 00 30 00 0001 31"), ABORT_UNEXPECTED_PDU_PARAMETER),  # abstract syntax
    (H("21 00 0009 01 00 00 00 40 00 0001 ff"), ABORT_INVALID_PDU_PARAMETER_VALUE),  # non-ASCII
])
def test_ac_context_malformed(wire, reason):
    expect_pdu_error(reason, PresentationContextAC.decode, wire)


def test_ac_context_encode_validation():
    with pytest.raises(ValueError):
        PresentationContextAC(1, 0, None).encode()  # accepted needs a transfer syntax
    with pytest.raises(ValueError):
        PresentationContextAC(1, 9, "1.2").encode()


# ---- sub-item malformations ---------------------------------------------------------------------

@pytest.mark.parametrize("cls,wire", [
    (MaximumLength, H("51 00 0003 000040")),  # fixed size 4
    (MaximumLength, H("51 00 0005 0000400000")),
    (AsynchronousOperationsWindow, H("53 00 0002 0001")),
    (SCPSCURoleSelection, H("54 00 0004 0001 31 01")),  # one role byte missing
    (SCPSCURoleSelection, H("54 00 0006 0001 31 01 00 00")),  # one byte too many
    (SCPSCURoleSelection, H("54 00 0005 0009 31 01 00")),  # UID-length overruns the item
    (SCPSCURoleSelection, H("54 00 0005 0001 31 02 00")),  # role byte not 0/1
    (SCPSCURoleSelection, H("54 00 0001 00")),  # UID-length field cut
    (ImplementationVersionName, H("55 00 0000")),  # 1-16 characters
    (ImplementationVersionName, H("55 00 0011") + b"A" * 17),
    (ImplementationVersionName, H("55 00 0002 41ff")),
    (SOPClassExtendedNegotiation, H("56 00 0003 0005 31")),
    (SOPClassCommonExtendedNegotiation, H("57 00 0003 0001 31")),  # service class length missing
    (SOPClassCommonExtendedNegotiation,
     H("57 00 000b 0001 31 0001 31 0003 0005 31")),  # related UID overruns its list
    (SOPClassCommonExtendedNegotiation, H("57 00 0009 0001 31 0001 31 0004 00")),  # list overruns
    (UserIdentityRQ, H("58 00 0001 01")),
    (UserIdentityRQ, H("58 00 0006 01 00 0001 61 00")),  # secondary length cut
    (UserIdentityRQ, H("58 00 0008 01 00 0001 61 0000 ff")),  # trailing byte
    (UserIdentityRQ, H("58 00 0007 01 00 0009 61 0000")),  # primary overruns
    (UserIdentityRQ, H("58 00 0007 01 02 0001 61 0000")),  # positive-response flag not 0/1
    (UserIdentityAC, H("59 00 0003 0002 61")),
    (UserIdentityAC, H("59 00 0004 0001 61 62")),
    (UserIdentityAC, H("59 00 0001 00")),
])
def test_sub_item_malformed(cls, wire):
    expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, cls.decode, wire)


def test_whole_item_length_checks():
    expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, MaximumLength.decode, H("51 00 00"))
    expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, MaximumLength.decode,
                     H("51 00 0004 00000001 00"))  # trailing byte after the item
    expect_pdu_error(ABORT_UNEXPECTED_PDU_PARAMETER, MaximumLength.decode, H("52 00 0001 31"))
    err = expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, UserInformation.decode,
                           H("50 00 000d 51 00 0004 00000001 52 00 0009 31"))
    assert "0x52" in str(err) and "offset 12" in str(err)
    expect_pdu_error(ABORT_INVALID_PDU_PARAMETER_VALUE, UnknownSubItem.decode, H("77 00 0003 00"))


def test_common_extended_negotiation_reserved_tail_and_version():
    wire = H("57 07 0008 0001 31 0001 32 0000")
    item = SOPClassCommonExtendedNegotiation.decode(wire)
    assert item == SOPClassCommonExtendedNegotiation("1", "2", (), 7)
    assert item.encode() == wire
    # bytes after the related-general list: reserved for future fields, ignored
    tail = H("57 00 000a 0001 31 0001 32 0000 eeee")
    assert SOPClassCommonExtendedNegotiation.decode(tail) == SOPClassCommonExtendedNegotiation("1", "2")


def test_user_information_duplicates_refused():
    wire = H("50 00 0010 51 00 0004 00000001 51 00 0004 00000002")
    expect_pdu_error(ABORT_UNEXPECTED_PDU_PARAMETER, UserInformation.decode, wire)
    with pytest.raises(ValueError):
        UserInformation([MaximumLength(1), MaximumLength(2)]).encode()
    # role selections may repeat (one per SOP class)
    ok = UserInformation([SCPSCURoleSelection("1.2", True, False), SCPSCURoleSelection("1.3", 1, 1)])
    assert UserInformation.decode(ok.encode()) == UserInformation(
        [SCPSCURoleSelection("1.2", True, False), SCPSCURoleSelection("1.3", True, True)])


def test_user_information_unknown_types_kept():
    # an unknown type, and a PDU-level item type (0x10) that has no meaning inside user information
    wire = H("50 00 000c 10 00 0001 31 f0 05 0003 010203")
    ui = UserInformation.decode(wire)
    assert ui.sub_items == (UnknownSubItem(0x10, b"1"), UnknownSubItem(0xF0, b"\x01\x02\x03"))
    assert ui.encode() == H("50 00 000c 10 00 0001 31 f0 00 0003 010203")  # reserved byte zeroed


@pytest.mark.parametrize("item", [
    MaximumLength(-1), MaximumLength(1 << 32), AsynchronousOperationsWindow(70000, 1),
    ImplementationVersionName(""), ImplementationVersionName("A" * 17), ImplementationVersionName("a\\b"),
    ImplementationVersionName("é"), ImplementationVersionName("a\nb"),
    UserIdentityRQ(0, b"x"), UserIdentityRQ(6, b"x"), UserIdentityRQ(1, b"x", b"secret"),
    UserIdentityRQ(4, b"x" * 70000), UserIdentityAC(b"x" * 70000),
    SOPClassExtendedNegotiation("1.2", b"x" * 70000), UnknownSubItem(300, b""),
    SOPClassCommonExtendedNegotiation("1.2", "1.2", ["1..2"]),
])
def test_sub_item_encode_validation(item):
    with pytest.raises(ValueError):
        item.encode()


@pytest.mark.parametrize("item", [
    MaximumLength(0xFFFFFFFF), AsynchronousOperationsWindow(0, 0xFFFF),
    ImplementationVersionName("A" * 16), ImplementationVersionName("OFFIS_DCMTK_369"),
    SCPSCURoleSelection(UID64, False, False), SOPClassExtendedNegotiation(UID64, bytes(range(256))),
    SOPClassCommonExtendedNegotiation(UID64, UID64, [UID64] * 10),
    UserIdentityRQ(1, "Ünïcode".encode()), UserIdentityRQ(3, bytes(4000)), UserIdentityRQ(4, b"<saml/>"),
    UserIdentityAC(b""), UnknownSubItem(0xFF, bytes(1000)),
])
def test_sub_item_round_trip(item):
    assert type(item).decode(item.encode()) == item
    assert UserInformation.decode(UserInformation([item]).encode()).sub_items == (item,)
