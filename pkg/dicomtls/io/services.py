"""Services composed into one server: a ``typing.Protocol`` per service class, the link each
service answers through, and the registry that routes an association's requests.

A service says which presentation contexts it accepts (``supported``: abstract syntax ->
transfer syntaxes) and implements one or more service-class protocols:

* ``EchoHandler``           C-ECHO (Verification)
* ``StoreHandler``          C-STORE, the data set streamed to it fragment by fragment
* ``QueryRetrieveHandler``  C-FIND, C-MOVE, C-GET
* ``NHandler``              N-GET, N-SET, N-ACTION, N-CREATE, N-DELETE, and the
  N-EVENT-REPORT-RSPs answering the reports it sent

plus the association-wide hooks every ``Service`` has: ``accept_user_items``,
``release_requested`` and ``close``. ``ServiceBase`` gives each hook a default that does
nothing, so a service writes only the hooks it needs.

``ServiceRegistry`` takes the services of one association and checks, once, which protocols
each implements (``isinstance`` against the runtime-checkable protocols); it builds the table
{(request type, SOP class): bound method} the association's requests are routed by, the union
of the contexts to accept and the streaming predicate. Nothing is probed per message.

A service's blocking work runs on the association's background worker (``ServiceLink.submit``);
each job names its continuation, called on the association's thread with the job's result.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence, runtime_checkable

from ..dimse.messages import (C_CANCEL_RQ, C_ECHO_RQ, C_FIND_RQ, C_GET_RQ, C_MOVE_RQ,
                              C_STORE_RQ, N_ACTION_RQ, N_CREATE_RQ, N_DELETE_RQ,
                              N_EVENT_REPORT_RSP, N_GET_RQ, N_SET_RQ, response_for)
from ..dimse.status import Status
from ..ul.association import (Aborted, Association, DatasetComplete, DatasetFragment,
                              DatasetStarted, MessageReceived)
from ..ul.negotiation import (DEFAULT_TRANSFER_SYNTAXES, IMPLICIT_VR_LITTLE_ENDIAN,
                              VERIFICATION_SOP_CLASS)
from .served import ServedAssociation
from .worker import JobDone, OrderedWorker

log = logging.getLogger(__name__)

Supported = Mapping[str, Sequence[str]]   # abstract syntax -> transfer syntaxes


class OperationStopped(Exception):
    """The association went away during a long operation: stop it without answering."""


class ServiceLink:
    """One association being served, as its services see it: ``assoc`` (the sans-IO
    ``Association``), ``driver`` (its ``transport.Driver``), ``result`` (the
    ``ServedAssociation`` being recorded) and ``calling_ae`` (the requestor's AE title, once it
    asked). A long operation (C-FIND, C-MOVE, C-GET) looks for a C-CANCEL with ``cancelled``
    and waits for its sub-operations' responses with ``wait_response``; whatever else arrives
    meanwhile goes back to the association's main loop when the operation ends."""

    def __init__(self, assoc: Association, driver, result: ServedAssociation,
                 calling_ae: Optional[str] = None):
        self.assoc = assoc
        self.driver = driver
        self.result = result
        self.calling_ae = calling_ae
        #: The ``StoreHandler`` receiving the data set being streamed, between its
        #: ``DatasetStarted`` and ``DatasetComplete``.
        self.receiving: Optional[StoreHandler] = None
        self._message_id = 0
        self._deferred: list = []
        self._cancels: set = set()
        self._worker: Optional[OrderedWorker] = None

    @property
    def can_send(self) -> bool:
        """Whether an answer can still go out: the association is established and its
        transport open (after the end, continuations run only to count)."""
        return self.assoc.is_established and not self.driver.closed

    @property
    def secure(self) -> bool:
        """Whether the association runs over TLS."""
        return self.result.session is not None

    def transfer_syntax(self, context_id: int) -> str:
        return self.assoc.contexts[context_id].transfer_syntax

    def next_message_id(self) -> int:
        """A Message ID for a request we send (C-STORE sub-operations, N-EVENT-REPORTs)."""
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def send(self, context_id: int, message, dataset=None) -> None:
        """Queue ``message`` (written at the next ``flush``, or when the driver next reads)."""
        self.assoc.send_message(context_id, message, dataset)

    def send_file(self, context_id: int, message, reader) -> None:
        """Send ``message`` with a data set read from a file (``Driver.send_dataset``)."""
        self.driver.send_dataset(context_id, message, reader)

    def answer(self, event: MessageReceived, status: int, dataset=None, **fields) -> None:
        """Queue the response to the request ``event`` carries."""
        self.send(event.context_id, response_for(event.message, status, **fields), dataset)

    def flush(self) -> None:
        self.driver.flush()

    def abort(self) -> None:
        """A-ABORT, if the association is still there to abort."""
        if self.assoc.fsm.allows("Evt15"):
            self.assoc.abort()
            self.flush()

    # -- long operations --
    def cancelled(self, message_id: int) -> bool:
        """Whether a C-CANCEL-RQ for ``message_id`` has arrived (looks without blocking).
        OperationStopped once the association is gone."""
        if message_id in self._cancels:
            self._cancels.discard(message_id)
            return True
        while True:
            event = self.driver.poll_event()
            if event is None:
                return False
            if isinstance(event, MessageReceived) and isinstance(event.message, C_CANCEL_RQ):
                if event.message.message_id_being_responded_to == message_id:
                    return True
                continue  # nothing else of ours runs: a cancel for another ID has no target
            self._defer(event)

    def wait_response(self, message_id: int, response_type: type):
        """Read until the ``response_type`` answering our request ``message_id`` arrives and
        return that message. C-CANCELs are kept for ``cancelled``; OperationStopped once the
        association is gone."""
        while True:
            event = self.driver.next_event()
            if event is None:
                raise OperationStopped()
            if isinstance(event, MessageReceived):
                msg = event.message
                if isinstance(msg, response_type) and \
                        msg.message_id_being_responded_to == message_id:
                    return msg
                if isinstance(msg, C_CANCEL_RQ):
                    self._cancels.add(msg.message_id_being_responded_to)
                    continue
            self._defer(event)

    def _defer(self, event) -> None:
        self._deferred.append(event)
        if isinstance(event, Aborted) or not self.assoc.is_established:
            raise OperationStopped()

    def end_operation(self) -> None:
        """Hand what arrived during the operation back to the main loop, in order."""
        for event in self._deferred:
            self.driver.unread(event)
        self._deferred = []
        self._cancels.clear()

    # -- background work --
    def submit(self, fn: Callable[[], Any], then: Callable[["ServiceLink", Any], None], *,
               threads: int = 1) -> None:
        """Run ``fn()`` on the association's background worker (started with ``threads``
        threads by the first call); ``then(link, result)`` runs on the association's thread
        once it and every job submitted before it have finished (``result``: what ``fn``
        returned, or the exception it raised)."""
        if self._worker is None:
            self._worker = self.driver.background = OrderedWorker("dicomtls-service",
                                                                  threads=threads)
        self._worker.submit(then, fn)

    @property
    def has_background(self) -> bool:
        return self._worker is not None

    def drain_background(self) -> None:
        """Wait for every job and run its continuation now."""
        if self._worker is not None:
            for done in self._worker.drain():
                done.job(self, done.result)

    def stop_background(self) -> None:
        """Let the jobs finish, stop the worker, run the continuations (the association may
        be over: services answer only while ``can_send``)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self.driver.background = None
            for done in worker.close():
                done.job(self, done.result)


# ---- the protocols ------------------------------------------------------------------------------
@runtime_checkable
class Service(Protocol):
    """What every service has; ``ServiceBase`` gives the hooks their defaults."""

    #: The presentation contexts this service accepts: abstract syntax -> transfer syntaxes.
    supported: Supported

    def accept_user_items(self, link: ServiceLink, rq) -> tuple:
        """User information sub-items for the A-ASSOCIATE-AC (async window, role selection)."""

    def release_requested(self, link: ServiceLink) -> None:
        """The peer asked to release: finish and answer what is outstanding now."""

    def close(self, link: ServiceLink) -> None:
        """The association is over (released, aborted, vanished): discard partial work."""


@runtime_checkable
class EchoHandler(Service, Protocol):
    """C-ECHO (Verification): answer the request through ``link``."""

    def c_echo(self, link: ServiceLink, event: MessageReceived) -> None: ...


@runtime_checkable
class StoreHandler(Service, Protocol):
    """C-STORE with the data set streamed: ``store_started``, one ``store_fragment`` per
    received fragment (a view of the PDU, valid during the call), then ``store_complete``."""

    def store_started(self, link: ServiceLink, event: DatasetStarted) -> None: ...

    def store_fragment(self, link: ServiceLink, event: DatasetFragment) -> None: ...

    def store_complete(self, link: ServiceLink, event: DatasetComplete) -> None: ...


@runtime_checkable
class QueryRetrieveHandler(Service, Protocol):
    """C-FIND, C-MOVE and C-GET: each answers with Pending responses and a final status,
    looking for C-CANCEL through ``link.cancelled``."""

    def c_find(self, link: ServiceLink, event: MessageReceived) -> None: ...

    def c_move(self, link: ServiceLink, event: MessageReceived) -> None: ...

    def c_get(self, link: ServiceLink, event: MessageReceived) -> None: ...


@runtime_checkable
class NHandler(Service, Protocol):
    """The DIMSE-N requests of the SOP classes in ``supported``, and the N-EVENT-REPORT-RSPs
    answering the reports this service sent."""

    def n_request(self, link: ServiceLink, event: MessageReceived) -> None:
        """An N-GET, N-SET, N-ACTION, N-CREATE or N-DELETE request."""

    def n_event_report_answered(self, link: ServiceLink, event: MessageReceived) -> None:
        """The N-EVENT-REPORT-RSP to a report this service sent."""


class ServiceBase:
    """The ``Service`` hooks doing nothing: subclass and write only the ones you need."""

    supported: Supported = {}

    def accept_user_items(self, link: ServiceLink, rq) -> tuple:
        return ()

    def release_requested(self, link: ServiceLink) -> None:
        pass

    def close(self, link: ServiceLink) -> None:
        pass


class VerificationService(ServiceBase):
    """The Verification SCP: every C-ECHO-RQ is answered with success."""

    supported = {VERIFICATION_SOP_CLASS: (IMPLICIT_VR_LITTLE_ENDIAN,) + tuple(
        ts for ts in DEFAULT_TRANSFER_SYNTAXES if ts != IMPLICIT_VR_LITTLE_ENDIAN)}

    def c_echo(self, link: ServiceLink, event: MessageReceived) -> None:
        link.answer(event, Status.SUCCESS)
        link.result.echoes += 1


# ---- the registry -------------------------------------------------------------------------------
_N_REQUESTS = (N_GET_RQ, N_SET_RQ, N_ACTION_RQ, N_CREATE_RQ, N_DELETE_RQ)


_PROTOCOLS: dict = {}   # service class -> the protocols its instances implement


def _protocols_of(service) -> frozenset:
    """Which of Service, EchoHandler, QueryRetrieveHandler, NHandler and StoreHandler
    ``service`` implements. Checked once per class: ``isinstance`` against a runtime-checkable
    protocol inspects every member each time (about 40 us per check; five of them per service
    made a sixth of a resumed TLS association's server time). Services define their methods on
    the class, so the answer is the class's."""
    cls = type(service)
    found = _PROTOCOLS.get(cls)
    if found is None:
        found = _PROTOCOLS[cls] = frozenset(
            p for p in (Service, EchoHandler, QueryRetrieveHandler, NHandler, StoreHandler)
            if isinstance(service, p))
    return found


def _routes_of(service) -> dict:
    """{message type: bound method} for the service-class protocols ``service`` implements."""
    out: dict = {}
    kinds = _protocols_of(service)
    if EchoHandler in kinds:
        out[C_ECHO_RQ] = service.c_echo
    if QueryRetrieveHandler in kinds:
        out.update({C_FIND_RQ: service.c_find, C_MOVE_RQ: service.c_move,
                    C_GET_RQ: service.c_get})
    if NHandler in kinds:
        out.update(dict.fromkeys(_N_REQUESTS, service.n_request))
        out[N_EVENT_REPORT_RSP] = service.n_event_report_answered
    return out


def _service_name(msg) -> str:
    """How ``ServedAssociation.operations`` names the service of a request: "n_get" for
    N-GET-RQ, "find" for C-FIND-RQ."""
    name = msg.name.removesuffix("-RQ")
    return name.lower().replace("-", "_") if name.startswith("N-") else name[2:].lower()


class ServiceRegistry:
    """The services of one association and the routes to them (see the module docstring).

    TypeError for an object that is not a ``Service`` or implements no service-class protocol;
    ValueError when two services would answer the same request for the same SOP class."""

    def __init__(self, services: Sequence[Service]):
        self.services = tuple(services)
        self.supported: dict[str, tuple[str, ...]] = {}
        self._routes: dict[tuple[type, str], Callable] = {}
        self._stores: dict[str, StoreHandler] = {}   # SOP class -> who receives its C-STOREs
        for service in self.services:
            if Service not in _protocols_of(service):
                raise TypeError(f"{service!r} is not a service (supported, accept_user_items, "
                                f"release_requested, close: see ServiceBase)")
            routes = _routes_of(service)
            stores = StoreHandler in _protocols_of(service)
            if not routes and not stores:
                raise TypeError(f"{service!r} implements no service-class protocol (EchoHandler, "
                                f"StoreHandler, QueryRetrieveHandler, NHandler)")
            for uid, syntaxes in service.supported.items():
                ours = self.supported.get(uid, ())
                self.supported[uid] = ours + tuple(ts for ts in syntaxes if ts not in ours)
                taken = [kind.name for kind in routes if (kind, uid) in self._routes]
                if stores and uid in self._stores:
                    taken.append(C_STORE_RQ.name)
                if taken:
                    raise ValueError(f"two services answer {', '.join(taken)} for {uid}")
                self._routes.update(((kind, uid), method) for kind, method in routes.items())
                if stores:
                    self._stores[uid] = service

    def streams(self, message) -> bool:
        """The ``Association`` streaming predicate: C-STOREs a ``StoreHandler`` receives."""
        return isinstance(message, C_STORE_RQ) and message.affected_sop_class_uid in self._stores

    def accept_user_items(self, link: ServiceLink, rq) -> tuple:
        return tuple(item for service in self.services
                     for item in service.accept_user_items(link, rq))

    def release_requested(self, link: ServiceLink) -> None:
        for service in self.services:
            service.release_requested(link)

    def close(self, link: ServiceLink) -> None:
        link.stop_background()
        for service in self.services:
            service.close(link)

    def dispatch(self, link: ServiceLink, event) -> None:
        """Hand one event of the established association to the service it belongs to."""
        if isinstance(event, DatasetFragment):   # first: the most frequent event by far
            if link.receiving is not None:
                link.receiving.store_fragment(link, event)
        elif isinstance(event, DatasetStarted):
            link.receiving = self._stores[event.message.affected_sop_class_uid]
            link.receiving.store_started(link, event)
        elif isinstance(event, DatasetComplete):
            handler, link.receiving = link.receiving, None
            if handler is not None:
                handler.store_complete(link, event)
        elif isinstance(event, JobDone):
            event.job(link, event.result)   # the continuation ``ServiceLink.submit`` was given
        elif isinstance(event, MessageReceived):
            self._message(link, event)
        else:
            log.debug("ignoring %r", event)

    def _message(self, link: ServiceLink, event: MessageReceived) -> None:
        msg = event.message
        sop_class = getattr(msg, "affected_sop_class_uid", None) or \
            getattr(msg, "requested_sop_class_uid", None) or \
            link.assoc.contexts[event.context_id].abstract_syntax
        method = self._routes.get((type(msg), sop_class))
        if method is not None:
            try:
                method(link, event)
            except OperationStopped:
                pass
            finally:
                link.end_operation()
        elif isinstance(msg, C_CANCEL_RQ):
            log.debug("C-CANCEL-RQ for message %s: nothing of that ID is running",
                      msg.message_id_being_responded_to)
        elif msg.is_request:
            # An answer, not an abort: the peer learns why and the association goes on.
            status = Status.UNRECOGNIZED_OPERATION if sop_class in self.supported \
                else Status.SOP_CLASS_NOT_SUPPORTED
            log.warning("answering %s for %s with 0x%04X: no service for it", msg.name,
                        sop_class, status)
            link.answer(event, status)
            link.result.operations.append({"service": _service_name(msg), "sop_class": sop_class,
                                           "status": status})
        else:
            log.debug("ignoring a %s nothing waits for", msg.name)


__all__ = ["EchoHandler", "NHandler", "OperationStopped", "QueryRetrieveHandler", "Service",
           "ServiceBase", "ServiceLink", "ServiceRegistry", "StoreHandler", "Supported",
           "VerificationService"]
