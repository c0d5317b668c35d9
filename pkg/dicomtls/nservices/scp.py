"""DIMSE-N SCP: ``NServiceHandler`` plugs into ``serve_association`` like ``StorageHandler``;
``NServiceServer`` is its accept loop (a ``VerificationServer``).

``handlers`` maps a SOP class UID to an object with any of these methods (each gets an
``NRequest`` last: the message, its transfer syntax, the calling AE and ``event_report``):

* ``n_get(instance, attribute_tags, req)``  -> status | (status, data set bytes | None)
* ``n_set(instance, modification, req)``    -> status | (status, data set bytes | None)
* ``n_action(instance, action_type_id, info, req)`` -> status | (status, reply bytes | None)
* ``n_create(instance | None, attrs, req)`` -> status | (status, instance) |
  (status, instance, data set bytes | None)
* ``n_delete(instance, req)``               -> status

A missing method is answered 0x0211 (Unrecognized operation), a handler returning None 0x0112
(No such SOP Instance), a handler raising 0x0110 (Processing failure), a SOP class without a
handler 0x0122 (SOP Class not supported). ``req.event_report(event_type_id, dataset=None,
instance=None)`` queues an N-EVENT-REPORT-RQ sent to the SCU on the same association right after
the response (e.g. a Storage Commitment result after the N-ACTION); its N-EVENT-REPORT-RSP status
is recorded in ``event_statuses``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Optional

from ..dimse.messages import (N_ACTION_RQ, N_ACTION_RSP, N_CREATE_RQ, N_CREATE_RSP, N_DELETE_RQ,
                              N_DELETE_RSP, N_EVENT_REPORT_RQ, N_EVENT_REPORT_RSP, N_GET_RQ,
                              N_GET_RSP, N_SET_RQ, N_SET_RSP)
from ..io.association_runner import ServedAssociation, VerificationServer, serve_association
from ..ul.association import MessageReceived
from ..ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
                              VERIFICATION_SOP_CLASS, accept_in_proposer_order)
from .scu import EXPLICIT_VR_BIG_ENDIAN

log = logging.getLogger(__name__)

SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
NO_SUCH_SOP_INSTANCE = 0x0112
SOP_CLASS_NOT_SUPPORTED = 0x0122
UNRECOGNIZED_OPERATION = 0x0211

N_TRANSFER_SYNTAXES = (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN,
                       EXPLICIT_VR_BIG_ENDIAN)

_OPERATIONS = {N_GET_RQ: ("n_get", N_GET_RSP), N_SET_RQ: ("n_set", N_SET_RSP),
               N_ACTION_RQ: ("n_action", N_ACTION_RSP), N_CREATE_RQ: ("n_create", N_CREATE_RSP),
               N_DELETE_RQ: ("n_delete", N_DELETE_RSP)}


@dataclass
class NRequest:
    """What a handler method gets besides the operation's own arguments."""

    message: object
    context_id: int
    transfer_syntax: str
    calling_ae: Optional[str]
    events: list = field(default_factory=list)   # (event_type_id, dataset, instance) queued

    def event_report(self, event_type_id: int, dataset: Optional[bytes] = None,
                     instance: Optional[str] = None) -> None:
        """Send an N-EVENT-REPORT-RQ to the SCU after this request's response."""
        self.events.append((event_type_id, dataset, instance))


def _split(answer, n: int) -> tuple:
    """A handler's answer as an ``n``-tuple (status first, None-padded)."""
    if answer is None:
        return (None,) * n
    if not isinstance(answer, tuple):
        answer = (answer,)
    return tuple(answer[:n]) + (None,) * (n - len(answer))


class NServiceHandler:
    """The DIMSE-N SCP service for ``serve_association`` (see the module docstring)."""

    stream_datasets = False

    def __init__(self, handlers: Mapping[str, object]):
        self.handlers = dict(handlers)
        self.calling_ae: Optional[str] = None
        self.operations: list[dict] = []
        self.event_statuses: list[int] = []
        self._message_id = 0

    @property
    def supported(self) -> dict:
        out = {uid: N_TRANSFER_SYNTAXES for uid in self.handlers}
        out.setdefault(VERIFICATION_SOP_CLASS, (IMPLICIT_VR_LITTLE_ENDIAN,
                                                EXPLICIT_VR_LITTLE_ENDIAN))
        return out

    # -- serve_association hooks --
    def accept_contexts(self, rq):
        self.calling_ae = rq.calling_ae_title.strip()
        return accept_in_proposer_order(rq.presentation_contexts, self.supported)

    def handle(self, assoc, event, result: ServedAssociation) -> bool:
        if not isinstance(event, MessageReceived):
            return False
        msg = event.message
        if isinstance(msg, N_EVENT_REPORT_RSP):
            self.event_statuses.append(msg.status)
            return True
        if type(msg) not in _OPERATIONS:
            return False
        self._serve(assoc, event)
        return True

    def close(self, result: ServedAssociation) -> None:
        result.operations.extend(self.operations)  # what was asked, with the status answered
        result.event_statuses.extend(self.event_statuses)

    # -- the operations --
    def _serve(self, assoc, event) -> None:
        msg, ctx = event.message, event.context_id
        method, rsp_cls = _OPERATIONS[type(msg)]
        if isinstance(msg, N_CREATE_RQ):
            sop_class, instance = msg.affected_sop_class_uid, msg.affected_sop_instance_uid
        else:
            sop_class, instance = msg.requested_sop_class_uid, msg.requested_sop_instance_uid
        req = NRequest(msg, ctx, assoc.contexts[ctx].transfer_syntax, self.calling_ae)
        data, error = None, None
        target = self.handlers.get(sop_class)
        if target is None:
            status = SOP_CLASS_NOT_SUPPORTED
        elif not hasattr(target, method):
            status = UNRECOGNIZED_OPERATION
        else:
            try:
                status, instance, data = self._call(getattr(target, method), msg, instance,
                                                    event.dataset, req)
            except Exception as exc:  # the handler's bug: a failure status, not a dead link
                log.exception("%s handler for %s failed", method, sop_class)
                status, data, error = PROCESSING_FAILURE, None, str(exc)
                req.events.clear()
        op = {"service": method, "sop_class": sop_class, "instance": instance, "status": status}
        if error is not None:
            op["error"] = error  # one entry per request, whatever happened
        self.operations.append(op)
        rsp = rsp_cls(message_id_being_responded_to=msg.message_id, status=status,
                      affected_sop_class_uid=sop_class, affected_sop_instance_uid=instance)
        if isinstance(msg, N_ACTION_RQ):
            rsp.action_type_id = msg.action_type_id
        if isinstance(msg, N_DELETE_RQ):
            data = None  # N-DELETE-RSP never carries a data set
        assoc.send_message(ctx, rsp, data)
        for event_type_id, dataset, ev_instance in req.events:
            self._message_id = self._message_id % 0xFFFF + 1
            assoc.send_message(ctx, N_EVENT_REPORT_RQ(
                message_id=self._message_id, affected_sop_class_uid=sop_class,
                affected_sop_instance_uid=ev_instance or instance,
                event_type_id=event_type_id), dataset)

    @staticmethod
    def _call(fn, msg, instance, dataset, req) -> tuple:
        """(status, instance, data set bytes | None) from the handler method."""
        if isinstance(msg, N_GET_RQ):
            status, data = _split(fn(instance, tuple(msg.attribute_identifier_list or ()), req), 2)
        elif isinstance(msg, N_SET_RQ):
            status, data = _split(fn(instance, dataset, req), 2)
        elif isinstance(msg, N_ACTION_RQ):
            status, data = _split(fn(instance, msg.action_type_id, dataset, req), 2)
        elif isinstance(msg, N_CREATE_RQ):
            status, created, data = _split(fn(instance, dataset, req), 3)
            if created is None and instance is None and status is not None \
                    and status < 0xA000:  # success/warning: the SCP names the new instance
                from pydicom.uid import generate_uid
                created = generate_uid()
            instance = created or instance
        else:
            status, data = _split(fn(instance, req), 1)[0], None
        if status is None:
            return NO_SUCH_SOP_INSTANCE, instance, None
        return int(status), instance, (None if data is None else bytes(data))


def serve_nservice_association(transport, handlers: Mapping[str, object], *,
                               ae_title: Optional[str] = None, calling_aes=None,
                               timeout: Optional[float] = 30.0) -> ServedAssociation:
    """Run one association as a DIMSE-N (+ Verification) SCP with ``handlers``."""
    handler = NServiceHandler(handlers)
    return serve_association(transport, ae_title=ae_title, calling_aes=calling_aes,
                             supported=handler.supported, timeout=timeout, handler=handler)


class NServiceServer(VerificationServer):
    """DIMSE-N + Verification SCP: ``NServiceServer(handlers, host, port, tls_config=...,
    ae_title=...)``; one thread per association, a fresh ``NServiceHandler`` each."""

    def __init__(self, handlers: Mapping[str, object], host: str = "127.0.0.1", port: int = 0,
                 **kwargs):
        super().__init__(host, port, **kwargs)
        self.handlers = handlers

    def serve_transport(self, transport) -> ServedAssociation:
        result = serve_nservice_association(transport, self.handlers, ae_title=self.ae_title,
                                            timeout=self.timeout)
        log.info("%s", result.summary())
        return result


__all__ = ["NRequest", "NServiceHandler", "NServiceServer", "N_TRANSFER_SYNTAXES",
           "NO_SUCH_SOP_INSTANCE", "PROCESSING_FAILURE", "SOP_CLASS_NOT_SUPPORTED",
           "UNRECOGNIZED_OPERATION", "serve_nservice_association"]
