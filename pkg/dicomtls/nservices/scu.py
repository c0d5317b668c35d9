"""DIMSE-N SCU: N-GET, N-SET, N-ACTION, N-CREATE, N-DELETE over a ``ClientAssociation``, and the
answer to an N-EVENT-REPORT-RQ the SCP sends on the same association (e.g. a Storage Commitment
result).

Data sets are bytes in the context's negotiated transfer syntax; ``encode_dataset`` /
``decode_dataset`` convert a pydicom Dataset (Implicit/Explicit VR Little Endian, Explicit VR
Big Endian) for the context's syntax.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

from ..dimse.messages import (N_ACTION_RQ, N_ACTION_RSP, N_CREATE_RQ, N_CREATE_RSP, N_DELETE_RQ,
                              N_DELETE_RSP, N_EVENT_REPORT_RQ, N_EVENT_REPORT_RSP, N_GET_RQ,
                              N_GET_RSP, N_SET_RQ, N_SET_RSP)
from ..ul.negotiation import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

log = logging.getLogger(__name__)

EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_SYNTAXES = {IMPLICIT_VR_LITTLE_ENDIAN: (True, True), EXPLICIT_VR_LITTLE_ENDIAN: (False, True),
             EXPLICIT_VR_BIG_ENDIAN: (False, False)}


def _syntax(transfer_syntax: str) -> tuple:
    try:
        return _SYNTAXES[transfer_syntax]
    except KeyError:
        raise ValueError(f"N-service data sets in {transfer_syntax} are not supported") from None


def encode_dataset(ds, transfer_syntax: str) -> bytes:
    """A pydicom Dataset as data set bytes in ``transfer_syntax``."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    implicit, little = _syntax(transfer_syntax)
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = little, implicit
    write_dataset(fp, ds)
    return fp.getvalue()


def decode_dataset(data, transfer_syntax: str):
    """Data set bytes in ``transfer_syntax`` as a pydicom Dataset."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_dataset
    implicit, little = _syntax(transfer_syntax)
    return read_dataset(DicomBytesIO(bytes(data or b"")), implicit, little)


def _tags(attribute_tags) -> Optional[tuple]:
    if not attribute_tags:
        return None
    out = []
    for t in attribute_tags:
        if isinstance(t, tuple):
            t = (t[0] << 16) | t[1]
        out.append(int(t))
    return tuple(out)


class NServiceClient:
    """DIMSE-N requests on an established ``ClientAssociation`` (one outstanding at a time).

    Each request finds the accepted context for its SOP class (``context_for``) and waits for the
    response with its message ID. An N-EVENT-REPORT-RQ arriving meanwhile (or in
    ``wait_event_report``) goes to ``on_event_report(event_rq, dataset_bytes, transfer_syntax)``
    which returns the status to answer (default 0x0000); the reports are kept in ``events``.
    ``last_response``: the last response message (its Error Comment and Error ID, say)."""

    def __init__(self, assoc, *, on_event_report: Optional[Callable] = None):
        self.assoc = assoc
        self.on_event_report = on_event_report
        self.events: list[tuple] = []   # (N_EVENT_REPORT_RQ, dataset bytes | None)
        self.last_response = None

    def transfer_syntax(self, sop_class: str) -> str:
        ctx = self.assoc.context_for(sop_class)
        return self.assoc.contexts[ctx].transfer_syntax

    # -- plumbing --
    def _request(self, sop_class: str, message, dataset=None, rsp_type=None):
        context_id = self.assoc.context_for(sop_class)
        self.assoc.send_message(context_id, message, dataset)
        while True:
            got = self.assoc.receive_message()
            msg = got.message
            if isinstance(msg, N_EVENT_REPORT_RQ):
                self._answer_event(got)
                continue
            if isinstance(msg, rsp_type) and \
                    msg.message_id_being_responded_to == message.message_id:
                self.last_response = msg
                return msg, got.dataset
            if not self.assoc.dispatch_request(got):  # other requests: answered, not dropped
                log.debug("ignoring %s while waiting for %s", msg.name, rsp_type.name)

    def _event_answer(self, got) -> int:
        """Record an N-EVENT-REPORT-RQ and decide its status (``on_event_report``)."""
        rq = got.message
        self.events.append((rq, got.dataset))
        if self.on_event_report is None:
            return 0x0000
        ts = self.assoc.contexts[got.context_id].transfer_syntax
        answer = self.on_event_report(rq, got.dataset, ts)
        return 0x0000 if answer is None else int(answer)

    def _answer_event(self, got) -> int:
        status = self._event_answer(got)
        rq = got.message
        self.assoc.send_message(got.context_id, N_EVENT_REPORT_RSP(
            message_id_being_responded_to=rq.message_id, status=status,
            affected_sop_class_uid=rq.affected_sop_class_uid,
            affected_sop_instance_uid=rq.affected_sop_instance_uid,
            event_type_id=rq.event_type_id))
        return status

    # -- the services --
    def n_get(self, sop_class: str, instance: str, attribute_tags: Sequence = ()):
        """N-GET: (status, data set bytes or None). ``attribute_tags``: ints or (group, elem)."""
        rsp, data = self._request(sop_class, N_GET_RQ(
            message_id=self.assoc.next_message_id(), requested_sop_class_uid=sop_class,
            requested_sop_instance_uid=instance,
            attribute_identifier_list=_tags(attribute_tags)), rsp_type=N_GET_RSP)
        return rsp.status, data

    def n_set(self, sop_class: str, instance: str, modification: bytes):
        """N-SET with the modification list's bytes: (status, data set bytes or None)."""
        rsp, data = self._request(sop_class, N_SET_RQ(
            message_id=self.assoc.next_message_id(), requested_sop_class_uid=sop_class,
            requested_sop_instance_uid=instance), bytes(modification), rsp_type=N_SET_RSP)
        return rsp.status, data

    def n_action(self, sop_class: str, instance: str, action_type_id: int,
                 info: Optional[bytes] = None):
        """N-ACTION: (status, action reply bytes or None)."""
        rsp, data = self._request(sop_class, N_ACTION_RQ(
            message_id=self.assoc.next_message_id(), requested_sop_class_uid=sop_class,
            requested_sop_instance_uid=instance, action_type_id=action_type_id),
            None if info is None else bytes(info), rsp_type=N_ACTION_RSP)
        return rsp.status, data

    def n_create(self, sop_class: str, instance: Optional[str] = None,
                 attrs: Optional[bytes] = None):
        """N-CREATE: (status, affected SOP instance UID (the SCP's when we gave none), data set
        bytes or None)."""
        rsp, data = self._request(sop_class, N_CREATE_RQ(
            message_id=self.assoc.next_message_id(), affected_sop_class_uid=sop_class,
            affected_sop_instance_uid=instance), None if attrs is None else bytes(attrs),
            rsp_type=N_CREATE_RSP)
        return rsp.status, rsp.affected_sop_instance_uid or instance, data

    def n_delete(self, sop_class: str, instance: str) -> int:
        """N-DELETE: the status."""
        rsp, _ = self._request(sop_class, N_DELETE_RQ(
            message_id=self.assoc.next_message_id(), requested_sop_class_uid=sop_class,
            requested_sop_instance_uid=instance), rsp_type=N_DELETE_RSP)
        return rsp.status

    def wait_event_report(self):
        """Block for the next N-EVENT-REPORT-RQ, answer it: (request, data set bytes or None)."""
        while True:
            got = self.assoc.receive_message()
            if isinstance(got.message, N_EVENT_REPORT_RQ):
                self._answer_event(got)
                return got.message, got.dataset
            if not self.assoc.dispatch_request(got):
                log.debug("ignoring %s while waiting for N-EVENT-REPORT-RQ", got.message.name)

    def handle_request(self, assoc, event):
        """An ``on_request`` handler for the association (``associate(on_request=client.
        handle_request)`` or ``assoc.on_request = ...``): N-EVENT-REPORTs that arrive while
        the association waits elsewhere (an ``echo()``, a C-STORE) are answered and recorded
        like those that arrive during an N-service call; other requests get 0x0211."""
        if isinstance(event.message, N_EVENT_REPORT_RQ):
            return self._event_answer(event)
        return 0x0211


__all__ = ["NServiceClient", "decode_dataset", "encode_dataset"]
