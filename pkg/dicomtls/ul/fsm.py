"""The DICOM Upper Layer state machine (PS3.8 section 9.2), sans-IO.

States ``Sta1``..``Sta13``, events ``Evt1``..``Evt19`` and actions ``AE-1``..``AA-8`` carry the
standard's names. The transition table is data: ``TRANSITIONS[(state, event)] = (action, next)``,
built from a literal transcription of PS3.8 Table 9-10, with each action's next state taken from
its definition in Tables 9-6..9-9. Actions are pure functions returning *outputs*: plain
dataclasses that tell the caller what to do (send a PDU, issue a primitive to the service-user,
start or stop ARTIM, open or close the transport). Nothing here encodes bytes, opens sockets or
keeps time; the association glue turns outputs into I/O and feeds events back.

Two actions choose their next state by a condition; the table cell then holds a ``Choice``
(a named tuple: condition name, next state if true, next state if false) instead of a state:

* ``AE-6``, condition ``"acceptable"``: the A-ASSOCIATE-RQ is acceptable to the service-provider
  (``handle("Evt6", acceptable=False, reject={...})`` to refuse) -> Sta3, else Sta13.
* ``AR-8``, condition ``"requestor"``: this side is the association-requestor -> Sta9, else Sta10.

An empty cell of Table 9-10 is an event that cannot occur in that state. For the service-user's
primitives (Evt1, Evt7..Evt9, Evt11, Evt14, Evt15) that is API misuse; for the transport and timer
events, and for PDUs in Sta1/Sta4 (no transport to carry them), it is a bug in the glue. Both
raise ``InvalidEventError`` (a ``LocalProtocolError``) and leave the machine untouched. Unexpected
PDUs from the peer never raise: the table answers them (AA-1, AA-6, AA-7, AA-8).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Mapping, NamedTuple, Optional, Union

from ..errors import (ABORT_REASON_NOT_SPECIFIED, ABORT_UNEXPECTED_PDU, ABORT_UNRECOGNIZED_PDU,
                      LocalProtocolError)

# ---- States (PS3.8 Tables 9-1..9-5) ----------------------------------------------------------
STATES = {
    "Sta1": "Idle",
    "Sta2": "Transport connection open (Awaiting A-ASSOCIATE-RQ PDU)",
    "Sta3": "Awaiting local A-ASSOCIATE response primitive (from local user)",
    "Sta4": "Awaiting transport connection opening to complete (from local transport service)",
    "Sta5": "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
    "Sta6": "Association established and ready for data transfer",
    "Sta7": "Awaiting A-RELEASE-RP PDU",
    "Sta8": "Awaiting local A-RELEASE response primitive (from local user)",
    "Sta9": "Release collision requestor side; awaiting A-RELEASE response (from local user)",
    "Sta10": "Release collision acceptor side; awaiting A-RELEASE-RP PDU",
    "Sta11": "Release collision requestor side; awaiting A-RELEASE-RP PDU",
    "Sta12": "Release collision acceptor side; awaiting A-RELEASE response primitive "
             "(from local user)",
    "Sta13": "Awaiting Transport Connection Close Indication (Association no longer exists)",
}

# ---- Events (PS3.8 Table 9-10, rows) ---------------------------------------------------------
EVENTS = {
    "Evt1": "A-ASSOCIATE request (local user)",
    "Evt2": "Transport connect confirmation (local transport service)",
    "Evt3": "A-ASSOCIATE-AC PDU (received on transport connection)",
    "Evt4": "A-ASSOCIATE-RJ PDU (received on transport connection)",
    "Evt5": "Transport connection indication (local transport service)",
    "Evt6": "A-ASSOCIATE-RQ PDU (received on transport connection)",
    "Evt7": "A-ASSOCIATE response primitive (accept)",
    "Evt8": "A-ASSOCIATE response primitive (reject)",
    "Evt9": "P-DATA request primitive",
    "Evt10": "P-DATA-TF PDU (received on transport connection)",
    "Evt11": "A-RELEASE request primitive",
    "Evt12": "A-RELEASE-RQ PDU (received on transport connection)",
    "Evt13": "A-RELEASE-RP PDU (received on transport connection)",
    "Evt14": "A-RELEASE response primitive",
    "Evt15": "A-ABORT request primitive",
    "Evt16": "A-ABORT PDU (received on transport connection)",
    "Evt17": "Transport connection closed indication (local transport service)",
    "Evt18": "ARTIM timer expired (Association reject/release timer)",
    "Evt19": "Unrecognized or invalid PDU received",
}

#: Requests and responses of the local service-user.
USER_EVENTS = frozenset({"Evt1", "Evt7", "Evt8", "Evt9", "Evt11", "Evt14", "Evt15"})
#: Events of the local transport service and the ARTIM timer.
TRANSPORT_EVENTS = frozenset({"Evt2", "Evt5", "Evt17", "Evt18"})
#: PDUs arriving from the peer (Evt19: one that could not be decoded or is not a known type).
PDU_EVENTS = frozenset({"Evt3", "Evt4", "Evt6", "Evt10", "Evt12", "Evt13", "Evt16", "Evt19"})

#: The event a decoded PDU raises; anything undecodable is Evt19.
PDU_EVENT = {
    "A-ASSOCIATE-RQ": "Evt6", "A-ASSOCIATE-AC": "Evt3", "A-ASSOCIATE-RJ": "Evt4",
    "P-DATA-TF": "Evt10", "A-RELEASE-RQ": "Evt12", "A-RELEASE-RP": "Evt13", "A-ABORT": "Evt16",
}

# ---- Outputs: what the caller must do --------------------------------------------------------
# Primitive names as PS3.8 section 7 spells the service and its primitive type.
A_ASSOCIATE_INDICATION = "A-ASSOCIATE indication"
A_ASSOCIATE_CONFIRMATION = "A-ASSOCIATE confirmation"   # params["result"]: "accept" | "reject"
P_DATA_INDICATION = "P-DATA indication"
A_RELEASE_INDICATION = "A-RELEASE indication"          # params["collision"]: bool
A_RELEASE_CONFIRMATION = "A-RELEASE confirmation"
A_ABORT_INDICATION = "A-ABORT indication"
A_P_ABORT_INDICATION = "A-P-ABORT indication"


@dataclass(frozen=True)
class SendPDU:
    """Encode and write a PDU. ``kind`` is a key of ``PDU_EVENT``; ``params`` its contents (for
    A-ABORT: ``source`` and ``reason``; for A-ASSOCIATE-RJ: ``result``, ``source``, ``reason``;
    otherwise whatever the caller passed with the event that triggered it)."""

    kind: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Indication:
    """Issue an indication or confirmation primitive to the local service-user."""

    primitive: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StartARTIM:
    """Start the ARTIM timer, or restart it if running; on expiry call ``handle("Evt18")``."""


@dataclass(frozen=True)
class StopARTIM:
    """Stop the ARTIM timer."""


@dataclass(frozen=True)
class OpenTransport:
    """Issue a TRANSPORT CONNECT request; report ``Evt2`` when open, ``Evt17`` if it fails."""

    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CloseTransport:
    """Close the transport connection (then, for a clean Sta1, nothing more is expected)."""


Output = Union[SendPDU, Indication, StartARTIM, StopARTIM, OpenTransport, CloseTransport]


class InvalidEventError(LocalProtocolError):
    """An event arrived in a state whose Table 9-10 cell is empty; the machine did not change."""

    def __init__(self, state: str, event: str):
        who = "service-user primitive" if event in USER_EVENTS else "event"
        super().__init__(f"{who} {event} ({EVENTS[event]}) is not allowed in {state} "
                         f"({STATES[state]})")
        self.state, self.event = state, event


# ---- Conditional next states -----------------------------------------------------------------
class Choice(NamedTuple):
    """A next state that depends on ``condition``: ``if_true`` when it holds, else ``if_false``."""

    condition: str
    if_true: str
    if_false: str

    def resolve(self, value: bool) -> str:
        return self.if_true if value else self.if_false


CONDITIONS = {
    "acceptable": "the A-ASSOCIATE-RQ is acceptable by the service-provider "
                  "(context acceptable=..., default True)",
    "requestor": "this side is the association-requestor (role established by Evt1 or Evt5)",
}


@dataclass(frozen=True)
class Step:
    """Everything an action may look at: pure input, so an action is a plain function."""

    state: str
    event: str
    next_state: str
    branch: Optional[bool]          # the condition's value for a Choice cell, else None
    context: Mapping[str, Any]      # keyword arguments the caller passed to handle()
    request: Mapping[str, Any]      # the A-ASSOCIATE request (Evt1) context, for AE-2
    artim_running: bool


# ---- Actions (PS3.8 Tables 9-6..9-9) ---------------------------------------------------------
# Keys the machine consumes itself; they never leak into PDU or primitive params.
_CONTROL_KEYS = frozenset({"acceptable", "reject"})


def _params(step: Step, **extra) -> dict:
    params = {k: v for k, v in step.context.items() if k not in _CONTROL_KEYS}
    params.update(extra)
    return params


def _provider_reason(step: Step) -> int:
    # A PDU we could not decode (Evt19) defaults to "unrecognized-PDU"; a well-formed PDU in the
    # wrong state is "unexpected-PDU". The caller may pass the precise reason (PDUError has it).
    default = ABORT_UNRECOGNIZED_PDU if step.event == "Evt19" else ABORT_UNEXPECTED_PDU
    return step.context.get("reason", default)


def _ae_1(step):  # Issue TRANSPORT CONNECT request primitive to local transport service
    return [OpenTransport(_params(step))]


def _ae_2(step):  # Send A-ASSOCIATE-RQ PDU (the parameters came with Evt1)
    return [SendPDU("A-ASSOCIATE-RQ", {**step.request, **_params(step)})]


def _ae_3(step):  # Issue A-ASSOCIATE confirmation (accept) primitive
    return [Indication(A_ASSOCIATE_CONFIRMATION, _params(step, result="accept"))]


def _ae_4(step):  # Issue A-ASSOCIATE confirmation (reject) primitive and close transport
    return [Indication(A_ASSOCIATE_CONFIRMATION, _params(step, result="reject")),
            CloseTransport()]


def _ae_5(step):  # Issue transport connection response primitive; start ARTIM
    # The response is the accept the listener already did: no separate output for it.
    return [StartARTIM()]


#: The A-ASSOCIATE-RJ sent when the caller refuses Evt6 without saying why (PS3.8 Table 9-21):
#: result 1 rejected-permanent, source 2 UL service-provider (ACSE related), reason 1
#: no-reason-given.
DEFAULT_PROVIDER_REJECT = {"result": 1, "source": 2, "reason": 1}


def _ae_6(step):  # Stop ARTIM; if acceptable: A-ASSOCIATE indication, else send RJ, start ARTIM
    if step.branch:
        return [StopARTIM(), Indication(A_ASSOCIATE_INDICATION, _params(step))]
    reject = dict(step.context.get("reject") or DEFAULT_PROVIDER_REJECT)
    return [StopARTIM(), SendPDU("A-ASSOCIATE-RJ", reject), StartARTIM()]


def _ae_7(step):  # Send A-ASSOCIATE-AC PDU
    return [SendPDU("A-ASSOCIATE-AC", _params(step))]


def _ae_8(step):  # Send A-ASSOCIATE-RJ PDU and start ARTIM
    return [SendPDU("A-ASSOCIATE-RJ", _params(step)), StartARTIM()]


def _dt_1(step):  # Send P-DATA-TF PDU
    return [SendPDU("P-DATA-TF", _params(step))]


def _dt_2(step):  # Send P-DATA indication primitive
    return [Indication(P_DATA_INDICATION, _params(step))]


def _ar_1(step):  # Send A-RELEASE-RQ PDU
    return [SendPDU("A-RELEASE-RQ", _params(step))]


def _ar_2(step):  # Issue A-RELEASE indication primitive
    return [Indication(A_RELEASE_INDICATION, _params(step, collision=False))]


def _ar_3(step):  # Issue A-RELEASE confirmation primitive, and close transport connection
    return [Indication(A_RELEASE_CONFIRMATION, _params(step)), CloseTransport()]


def _ar_4(step):  # Issue A-RELEASE-RP PDU and start ARTIM
    return [SendPDU("A-RELEASE-RP", _params(step)), StartARTIM()]


def _ar_5(step):  # Stop ARTIM
    return [StopARTIM()]


def _ar_6(step):  # Issue P-DATA indication (still awaiting A-RELEASE-RP)
    return [Indication(P_DATA_INDICATION, _params(step))]


def _ar_7(step):  # Issue P-DATA-TF PDU (still awaiting the local A-RELEASE response)
    return [SendPDU("P-DATA-TF", _params(step))]


def _ar_8(step):  # Issue A-RELEASE indication (release collision); requestor Sta9, else Sta10
    # "collision" tells the service-user both sides asked: the requestor must answer (Evt14)
    # now, the acceptor only after its own confirmation (AR-10) arrives.
    return [Indication(A_RELEASE_INDICATION, _params(step, collision=True))]


def _ar_9(step):  # Send A-RELEASE-RP PDU
    return [SendPDU("A-RELEASE-RP", _params(step))]


def _ar_10(step):  # Issue A-RELEASE confirmation primitive
    return [Indication(A_RELEASE_CONFIRMATION, _params(step))]


def _aa_1(step):  # Send A-ABORT PDU (service-user source), start (or restart) ARTIM
    # Also the answer to a stray PDU in Sta2; the standard still says service-user source there,
    # whose reason "shall be sent with a value 00H".
    abort = {"source": step.context.get("source", 0),
             "reason": step.context.get("reason", ABORT_REASON_NOT_SPECIFIED)}
    return [SendPDU("A-ABORT", abort), StartARTIM()]


def _aa_2(step):  # Stop ARTIM if running. Close transport connection
    return ([StopARTIM()] if step.artim_running else []) + [CloseTransport()]


def _aa_3(step):  # Peer aborted: A-ABORT indication if service-user source, else A-P-ABORT
    source = step.context.get("source", 0)
    reason = step.context.get("reason", ABORT_REASON_NOT_SPECIFIED)
    if source == 0:
        indication = Indication(A_ABORT_INDICATION, {"source": 0, "reason": reason})
    else:
        indication = Indication(A_P_ABORT_INDICATION, {"source": source, "reason": reason})
    return [indication, CloseTransport()]


def _aa_4(step):  # Issue A-P-ABORT indication primitive (the transport is already gone)
    reason = step.context.get("reason", ABORT_REASON_NOT_SPECIFIED)
    return [Indication(A_P_ABORT_INDICATION, {"source": 2, "reason": reason,
                                              "transport_closed": True})]


def _aa_5(step):  # Stop ARTIM
    return [StopARTIM()]


def _aa_6(step):  # Ignore PDU
    return []


def _aa_7(step):  # Send A-ABORT PDU (no association exists any more: the provider speaks)
    return [SendPDU("A-ABORT", {"source": 2, "reason": _provider_reason(step)})]


def _aa_8(step):  # Send A-ABORT PDU (service-provider source), A-P-ABORT indication, start ARTIM
    reason = _provider_reason(step)
    return [SendPDU("A-ABORT", {"source": 2, "reason": reason}),
            Indication(A_P_ABORT_INDICATION, {"source": 2, "reason": reason}),
            StartARTIM()]


class ActionSpec(NamedTuple):
    name: str
    next_state: Union[str, Choice]
    run: Callable[[Step], list]


#: Each action's next state as its definition states it.
ACTIONS = {spec.name: spec for spec in (
    ActionSpec("AE-1", "Sta4", _ae_1),
    ActionSpec("AE-2", "Sta5", _ae_2),
    ActionSpec("AE-3", "Sta6", _ae_3),
    ActionSpec("AE-4", "Sta1", _ae_4),
    ActionSpec("AE-5", "Sta2", _ae_5),
    ActionSpec("AE-6", Choice("acceptable", "Sta3", "Sta13"), _ae_6),
    ActionSpec("AE-7", "Sta6", _ae_7),
    ActionSpec("AE-8", "Sta13", _ae_8),
    ActionSpec("DT-1", "Sta6", _dt_1),
    ActionSpec("DT-2", "Sta6", _dt_2),
    ActionSpec("AR-1", "Sta7", _ar_1),
    ActionSpec("AR-2", "Sta8", _ar_2),
    ActionSpec("AR-3", "Sta1", _ar_3),
    ActionSpec("AR-4", "Sta13", _ar_4),
    ActionSpec("AR-5", "Sta1", _ar_5),
    ActionSpec("AR-6", "Sta7", _ar_6),
    ActionSpec("AR-7", "Sta8", _ar_7),
    ActionSpec("AR-8", Choice("requestor", "Sta9", "Sta10"), _ar_8),
    ActionSpec("AR-9", "Sta11", _ar_9),
    ActionSpec("AR-10", "Sta12", _ar_10),
    ActionSpec("AA-1", "Sta13", _aa_1),
    ActionSpec("AA-2", "Sta1", _aa_2),
    ActionSpec("AA-3", "Sta1", _aa_3),
    ActionSpec("AA-4", "Sta1", _aa_4),
    ActionSpec("AA-5", "Sta1", _aa_5),
    ActionSpec("AA-6", "Sta13", _aa_6),
    ActionSpec("AA-7", "Sta13", _aa_7),
    ActionSpec("AA-8", "Sta13", _aa_8),
)}


# ---- Table 9-10, transcribed row by row (event -> {state number: action}) --------------------
def _span(first: int, last: int, action: str) -> dict:
    return {n: action for n in range(first, last + 1)}


_TABLE_9_10 = {
    "Evt1": {1: "AE-1"},
    "Evt2": {4: "AE-2"},
    "Evt3": {2: "AA-1", 3: "AA-8", 5: "AE-3", **_span(6, 12, "AA-8"), 13: "AA-6"},
    "Evt4": {2: "AA-1", 3: "AA-8", 5: "AE-4", **_span(6, 12, "AA-8"), 13: "AA-6"},
    "Evt5": {1: "AE-5"},
    "Evt6": {2: "AE-6", 3: "AA-8", **_span(5, 12, "AA-8"), 13: "AA-7"},
    "Evt7": {3: "AE-7"},
    "Evt8": {3: "AE-8"},
    "Evt9": {6: "DT-1", 8: "AR-7"},
    "Evt10": {2: "AA-1", 3: "AA-8", 5: "AA-8", 6: "DT-2", 7: "AR-6", **_span(8, 12, "AA-8"),
              13: "AA-6"},
    "Evt11": {6: "AR-1"},
    "Evt12": {2: "AA-1", 3: "AA-8", 5: "AA-8", 6: "AR-2", 7: "AR-8", **_span(8, 12, "AA-8"),
              13: "AA-6"},
    "Evt13": {2: "AA-1", 3: "AA-8", **_span(5, 6, "AA-8"), 7: "AR-3", **_span(8, 9, "AA-8"),
              10: "AR-10", 11: "AR-3", 12: "AA-8", 13: "AA-6"},
    "Evt14": {8: "AR-4", 9: "AR-9", 12: "AR-4"},
    "Evt15": {3: "AA-1", 4: "AA-2", **_span(5, 12, "AA-1")},
    "Evt16": {2: "AA-2", 3: "AA-3", **_span(5, 12, "AA-3"), 13: "AA-2"},
    "Evt17": {2: "AA-5", **_span(3, 12, "AA-4"), 13: "AR-5"},
    "Evt18": {2: "AA-2", 13: "AA-2"},
    "Evt19": {2: "AA-1", 3: "AA-8", **_span(5, 12, "AA-8"), 13: "AA-7"},
}

#: ``TRANSITIONS[(state, event)] = (action, next_state)``; next_state is a state name or a Choice.
TRANSITIONS = {
    (f"Sta{n}", event): (action, ACTIONS[action].next_state)
    for event, row in _TABLE_9_10.items() for n, action in row.items()
}


class Transition(NamedTuple):
    state: str
    event: str
    action: str
    next_state: str


class UpperLayerFSM:
    """One association's Upper Layer state machine.

    ``handle(event, **context)`` applies Table 9-10 and returns the outputs in the order the
    action lists them. ``context`` is passed through as the params of the PDU or primitive the
    action produces, except the control keys ``acceptable`` and ``reject`` (Evt6) and the abort
    fields ``source``/``reason`` (Evt15, Evt16, Evt19, Evt17), which the actions read.
    """

    def __init__(self, *, history: int = 0):
        self.state = "Sta1"
        self.role: Optional[str] = None          # "requestor" | "acceptor", set by Evt1 / Evt5
        self.artim_running = False               # what the outputs so far told the caller
        # Bounded so a long association cannot grow it; maxlen 0 records nothing.
        self.history: Deque[Transition] = deque(maxlen=history)
        self._request: Mapping[str, Any] = {}

    def allows(self, event: str) -> bool:
        """Whether ``event`` has a Table 9-10 entry in the current state."""
        return (self.state, event) in TRANSITIONS

    @property
    def is_established(self) -> bool:
        return self.state == "Sta6"

    def handle(self, event: str, **context: Any) -> list:
        if event not in EVENTS:
            raise ValueError(f"unknown Upper Layer event {event!r}")
        cell = TRANSITIONS.get((self.state, event))
        if cell is None:
            raise InvalidEventError(self.state, event)
        action, target = cell

        # Decide everything before changing anything, so a failing action leaves us intact.
        role = {"Evt1": "requestor", "Evt5": "acceptor"}.get(event, self.role)
        request = dict(context) if event == "Evt1" else self._request
        # An expired timer is no longer running: AA-2 then has nothing to stop.
        artim = False if event == "Evt18" else self.artim_running
        branch: Optional[bool] = None
        if isinstance(target, Choice):
            branch = self._condition(target.condition, role, context)
            next_state = target.resolve(branch)
        else:
            next_state = target
        outputs = ACTIONS[action].run(Step(self.state, event, next_state, branch, context,
                                           request, artim))
        for output in outputs:
            if isinstance(output, StartARTIM):
                artim = True
            elif isinstance(output, StopARTIM):
                artim = False

        self.history.append(Transition(self.state, event, action, next_state))
        self.state, self.role, self._request, self.artim_running = (next_state, role, request,
                                                                    artim)
        return outputs

    @staticmethod
    def _condition(name: str, role: Optional[str], context: Mapping[str, Any]) -> bool:
        if name == "acceptable":
            return bool(context.get("acceptable", True))
        if name == "requestor":
            if role is None:  # unreachable through the table: Sta7 needs Evt1 or Evt5 first
                raise LocalProtocolError("release collision before any role was established")
            return role == "requestor"
        raise KeyError(name)

    def __repr__(self):
        return f"<UpperLayerFSM {self.state} role={self.role}>"


__all__ = [
    "A_ABORT_INDICATION", "A_ASSOCIATE_CONFIRMATION", "A_ASSOCIATE_INDICATION",
    "A_P_ABORT_INDICATION", "A_RELEASE_CONFIRMATION", "A_RELEASE_INDICATION", "ACTIONS",
    "CONDITIONS", "Choice", "CloseTransport", "DEFAULT_PROVIDER_REJECT", "EVENTS", "Indication",
    "InvalidEventError", "OpenTransport", "Output", "P_DATA_INDICATION", "PDU_EVENT",
    "PDU_EVENTS", "STATES", "SendPDU", "StartARTIM", "Step", "StopARTIM", "TRANSITIONS",
    "TRANSPORT_EVENTS", "Transition", "USER_EVENTS", "UpperLayerFSM",
]
