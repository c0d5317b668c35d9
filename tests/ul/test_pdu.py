"""Upper Layer PDUs (PS3.8 9.3): byte-literal known answers, pynetdicom as an independent peer,
round trips over many shapes, and every malformation we can name.

The known-answer PDUs are written out field by field from PS3.8 Tables 9-11..9-26; the totals are
asserted so an arithmetic slip in the test itself shows up as such.
"""

import pytest

from conftest import require_module

from dicomtls.errors import (ABORT_INVALID_PDU_PARAMETER_VALUE, ABORT_REASON_NOT_SPECIFIED,
                             ABORT_UNEXPECTED_PDU_PARAMETER, ABORT_UNRECOGNIZED_PDU,
                             ABORT_UNRECOGNIZED_PDU_PARAMETER, PDUError)
from dicomtls.ul import (PDV, AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ,
                         PDataTF, decode_pdu, encode_pdv_header)
from dicomtls.ul.items import PresentationContextAC, PresentationContextRQ
from dicomtls.ul.user_info import (AsynchronousOperationsWindow, ImplementationClassUID,
                                   ImplementationVersionName, MaximumLength, SCPSCURoleSelection,
                                   SOPClassCommonExtendedNegotiation, SOPClassExtendedNegotiation,
                                   UnknownSubItem, UserIdentityAC, UserIdentityRQ, UserInformation)

H = bytes.fromhex
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"  # 21 bytes
VERIFICATION = b"1.2.840.10008.1.1"  # 17
CT_STORAGE = b"1.2.840.10008.5.1.4.1.1.2"  # 25
IMPLICIT_LE = b"1.2.840.10008.1.2"  # 17
EXPLICIT_LE = b"1.2.840.10008.1.2.1"  # 19
UID64 = "1." + "2" * 62


def expect(reason, data):
    with pytest.raises(PDUError) as info:
        decode_pdu(data)
    assert info.value.abort_reason == reason, str(info.value)
    return info.value


# ---- known answers --------------------------------------------------------------------------------

RQ_WIRE = b"".join([
    H("01 00 00000124"),  # PDU-type 01, reserved, PDU-length 292
    H("0001 0000"),  # Protocol-version bit 0, reserved
    b"STORE SCP       ",  # Called-AE-title, 16 bytes space padded
    b"ECHOSCU         ",  # Calling-AE-title
    bytes(32),  # reserved
    H("10 00 0015") + APP_CONTEXT,  # Application Context Item (25 bytes)
    H("20 00 002e 01 000000"),  # Presentation Context Item ID 1, length 46
    H("30 00 0011") + VERIFICATION,  # Abstract Syntax Sub-Item
    H("40 00 0011") + IMPLICIT_LE,  # Transfer Syntax Sub-Item
    H("20 00 004d 03 000000"),  # Presentation Context Item ID 3, length 77
    H("30 00 0019") + CT_STORAGE,
    H("40 00 0013") + EXPLICIT_LE,
    H("40 00 0011") + IMPLICIT_LE,
    H("50 00 0040"),  # User Information Item, length 64
    H("51 00 0004 00004000"),  # Maximum Length 16384
    H("52 00 0007") + b"1.2.3.4",  # Implementation Class UID
    H("54 00 001d 0019") + CT_STORAGE + H("01 01"),  # Role Selection: SCU and SCP
    H("55 00 0008") + b"DTLS_010",  # Implementation Version Name
])
RQ_OBJ = AAssociateRQ(
    called_ae_title="STORE SCP", calling_ae_title="ECHOSCU",
    presentation_contexts=(
        PresentationContextRQ(1, VERIFICATION.decode(), (IMPLICIT_LE.decode(),)),
        PresentationContextRQ(3, CT_STORAGE.decode(), (EXPLICIT_LE.decode(), IMPLICIT_LE.decode()))),
    user_information=UserInformation((
        MaximumLength(16384), ImplementationClassUID("1.2.3.4"),
        SCPSCURoleSelection(CT_STORAGE.decode(), True, True), ImplementationVersionName("DTLS_010"))))

AC_WIRE = b"".join([
    H("02 00 000000c8"),  # PDU-type 02, PDU-length 200
    H("0001 0000"),
    b"STORE SCP       ",  # reserved, echoes the RQ
    b"ECHOSCU         ",
    bytes(32),
    H("10 00 0015") + APP_CONTEXT,
    H("21 00 0019 01 00 00 00"),  # context 1: acceptance
    H("40 00 0011") + IMPLICIT_LE,
    H("21 00 0008 03 00 04 00"),  # context 3: transfer-syntaxes-not-supported
    H("40 00 0000"),  # its transfer syntax sub-item, empty: not significant
    H("50 00 003e"),  # User Information, length 62
    H("51 00 0004 00008000"),  # Maximum Length 32768
    H("52 00 0009") + b"1.2.3.4.5",
    H("54 00 001d 0019") + CT_STORAGE + H("01 00"),  # SCU role accepted, SCP role not
    H("59 00 0004 0002") + b"ok",  # User Identity (AC) server response
])
AC_OBJ = AAssociateAC(
    called_ae_title="STORE SCP", calling_ae_title="ECHOSCU",
    presentation_contexts=(PresentationContextAC(1, 0, IMPLICIT_LE.decode()),
                           PresentationContextAC(3, 4, None)),
    user_information=UserInformation((
        MaximumLength(32768), ImplementationClassUID("1.2.3.4.5"),
        SCPSCURoleSelection(CT_STORAGE.decode(), True, False), UserIdentityAC(b"ok"))))

PDATA_WIRE = b"".join([
    H("04 00 00000013"),  # PDU-type 04, PDU-length 19
    H("00000006 01 01"),  # PDV: Item-length 6, context 1, control header: command, not last
    H("deadbeef"),
    H("00000005 03 02"),  # PDV: Item-length 5, context 3, control header: data, last
    H("010203"),
])
PDATA_OBJ = PDataTF((PDV(1, True, False, H("deadbeef")), PDV(3, False, True, H("010203"))))

KNOWN = [
    (RQ_WIRE, RQ_OBJ),
    (AC_WIRE, AC_OBJ),
    # A-ASSOCIATE-RJ: reserved, Result 1 permanent, Source 1 user, Reason 7 called-AE-not-recognized
    (H("03 00 00000004 00 01 01 07"), AAssociateRJ(1, 1, 7)),
    # Result 2 transient, Source 3 presentation, Reason 1 temporary-congestion
    (H("03 00 00000004 00 02 03 01"), AAssociateRJ(2, 3, 1)),
    (H("03 00 00000004 00 01 02 02"), AAssociateRJ(1, 2, 2)),  # protocol-version-not-supported
    (PDATA_WIRE, PDATA_OBJ),
    (H("05 00 00000004 00000000"), AReleaseRQ()),
    (H("06 00 00000004 00000000"), AReleaseRP()),
    # A-ABORT: two reserved bytes, Source 2 provider, Reason 6 invalid-PDU-parameter value
    (H("07 00 00000004 0000 02 06"), AAbort(2, 6)),
    (H("07 00 00000004 0000 00 00"), AAbort(0, 0)),
]


def test_known_answer_lengths():
    assert len(RQ_WIRE) == 6 + 0x124 and len(AC_WIRE) == 6 + 0xC8 and len(PDATA_WIRE) == 6 + 0x13


@pytest.mark.parametrize("wire,obj", KNOWN, ids=[type(o).__name__ for _, o in KNOWN])
def test_known_answer(wire, obj):
    decoded = decode_pdu(wire)
    assert type(decoded) is type(obj)
    assert decoded == obj
    assert obj.encode() == wire
    assert decode_pdu(memoryview(bytearray(wire))) == obj


def test_known_answer_fields():
    rq = decode_pdu(RQ_WIRE)
    assert rq.supports_version_1 and rq.protocol_version == 1
    assert rq.user_information.maximum_length == 16384
    assert [pc.context_id for pc in rq.presentation_contexts] == [1, 3]
    ac = decode_pdu(AC_WIRE)
    assert [pc.accepted for pc in ac.presentation_contexts] == [True, False]
    assert ac.user_information.user_identity_response.server_response == b"ok"
    assert decode_pdu(H("03 00 00000004 00 01 01 07")).reason_name == "called-AE-title-not-recognized"


def test_pdata_decode_returns_views_without_copy():
    buf = bytearray(PDATA_WIRE)
    pdu = decode_pdu(buf)
    first = pdu.pdvs[0].data
    assert isinstance(first, memoryview) and first.readonly and first.obj is buf
    buf[12] = 0x11  # the view sees the caller's buffer: nothing was copied
    assert bytes(first) == H("11adbeef")


def test_pdata_send_helpers():
    payload = bytes(range(200))
    head = PDataTF.header_for_single_pdv(5, False, True, len(payload))
    assert head == H("04 00 000000ce 000000ca 05 02")
    assert head + payload == PDataTF([PDV(5, False, True, payload)]).encode()
    assert encode_pdv_header(1, True, False, 0) == H("00000002 01 01")
    assert PDataTF.header_for([4, 3]) == PDATA_WIRE[:6]
    parts = PDATA_OBJ.encode_parts()
    assert parts[2] is PDATA_OBJ.pdvs[0].data  # payloads are passed through, not copied
    assert b"".join(parts) == PDATA_WIRE
    for bad in ((0, True, True, 1), (2, True, True, 1), (1, True, True, -1), (1, 1, 1, 1 << 32)):
        with pytest.raises(ValueError):
            PDataTF.header_for_single_pdv(*bad)
    with pytest.raises(ValueError):
        PDataTF(()).encode()


def test_pdata_control_header_reserved_bits_ignored():
    pdu = decode_pdu(H("04 00 00000007 00000003 01 fc 00"))
    assert pdu.pdvs[0].is_command is False and pdu.pdvs[0].is_last is False
    assert bytes(pdu.pdvs[0].data) == b"\x00"
    assert decode_pdu(H("04 00 00000006 00000002 ff 03")).pdvs[0].data == b""  # empty fragment


def test_reserved_fields_not_tested():
    noisy = bytearray(RQ_WIRE)
    noisy[1] = 0xFF  # PDU header reserved byte
    noisy[8:10] = b"\xff\xff"  # reserved after the protocol version
    noisy[42:74] = b"\xaa" * 32  # 32 reserved bytes
    noisy[75] = 0x55  # application context item reserved byte
    assert decode_pdu(bytes(noisy)) == RQ_OBJ
    assert decode_pdu(H("05 ff 00000004 ffffffff")) == AReleaseRQ()
    assert decode_pdu(H("03 ee 00000004 ee 01 01 01")) == AAssociateRJ(1, 1, 1)


def test_protocol_version_kept_raw():
    wire = bytearray(RQ_WIRE)
    wire[6:8] = b"\x00\x02"  # only a future version: decodes, the acceptor decides to reject
    rq = decode_pdu(bytes(wire))
    assert rq.protocol_version == 2 and not rq.supports_version_1
    wire[6:8] = b"\x80\x03"
    assert decode_pdu(bytes(wire)).supports_version_1


def test_ae_titles():
    rq = decode_pdu(RQ_WIRE.replace(b"STORE SCP       ", b"  STORE SCP\0\0\0\0\0"))
    assert rq.called_ae_title == "STORE SCP"  # leading spaces and NUL padding are not significant
    spaced = AAssociateRQ("  A B  ", " C", RQ_OBJ.presentation_contexts, RQ_OBJ.user_information)
    assert spaced.encode()[10:42] == b"A B             C               "
    for bad in ("", "   ", "A" * 17, "A\\B", "A\tB", "É"):
        with pytest.raises(ValueError):
            AAssociateRQ(bad, "X", RQ_OBJ.presentation_contexts, RQ_OBJ.user_information).encode()
    # an all-space called AE title decodes to "" (the acceptor answers with an A-ASSOCIATE-RJ)
    assert decode_pdu(RQ_WIRE.replace(b"STORE SCP       ", b" " * 16)).called_ae_title == ""
    # the AC's AE fields are echoed, not tested: anything decodes, empty encodes
    odd = decode_pdu(AC_WIRE.replace(b"STORE SCP       ", b"\x01\\\xff" + b" " * 13))
    assert odd.called_ae_title == "\x01\\\xff"
    AAssociateAC("", "", AC_OBJ.presentation_contexts, AC_OBJ.user_information).encode()


@pytest.mark.parametrize("title", [b"A\\B", b"A\tB", b"\xe9T"])
def test_rq_ae_title_invalid(title):
    expect(ABORT_INVALID_PDU_PARAMETER_VALUE, RQ_WIRE.replace(b"ECHOSCU ", title.ljust(8)))


def test_user_information_unknown_sub_item_round_trips_in_rq():
    ui = UserInformation(RQ_OBJ.user_information.sub_items + (UnknownSubItem(0x60, b"future"),))
    rq = AAssociateRQ("A", "B", RQ_OBJ.presentation_contexts, ui)
    assert decode_pdu(rq.encode()) == rq


# ---- pynetdicom as an independent peer -----------------------------------------------------------

pynetdicom = require_module("pynetdicom")
from pynetdicom import pdu as pn  # noqa: E402
from pynetdicom import pdu_primitives as pp  # noqa: E402
from pynetdicom.presentation import PresentationContext as PnContext  # noqa: E402

FULL_UI_RQ = UserInformation((
    MaximumLength(16382), ImplementationClassUID("1.2.826.0.1.3680043.9.3811.2.1"),
    AsynchronousOperationsWindow(5, 6), SCPSCURoleSelection(CT_STORAGE.decode(), True, False),
    SCPSCURoleSelection(VERIFICATION.decode(), False, True), ImplementationVersionName("PYNETDICOM_204"),
    SOPClassExtendedNegotiation("1.2.840.10008.5.1.4.1.2.1.1", b"\x01\x00\x01"),
    SOPClassCommonExtendedNegotiation("1.2.840.10008.5.1.4.1.1.88.40", "1.2.840.10008.4.2",
                                      ("1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33")),
    UserIdentityRQ(2, b"alice", b"s3cret", True)))


def test_pynetdicom_decodes_our_rq():
    rq = AAssociateRQ("ANY-SCP", "OUR SCU", (
        PresentationContextRQ(1, VERIFICATION.decode(), (IMPLICIT_LE.decode(),)),
        PresentationContextRQ(3, CT_STORAGE.decode(), (EXPLICIT_LE.decode(), IMPLICIT_LE.decode()))),
        FULL_UI_RQ)
    wire = rq.encode()
    theirs = pn.A_ASSOCIATE_RQ()
    theirs.decode(wire)
    assert theirs.called_ae_title == "ANY-SCP" and theirs.calling_ae_title == "OUR SCU"
    assert theirs.application_context_name == "1.2.840.10008.3.1.1.1"
    assert [(c.context_id, c.abstract_syntax, list(c.transfer_syntax))
            for c in theirs.presentation_context] == [
        (1, VERIFICATION.decode(), [IMPLICIT_LE.decode()]),
        (3, CT_STORAGE.decode(), [EXPLICIT_LE.decode(), IMPLICIT_LE.decode()])]
    sub = {type(i).__name__: i for i in theirs.user_information.user_data}
    assert sub["MaximumLengthSubItem"].maximum_length_received == 16382
    assert sub["ImplementationClassUIDSubItem"].implementation_class_uid == \
        "1.2.826.0.1.3680043.9.3811.2.1"
    assert sub["ImplementationVersionNameSubItem"].implementation_version_name == "PYNETDICOM_204"
    win = sub["AsynchronousOperationsWindowSubItem"]
    assert (win.maximum_number_operations_invoked, win.maximum_number_operations_performed) == (5, 6)
    roles = [(r.sop_class_uid, r.scu_role, r.scp_role) for r in theirs.user_information.user_data
             if type(r).__name__ == "SCP_SCU_RoleSelectionSubItem"]
    assert roles == [(CT_STORAGE.decode(), 1, 0), (VERIFICATION.decode(), 0, 1)]
    ext = sub["SOPClassExtendedNegotiationSubItem"]
    assert ext.sop_class_uid == "1.2.840.10008.5.1.4.1.2.1.1"
    assert ext.service_class_application_information == b"\x01\x00\x01"
    common = sub["SOPClassCommonExtendedNegotiationSubItem"]
    assert common.sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.40"
    assert common.service_class_uid == "1.2.840.10008.4.2"
    assert common.related_general_sop_class_identification == [
        "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33"]
    ident = sub["UserIdentitySubItemRQ"]
    assert (ident.user_identity_type, ident.positive_response_requested, ident.primary_field,
            ident.secondary_field) == (2, 1, b"alice", b"s3cret")
    assert theirs.encode() == wire  # and pynetdicom writes back the very same bytes


def _pn_user_information(extra):
    ml = pp.MaximumLengthNotification()
    ml.maximum_length_received = 32768
    ic = pp.ImplementationClassUIDNotification()
    ic.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.2.1"
    iv = pp.ImplementationVersionNameNotification()
    iv.implementation_version_name = "PYNETDICOM_204"
    return [ml, ic, iv, *extra]


def test_we_decode_pynetdicom_rq():
    assoc = pp.A_ASSOCIATE()
    assoc.application_context_name = "1.2.840.10008.3.1.1.1"
    assoc.calling_ae_title = "PYNET SCU"
    assoc.called_ae_title = "OUR SCP"
    contexts = []
    for cid, abstract, syntaxes in ((1, VERIFICATION, [IMPLICIT_LE]),
                                    (3, CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])):
        cx = PnContext()
        cx.context_id, cx.abstract_syntax = cid, abstract.decode()
        cx.transfer_syntax = [s.decode() for s in syntaxes]
        contexts.append(cx)
    assoc.presentation_context_definition_list = contexts
    aw = pp.AsynchronousOperationsWindowNegotiation()
    aw.maximum_number_operations_invoked, aw.maximum_number_operations_performed = 3, 4
    role = pp.SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid, role.scu_role, role.scp_role = CT_STORAGE.decode(), True, True
    ext = pp.SOPClassExtendedNegotiation()
    ext.sop_class_uid, ext.service_class_application_information = "1.2.840.10008.5.1.4.1.2.1.1", b"\x01"
    common = pp.SOPClassCommonExtendedNegotiation()
    common.sop_class_uid, common.service_class_uid = "1.2.840.10008.5.1.4.1.1.88.40", "1.2.840.10008.4.2"
    common.related_general_sop_class_identification = ["1.2.840.10008.5.1.4.1.1.88.22"]
    ident = pp.UserIdentityNegotiation()
    ident.user_identity_type, ident.positive_response_requested = 1, False
    ident.primary_field = b"bob"
    assoc.user_information = _pn_user_information([aw, role, ext, common, ident])
    wire = pn.A_ASSOCIATE_RQ(assoc).encode()

    rq = decode_pdu(wire)
    assert isinstance(rq, AAssociateRQ)
    assert (rq.called_ae_title, rq.calling_ae_title) == ("OUR SCP", "PYNET SCU")
    assert rq.presentation_contexts == (
        PresentationContextRQ(1, VERIFICATION.decode(), (IMPLICIT_LE.decode(),)),
        PresentationContextRQ(3, CT_STORAGE.decode(), (EXPLICIT_LE.decode(), IMPLICIT_LE.decode())))
    ui = rq.user_information
    assert ui.maximum_length == 32768 and ui.implementation_version_name == "PYNETDICOM_204"
    assert ui.implementation_class_uid == "1.2.826.0.1.3680043.9.3811.2.1"
    assert ui.asynchronous_operations_window == AsynchronousOperationsWindow(3, 4)
    assert ui.role_selections == (SCPSCURoleSelection(CT_STORAGE.decode(), True, True),)
    assert ui.extended_negotiations == (
        SOPClassExtendedNegotiation("1.2.840.10008.5.1.4.1.2.1.1", b"\x01"),)
    assert ui.common_extended_negotiations == (SOPClassCommonExtendedNegotiation(
        "1.2.840.10008.5.1.4.1.1.88.40", "1.2.840.10008.4.2", ("1.2.840.10008.5.1.4.1.1.88.22",)),)
    assert ui.user_identity == UserIdentityRQ(1, b"bob", b"", False)
    assert not ui.unknown_sub_items
    assert rq.encode() == wire


def test_ac_both_ways():
    assoc = pp.A_ASSOCIATE()
    assoc.application_context_name = "1.2.840.10008.3.1.1.1"
    assoc.calling_ae_title, assoc.called_ae_title = "PYNET SCU", "OUR SCP"
    results = []
    for cid, result, ts in ((1, 0, IMPLICIT_LE), (3, 3, EXPLICIT_LE), (5, 1, IMPLICIT_LE)):
        cx = PnContext()
        cx.context_id, cx.result, cx.transfer_syntax = cid, result, [ts.decode()]
        results.append(cx)
    assoc.presentation_context_definition_results_list = results
    role = pp.SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid, role.scu_role, role.scp_role = CT_STORAGE.decode(), False, True
    ident = pp.UserIdentityNegotiation()
    ident.server_response = b"kerberos-ticket"
    assoc.user_information = _pn_user_information([role, ident])
    wire = pn.A_ASSOCIATE_AC(assoc).encode()

    ac = decode_pdu(wire)
    assert isinstance(ac, AAssociateAC)
    assert (ac.called_ae_title, ac.calling_ae_title) == ("OUR SCP", "PYNET SCU")
    # pynetdicom echoes a proposed transfer syntax in rejected contexts; it is kept, not tested
    assert ac.presentation_contexts == (PresentationContextAC(1, 0, IMPLICIT_LE.decode()),
                                        PresentationContextAC(3, 3, EXPLICIT_LE.decode()),
                                        PresentationContextAC(5, 1, IMPLICIT_LE.decode()))
    assert ac.user_information.role_selections == (SCPSCURoleSelection(CT_STORAGE.decode(), False, True),)
    assert ac.user_information.user_identity_response == UserIdentityAC(b"kerberos-ticket")
    assert ac.encode() == wire

    theirs = pn.A_ASSOCIATE_AC()
    theirs.decode(AC_WIRE)
    assert [(c.context_id, c.result) for c in theirs.presentation_context] == [(1, 0), (3, 4)]
    assert theirs.presentation_context[0].transfer_syntax == IMPLICIT_LE.decode()
    sub = {type(i).__name__: i for i in theirs.user_information.user_data}
    assert sub["MaximumLengthSubItem"].maximum_length_received == 32768
    assert sub["UserIdentitySubItemAC"].server_response == b"ok"
    # pynetdicom cannot re-encode the empty sub-item it decoded; with a UID in it, it round-trips
    with_ts = AAssociateAC("A", "B", (PresentationContextAC(1, 0, IMPLICIT_LE.decode()),
                                      PresentationContextAC(3, 4, EXPLICIT_LE.decode())),
                           AC_OBJ.user_information)
    theirs = pn.A_ASSOCIATE_AC()
    theirs.decode(with_ts.encode())
    assert theirs.encode() == with_ts.encode()


@pytest.mark.parametrize("result,source,reason", [
    (1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 1, 7), (2, 2, 1), (1, 2, 2), (2, 3, 1), (2, 3, 2)])
def test_rj_both_ways(result, source, reason):
    ours = AAssociateRJ(result, source, reason).encode()
    theirs = pn.A_ASSOCIATE_RJ()
    theirs.decode(ours)
    assert (theirs.result, theirs.source, theirs.reason_diagnostic) == (result, source, reason)
    assoc = pp.A_ASSOCIATE()
    assoc.result, assoc.result_source, assoc.diagnostic = result, source, reason
    assert decode_pdu(pn.A_ASSOCIATE_RJ(assoc).encode()) == AAssociateRJ(result, source, reason)


def test_pdata_both_ways():
    fragment = bytes(range(256)) * 64
    ours = PDataTF([PDV(1, True, True, b"\x08\x00"), PDV(3, False, False, fragment),
                    PDV(3, False, True, b"")]).encode()
    theirs = pn.P_DATA_TF()
    theirs.decode(ours)
    values = [(i.presentation_context_id, i.presentation_data_value)
              for i in theirs.presentation_data_value_items]
    assert values == [(1, b"\x03\x08\x00"), (3, b"\x00" + fragment), (3, b"\x02")]

    prim = pp.P_DATA()
    prim.presentation_data_value_list = [[5, b"\x01" + b"command"], [7, b"\x02" + fragment]]
    wire = pn.P_DATA_TF(prim).encode()
    pdu = decode_pdu(wire)
    assert [(p.context_id, p.is_command, p.is_last, bytes(p.data)) for p in pdu.pdvs] == [
        (5, True, False, b"command"), (7, False, True, fragment)]
    assert pdu.encode() == wire


def test_release_and_abort_both_ways():
    for ours_cls, theirs_cls in ((AReleaseRQ, pn.A_RELEASE_RQ), (AReleaseRP, pn.A_RELEASE_RP)):
        theirs = theirs_cls()
        theirs.decode(ours_cls().encode())
        assert theirs.encode() == ours_cls().encode()
        assert decode_pdu(theirs_cls(pp.A_RELEASE()).encode()) == ours_cls()

    theirs = pn.A_ABORT_RQ()
    theirs.decode(AAbort(2, 4).encode())
    assert (theirs.source, theirs.reason_diagnostic) == (2, 4)
    user_abort = pp.A_ABORT()
    user_abort.abort_source = 0
    assert decode_pdu(pn.A_ABORT_RQ(user_abort).encode()) == AAbort(0, 0)
    provider = pp.A_P_ABORT()
    provider.provider_reason = 5
    assert decode_pdu(pn.A_ABORT_RQ(provider).encode()) == AAbort(2, 5)


# ---- round trips over many shapes ----------------------------------------------------------------

def _rq(n_contexts, n_syntaxes, called, calling, uid):
    contexts = [PresentationContextRQ(2 * i + 1, f"{uid[:60]}.{i}" if len(uid) > 60 else f"{uid}.{i}",
                                      [uid] + [f"1.2.840.10008.1.2.4.{k}" for k in range(n_syntaxes - 1)])
                for i in range(n_contexts)]
    return AAssociateRQ(called, calling, contexts, FULL_UI_RQ, application_context_name=uid)


@pytest.mark.parametrize("n_contexts", [1, 2, 17, 128])
@pytest.mark.parametrize("n_syntaxes", [1, 3, 40])
@pytest.mark.parametrize("called,calling,uid", [
    ("A", "B", "1.2"),
    ("A B C D E F G H", "  SPACED  ", UID64),
    ("0123456789ABCDEF", "~!@#$%^&*()_+-=", "1.2.840.10008.5.1.4.1.1.2"),
])
def test_associate_round_trip(n_contexts, n_syntaxes, called, calling, uid):
    rq = _rq(n_contexts, n_syntaxes, called, calling, uid)
    back = decode_pdu(rq.encode())
    assert back.presentation_contexts == rq.presentation_contexts
    assert back.called_ae_title == called.strip() and back.calling_ae_title == calling.strip()
    assert back.encode() == rq.encode()
    ac = AAssociateAC(called, calling, [PresentationContextAC(pc.context_id, (i % 5),
                                                             uid if i % 5 == 0 else None)
                                        for i, pc in enumerate(rq.presentation_contexts)],
                      UserInformation([MaximumLength(0), ImplementationClassUID(uid),
                                       UserIdentityAC(b"x" * n_syntaxes)]))
    assert decode_pdu(ac.encode()).encode() == ac.encode()
    assert decode_pdu(ac.encode()).presentation_contexts == ac.presentation_contexts


@pytest.mark.parametrize("sizes", [[0], [1], [1, 2, 3], [65535, 65536, 65537], [1 << 20]])
def test_pdata_round_trip(sizes):
    pdvs = [PDV(2 * i + 1, bool(i & 1), bool(i & 2), bytes([i & 255]) * n) for i, n in enumerate(sizes)]
    pdu = PDataTF(pdvs)
    wire = pdu.encode()
    assert len(wire) == 6 + sum(6 + n for n in sizes)
    assert decode_pdu(wire) == pdu


def test_encode_validation():
    pcs, ui = RQ_OBJ.presentation_contexts, RQ_OBJ.user_information
    with pytest.raises(ValueError):
        AAssociateRQ("A", "B", (), ui).encode()
    with pytest.raises(ValueError):
        AAssociateRQ("A", "B", AC_OBJ.presentation_contexts, ui).encode()  # AC contexts in an RQ
    with pytest.raises(ValueError):
        AAssociateAC("A", "B", pcs, ui).encode()
    with pytest.raises(ValueError):
        AAssociateRQ("A", "B", pcs, ui, protocol_version=1 << 16).encode()
    with pytest.raises(ValueError):
        AAssociateRQ("A", "B", pcs, ui, application_context_name="not a uid").encode()
    for rj in ((0, 1, 1), (3, 1, 1), (1, 0, 1), (1, 4, 1), (1, 1, 4), (1, 1, 0), (1, 2, 3),
               (1, 3, 0), (1, 3, 3)):
        with pytest.raises(ValueError):
            AAssociateRJ(*rj).encode()
    for ab in ((1, 0), (3, 0), (0, 2), (2, 3), (2, 7)):
        with pytest.raises(ValueError):
            AAbort(*ab).encode()


# ---- malformed PDUs ------------------------------------------------------------------------------

def _replace_items(items: bytes) -> bytes:
    """RQ_WIRE's fixed fields followed by ``items``, with the PDU-length fixed up."""
    body = RQ_WIRE[6:74] + items
    return b"\x01\x00" + len(body).to_bytes(4, "big") + body


APP = H("10 00 0015") + APP_CONTEXT
PC = H("20 00 002e 01 000000") + H("30 00 0011") + VERIFICATION + H("40 00 0011") + IMPLICIT_LE
UI = H("50 00 0008 51 00 0004 00004000")


@pytest.mark.parametrize("data,reason", [
    (b"", ABORT_INVALID_PDU_PARAMETER_VALUE),  # truncated header
    (H("01 00 0000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("08 00 00000004 00000000"), ABORT_UNRECOGNIZED_PDU),  # unknown PDU type
    (H("00 00 00000000"), ABORT_UNRECOGNIZED_PDU),
    (H("ff 00 00000004 00000000"), ABORT_UNRECOGNIZED_PDU),
    (RQ_WIRE[:-1], ABORT_INVALID_PDU_PARAMETER_VALUE),  # PDU-length says more than given
    (RQ_WIRE + b"\x00", ABORT_INVALID_PDU_PARAMETER_VALUE),  # bytes after the PDU
    (H("01 00 00000043") + RQ_WIRE[6:73], ABORT_INVALID_PDU_PARAMETER_VALUE),  # fixed fields cut
    (_replace_items(APP + PC + UI + b"\x00"), ABORT_INVALID_PDU_PARAMETER_VALUE),  # trailing byte
    (_replace_items(APP + PC + UI + b"\x51\x00\x00"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (_replace_items(APP + PC + UI[:-1]), ABORT_INVALID_PDU_PARAMETER_VALUE),  # truncated item
    (_replace_items(APP + PC + H("50 00 0100") + UI[4:]), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (_replace_items(APP + PC + UI + H("99 00 0000")), ABORT_UNRECOGNIZED_PDU_PARAMETER),
    (_replace_items(APP + PC + UI + H("30 00 0001 31")), ABORT_UNEXPECTED_PDU_PARAMETER),
    (_replace_items(APP + PC + UI + H("21 00 0008 01000000 40000000")),
     ABORT_UNEXPECTED_PDU_PARAMETER),  # an AC presentation context in an RQ
    (_replace_items(APP + APP + PC + UI), ABORT_UNEXPECTED_PDU_PARAMETER),  # duplicate app context
    (_replace_items(APP + PC + UI + UI), ABORT_UNEXPECTED_PDU_PARAMETER),  # duplicate user info
    (_replace_items(PC + UI), ABORT_INVALID_PDU_PARAMETER_VALUE),  # no application context
    (_replace_items(APP + PC), ABORT_INVALID_PDU_PARAMETER_VALUE),  # no user information
    (_replace_items(APP + UI), ABORT_INVALID_PDU_PARAMETER_VALUE),  # no presentation context
    (_replace_items(APP + PC + PC + UI), ABORT_INVALID_PDU_PARAMETER_VALUE),  # context ID twice
    (_replace_items(APP + PC.replace(H("002e 01"), H("002e 02")) + UI),
     ABORT_INVALID_PDU_PARAMETER_VALUE),  # even context ID
    (_replace_items(APP + PC.replace(H("002e 01"), H("002e 00")) + UI),
     ABORT_INVALID_PDU_PARAMETER_VALUE),  # context ID 0
    (_replace_items(H("10 00 0004 31 2e ff 32") + PC + UI), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (_replace_items(APP + PC + H("50 00 0005 59 00 0001 00")),
     ABORT_INVALID_PDU_PARAMETER_VALUE),  # malformed user identity AC (length field cut)
    (_replace_items(APP + PC + H("50 00 0006 59 00 0002 0000")),
     ABORT_UNEXPECTED_PDU_PARAMETER),  # user identity AC inside an RQ
    (H("02") + _replace_items(APP + PC + UI)[1:], ABORT_UNEXPECTED_PDU_PARAMETER),  # RQ contexts in AC
    # A-ASSOCIATE-RJ: wrong length, undefined result / source / reason
    (H("03 00 00000003 000101"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("03 00 00000005 00010101 00"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("03 00 00000004 00 03 01 01"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("03 00 00000004 00 01 04 01"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("03 00 00000004 00 01 01 05"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("03 00 00000004 00 01 02 03"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("03 00 00000004 00 02 03 00"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    # P-DATA-TF: no PDV, PDV lengths 0 and 1, overrun, truncated length, even/zero context IDs
    (H("04 00 00000000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("04 00 00000004 00000000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("04 00 00000005 00000001 01"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("04 00 00000008 00000005 01 02 aa bb"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("04 00 00000009 00000003 01 02 aa 0000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("04 00 00000007 00000003 02 02 aa"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("04 00 00000007 00000003 00 02 aa"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    # release and abort PDUs whose length is not 4
    (H("05 00 00000003 000000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("05 00 00000000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("06 00 00000005 0000000000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
    (H("07 00 00000006 000000000000"), ABORT_INVALID_PDU_PARAMETER_VALUE),
])
def test_malformed(data, reason):
    expect(reason, data)


def test_malformed_message_names_item_and_offset():
    err = expect(ABORT_INVALID_PDU_PARAMETER_VALUE, _replace_items(APP + PC + H("50 00 0100") + UI[4:]))
    assert "0x50" in str(err) and "offset 149" in str(err)  # 74 + 25 + 50
    err = expect(ABORT_INVALID_PDU_PARAMETER_VALUE, H("04 00 00000008 00000005 01 02 aa bb"))
    assert "offset 6" in str(err) and "Item-length 5" in str(err)


def test_ac_rejected_context_without_transfer_syntax():
    wire = _replace_items(APP + H("21 00 0004 01 00 03 00") + UI)
    ac = decode_pdu(b"\x02" + wire[1:])
    assert ac.presentation_contexts == (PresentationContextAC(1, 3, None),)


def test_abort_decode_is_lenient():
    # source 1 is reserved and 3 undefined, reasons past 6 undefined: an abort is an abort
    assert decode_pdu(H("07 00 00000004 0000 01 00")) == AAbort(1, 0)
    assert decode_pdu(H("07 00 00000004 0000 02 09")) == AAbort(2, 9)
    assert decode_pdu(H("07 00 00000004 0000 00 03")) == AAbort(0, 3)
    assert ABORT_REASON_NOT_SPECIFIED == decode_pdu(H("07 00 00000004 ffff 02 00")).reason
