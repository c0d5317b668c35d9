"""DIMSE-N SCP: ``NServices`` (an ``io.services.NHandler``) answers N-GET, N-SET, N-ACTION,
N-CREATE and N-DELETE with one handler per SOP class; ``NServiceServer`` composes it with
Verification on an ``io.server.AssociationServer``.

A handler implements ``NServiceHandler`` (``NServiceBase`` answers every operation 0x0211,
Unrecognized operation, so a handler writes only the ones its SOP class has). Each method gets
an ``NRequest`` last (the message, its transfer syntax, the calling AE, ``event_report``):

* ``n_get(instance, attribute_tags, req)``  -> status | (status, data set bytes | None)
* ``n_set(instance, modification, req)``    -> status | (status, data set bytes | None)
* ``n_action(instance, action_type_id, info, req)`` -> status | (status, reply bytes | None)
* ``n_create(instance | None, attrs, req)`` -> status | (status, instance) |
  (status, instance, data set bytes | None)
* ``n_delete(instance, req)``               -> status

A handler returning None is answered 0x0112 (No such SOP Instance), one raising
``NServiceRefusal`` with its status, Error Comment and Error ID, one raising anything else
0x0110 (Processing failure). ``req.event_report(event_type_id, dataset=None, instance=None)``
queues an N-EVENT-REPORT-RQ sent to the SCU on the same association right after the response
(e.g. a Storage Commitment result after the N-ACTION); its N-EVENT-REPORT-RSP status is
recorded in ``event_statuses``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Mapping, Optional, Protocol, runtime_checkable

from ..dimse.messages import (N_ACTION_RQ, N_CREATE_RQ, N_DELETE_RQ, N_EVENT_REPORT_RQ, N_GET_RQ,
                              N_SET_RQ)
from ..dimse.status import Status
from ..errors import DIMSEStatusError
from ..io.server import AssociationServer
from ..io.services import ServiceBase, ServiceLink, VerificationService
from ..ul.negotiation import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from .scu import EXPLICIT_VR_BIG_ENDIAN

log = logging.getLogger(__name__)

SUCCESS = Status.SUCCESS
PROCESSING_FAILURE = Status.PROCESSING_FAILURE
NO_SUCH_SOP_INSTANCE = Status.NO_SUCH_SOP_INSTANCE
SOP_CLASS_NOT_SUPPORTED = Status.SOP_CLASS_NOT_SUPPORTED
UNRECOGNIZED_OPERATION = Status.UNRECOGNIZED_OPERATION

N_TRANSFER_SYNTAXES = (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN,
                       EXPLICIT_VR_BIG_ENDIAN)


class NServiceRefusal(DIMSEStatusError):
    """Raised by a handler: answer with ``status``, the message as Error Comment (0000,0902)
    and ``error_id`` as Error ID (0000,0903), as PS3.4 asks of some refusals."""

    def __init__(self, message: str, *, status: int, error_id: Optional[int] = None):
        super().__init__(message, status=status)
        self.error_id = error_id


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


@runtime_checkable
class NServiceHandler(Protocol):
    """The DIMSE-N operations on one SOP class (see the module docstring for the answers)."""

    def n_get(self, instance: str, attribute_tags: tuple, req: NRequest): ...

    def n_set(self, instance: str, modification: Optional[bytes], req: NRequest): ...

    def n_action(self, instance: str, action_type_id: int, info: Optional[bytes],
                 req: NRequest): ...

    def n_create(self, instance: Optional[str], attrs: Optional[bytes], req: NRequest): ...

    def n_delete(self, instance: str, req: NRequest): ...


class NServiceBase:
    """Every operation answered 0x0211 (Unrecognized operation): subclass and write the ones
    your SOP class has."""

    def n_get(self, instance, attribute_tags, req):
        return UNRECOGNIZED_OPERATION

    def n_set(self, instance, modification, req):
        return UNRECOGNIZED_OPERATION

    def n_action(self, instance, action_type_id, info, req):
        return UNRECOGNIZED_OPERATION

    def n_create(self, instance, attrs, req):
        return UNRECOGNIZED_OPERATION

    def n_delete(self, instance, req):
        return UNRECOGNIZED_OPERATION


def _split(answer, n: int) -> tuple:
    """A handler's answer as an ``n``-tuple (status first, None-padded)."""
    if answer is None:
        return (None,) * n
    if not isinstance(answer, tuple):
        answer = (answer,)
    return tuple(answer[:n]) + (None,) * (n - len(answer))


def _get(handler, msg, instance, dataset, req):
    return _split(handler.n_get(instance, tuple(msg.attribute_identifier_list or ()), req), 2)


def _set(handler, msg, instance, dataset, req):
    return _split(handler.n_set(instance, dataset, req), 2)


def _action(handler, msg, instance, dataset, req):
    return _split(handler.n_action(instance, msg.action_type_id, dataset, req), 2)


def _delete(handler, msg, instance, dataset, req):
    return _split(handler.n_delete(instance, req), 1)[0], None   # never a data set


#: request type -> (the record's name, how the handler is called: (status, data set))
_OPERATIONS = {N_GET_RQ: ("n_get", _get), N_SET_RQ: ("n_set", _set),
               N_ACTION_RQ: ("n_action", _action), N_DELETE_RQ: ("n_delete", _delete)}


class NServices(ServiceBase):
    """The DIMSE-N SCP service: ``handlers`` {SOP class UID: ``NServiceHandler``} (shared by
    every association). TypeError for a handler that is not one."""

    def __init__(self, handlers: Mapping[str, NServiceHandler]):
        for uid, handler in handlers.items():
            if not isinstance(handler, NServiceHandler):
                raise TypeError(f"the handler for {uid} is not an NServiceHandler (n_get, n_set, "
                                f"n_action, n_create, n_delete: see NServiceBase)")
        self.handlers = dict(handlers)
        self.supported = {uid: N_TRANSFER_SYNTAXES for uid in self.handlers}

    def n_event_report_answered(self, link: ServiceLink, event) -> None:
        link.result.event_statuses.append(event.message.status)

    def n_request(self, link: ServiceLink, event) -> None:
        msg, ctx = event.message, event.context_id
        creating = isinstance(msg, N_CREATE_RQ)
        if creating:
            sop_class, instance = msg.affected_sop_class_uid, msg.affected_sop_instance_uid
            method = "n_create"
        else:
            sop_class, instance = msg.requested_sop_class_uid, msg.requested_sop_instance_uid
            method = _OPERATIONS[type(msg)][0]
        req = NRequest(msg, ctx, link.transfer_syntax(ctx), link.calling_ae)
        handler = self.handlers[sop_class]   # the registry routes only what we support
        op = {"service": method, "sop_class": sop_class, "instance": instance}
        fields: dict = {}
        try:
            if creating:
                status, instance, data = self._create(handler, msg, instance, event.dataset, req)
            else:
                status, data = _OPERATIONS[type(msg)][1](handler, msg, instance, event.dataset,
                                                         req)
        except NServiceRefusal as exc:
            status, data = exc.status, None
            fields = {"error_comment": str(exc)[:64], "error_id": exc.error_id}
            req.events.clear()
        except Exception as exc:  # the handler's bug: a failure status, not a dead link
            log.exception("%s handler for %s failed", method, sop_class)
            status, data, op["error"] = PROCESSING_FAILURE, None, str(exc)
            req.events.clear()
        if status is None:
            status, data = NO_SUCH_SOP_INSTANCE, None
        op["instance"], op["status"] = instance, int(status)
        link.result.operations.append(op)   # one entry per request, whatever happened
        link.answer(event, int(status), None if data is None else bytes(data),
                    affected_sop_instance_uid=instance, **fields)
        for event_type_id, dataset, ev_instance in req.events:
            link.send(ctx, N_EVENT_REPORT_RQ(
                message_id=link.next_message_id(), affected_sop_class_uid=sop_class,
                affected_sop_instance_uid=ev_instance or instance,
                event_type_id=event_type_id), dataset)

    @staticmethod
    def _create(handler, msg, instance, dataset, req) -> tuple:
        """(status, instance, data set) of an N-CREATE: the SCP names the new instance when
        the SCU did not and the handler did not either."""
        status, created, data = _split(handler.n_create(instance, dataset, req), 3)
        if created is None and instance is None and status is not None and status < 0xA000:
            from pydicom.uid import generate_uid
            created = generate_uid()
        return status, created or instance, data


def NServiceServer(handlers: Mapping[str, NServiceHandler], host: str = "127.0.0.1",
                   port: int = 0, **kwargs):
    """DIMSE-N + Verification SCP: an ``io.server.AssociationServer`` (``kwargs``:
    ``tls_config``, ``ae_title``, ``timeout``, ``on_result``, ...)."""
    return AssociationServer(host, port, services=(VerificationService,
                                                   partial(NServices, handlers)), **kwargs)


__all__ = ["NRequest", "NServiceBase", "NServiceHandler", "NServiceRefusal", "NServiceServer",
           "NServices", "N_TRANSFER_SYNTAXES", "NO_SUCH_SOP_INSTANCE", "PROCESSING_FAILURE",
           "SOP_CLASS_NOT_SUPPORTED", "UNRECOGNIZED_OPERATION"]
