"""The A-ASSOCIATE-RQ's Application Context Name (PS3.8 7.1.1.2, 9.3.2.1; PS3.7 A.2.1) on the
acceptor side, from the bytes a peer sends.

Regression for tests/fuzz/crashes/ul/accept-echoes-invalid-application-context-name: a name that
is ASCII but no UID ("1.2.840.10008.3*1.1.1") was decoded, and accept() echoed it into an
A-ASSOCIATE-AC whose encoding raised ValueError.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomtls.errors import ABORT_INVALID_PDU_PARAMETER_VALUE, PDUError
from dicomtls.ul.association import (NEED_DATA, Aborted, AssociateRequested, Association,
                                     Established)
from dicomtls.ul.items import DEFAULT_APPLICATION_CONTEXT
from dicomtls.ul.negotiation import (IMPLICIT_VR_LITTLE_ENDIAN,
                                     RJ_APPLICATION_CONTEXT_NOT_SUPPORTED,
                                     VERIFICATION_SOP_CLASS, build_request, check_request)
from dicomtls.ul.pdu import AAbort, AAssociateAC, AAssociateRQ, decode_pdu

CRASH = (Path(__file__).resolve().parents[1] / "fuzz" / "crashes" / "ul"
         / "accept-echoes-invalid-application-context-name")
SUPPORTED = {VERIFICATION_SOP_CLASS: [IMPLICIT_VR_LITTLE_ENDIAN]}


def crash_rq() -> bytes:
    """The A-ASSOCIATE-RQ of the reproducer (after the fuzz target's 2-byte control header)."""
    return CRASH.read_bytes()[2:]


def events_of(assoc: Association) -> list:
    out = []
    while (event := assoc.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def rq_with_name(name: str) -> bytes:
    """A real A-ASSOCIATE-RQ as our requestor encodes it, proposing ``name``."""
    rq = build_request("ANY-SCP", "ECHOSCU", [VERIFICATION_SOP_CLASS])
    fields = {f: getattr(rq, f) for f in ("called_ae_title", "calling_ae_title",
                                          "presentation_contexts", "user_information")}
    return AAssociateRQ(**fields, application_context_name=name).encode()


def test_the_reproducer_holds_a_malformed_name():
    assert b"1.2.840.10008.3*1.1.1" in crash_rq()


def test_a_name_that_is_no_uid_is_an_invalid_pdu_parameter():
    with pytest.raises(PDUError) as exc:
        decode_pdu(crash_rq())
    assert exc.value.abort_reason == ABORT_INVALID_PDU_PARAMETER_VALUE
    assert "Application Context" in str(exc.value)


def test_acceptor_aborts_instead_of_offering_accept():
    """PS3.8 9.3.2.1: the field must hold a UID; anything else is an invalid PDU parameter
    value (reason 6), so the RQ is an invalid PDU (Evt19) and never reaches the caller. In Sta2
    the state table answers with AA-1: an A-ABORT whose source is the service-user and whose
    reason is therefore 0 (PS3.8 9.3.8); the reason 6 is in the event's error."""
    scp = Association("acceptor", supported=SUPPORTED)
    scp.receive_data(crash_rq())
    events = events_of(scp)
    assert not any(isinstance(e, AssociateRequested) for e in events)
    (aborted,) = [e for e in events if isinstance(e, Aborted)]
    assert aborted.local and isinstance(aborted.error, PDUError)
    assert aborted.error.abort_reason == ABORT_INVALID_PDU_PARAMETER_VALUE
    assert decode_pdu(scp.data_to_send()) == AAbort(0, 0)
    assert scp.state == "Sta13"  # awaiting the transport close, ARTIM running


@pytest.mark.parametrize("name", ["", "1.2.840.10008.3.1.1.1.", "1..2", "1.2.840 10008.3.1.1.1"])
def test_other_non_uids_are_refused_too(name):
    raw = bytearray(rq_with_name("1.2"))
    at = raw.index(b"\x10\x00\x00\x03" + b"1.2")
    body = name.encode()
    raw[at:at + 7] = b"\x10\x00" + len(body).to_bytes(2, "big") + body
    raw[2:6] = (len(raw) - 6).to_bytes(4, "big")
    with pytest.raises(PDUError) as exc:
        decode_pdu(bytes(raw))
    assert exc.value.abort_reason == ABORT_INVALID_PDU_PARAMETER_VALUE


@pytest.mark.parametrize("padding", [b"", b"\0", b" "])
def test_the_dicom_name_still_decodes_padded_or_not(padding):
    raw = rq_with_name(DEFAULT_APPLICATION_CONTEXT)
    item = b"\x10\x00\x00\x15" + DEFAULT_APPLICATION_CONTEXT.encode()
    assert item in raw
    padded = b"\x10\x00" + (21 + len(padding)).to_bytes(2, "big") + \
        DEFAULT_APPLICATION_CONTEXT.encode() + padding
    raw = raw.replace(item, padded)
    raw = raw[:2] + (len(raw) - 6).to_bytes(4, "big") + raw[6:]
    assert decode_pdu(raw).application_context_name == DEFAULT_APPLICATION_CONTEXT


def test_a_well_formed_foreign_name_is_rejected_1_1_2():
    """A UID other than DICOM's is an application context we do not support (PS3.8 7.1.1.2):
    check_request answers A-ASSOCIATE-RJ result 1 (permanent), source 1, reason 2."""
    scp = Association("acceptor", supported=SUPPORTED)
    scp.receive_data(rq_with_name("1.2.3.4"))
    (req,) = events_of(scp)
    assert isinstance(req, AssociateRequested)
    assert req.request.application_context_name == "1.2.3.4"
    rj = check_request(req.request)
    assert (rj.result, rj.source, rj.reason) == (1, 1, RJ_APPLICATION_CONTEXT_NOT_SUPPORTED)
    scp.reject(rj.result, rj.source, rj.reason)
    sent = decode_pdu(scp.data_to_send())
    assert (sent.result, sent.source, sent.reason) == (1, 1, 2)


def test_accept_names_the_dicom_context_not_the_proposed_one():
    """An acceptor that accepts anyway (no check_request) answers with the context it runs,
    DICOM's (PS3.8 7.1.1.2: the acceptor may return a different name), never the peer's."""
    scp = Association("acceptor", supported=SUPPORTED)
    scp.receive_data(rq_with_name("1.2.3.4"))
    events_of(scp)
    scp.accept()
    assert isinstance(events_of(scp)[0], Established)
    ac = decode_pdu(scp.data_to_send())
    assert isinstance(ac, AAssociateAC)
    assert ac.application_context_name == DEFAULT_APPLICATION_CONTEXT
