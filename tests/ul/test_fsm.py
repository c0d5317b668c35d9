"""The Upper Layer state machine against PS3.8 section 9.2, with no sockets and no sleeps."""

from __future__ import annotations

import pytest

from conftest import require_module

from dicomtls.errors import LocalProtocolError
from dicomtls.ul import fsm as ul
from dicomtls.ul.fsm import (A_ABORT_INDICATION, A_ASSOCIATE_CONFIRMATION,
                             A_ASSOCIATE_INDICATION, A_P_ABORT_INDICATION,
                             A_RELEASE_CONFIRMATION, A_RELEASE_INDICATION, P_DATA_INDICATION,
                             TRANSITIONS, Choice, CloseTransport, Indication, InvalidEventError,
                             OpenTransport, SendPDU, StartARTIM, StopARTIM, UpperLayerFSM)

STATES = [f"Sta{n}" for n in range(1, 14)]
EVENTS = [f"Evt{n}" for n in range(1, 20)]

# PS3.8 Table 9-10 read column by column: one line per state, "event:action>next state", the next
# state taken from the action's definition in Tables 9-6..9-9 ("a|b": a if the action's condition
# holds, else b). Transcribed from the standard's text, not from fsm.py's row-wise table.
STANDARD_TABLE = {
    "Sta1": "1:AE-1>4 5:AE-5>2",
    "Sta2": "3:AA-1>13 4:AA-1>13 6:AE-6>3|13 10:AA-1>13 12:AA-1>13 13:AA-1>13 16:AA-2>1 "
            "17:AA-5>1 18:AA-2>1 19:AA-1>13",
    "Sta3": "3:AA-8>13 4:AA-8>13 6:AA-8>13 7:AE-7>6 8:AE-8>13 10:AA-8>13 12:AA-8>13 "
            "13:AA-8>13 15:AA-1>13 16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta4": "2:AE-2>5 15:AA-2>1 17:AA-4>1",
    "Sta5": "3:AE-3>6 4:AE-4>1 6:AA-8>13 10:AA-8>13 12:AA-8>13 13:AA-8>13 15:AA-1>13 "
            "16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta6": "3:AA-8>13 4:AA-8>13 6:AA-8>13 9:DT-1>6 10:DT-2>6 11:AR-1>7 12:AR-2>8 13:AA-8>13 "
            "15:AA-1>13 16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta7": "3:AA-8>13 4:AA-8>13 6:AA-8>13 10:AR-6>7 12:AR-8>9|10 13:AR-3>1 15:AA-1>13 "
            "16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta8": "3:AA-8>13 4:AA-8>13 6:AA-8>13 9:AR-7>8 10:AA-8>13 12:AA-8>13 13:AA-8>13 "
            "14:AR-4>13 15:AA-1>13 16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta9": "3:AA-8>13 4:AA-8>13 6:AA-8>13 10:AA-8>13 12:AA-8>13 13:AA-8>13 14:AR-9>11 "
            "15:AA-1>13 16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta10": "3:AA-8>13 4:AA-8>13 6:AA-8>13 10:AA-8>13 12:AA-8>13 13:AR-10>12 15:AA-1>13 "
             "16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta11": "3:AA-8>13 4:AA-8>13 6:AA-8>13 10:AA-8>13 12:AA-8>13 13:AR-3>1 15:AA-1>13 "
             "16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta12": "3:AA-8>13 4:AA-8>13 6:AA-8>13 10:AA-8>13 12:AA-8>13 13:AA-8>13 14:AR-4>13 "
             "15:AA-1>13 16:AA-3>1 17:AA-4>1 19:AA-8>13",
    "Sta13": "3:AA-6>13 4:AA-6>13 6:AA-7>13 10:AA-6>13 12:AA-6>13 13:AA-6>13 16:AA-2>1 "
             "17:AR-5>1 18:AA-2>1 19:AA-7>13",
}


def parse_standard_table() -> dict:
    table = {}
    for state, line in STANDARD_TABLE.items():
        for cell in line.split():
            evt, rest = cell.split(":")
            action, nxt = rest.split(">")
            nexts = tuple(f"Sta{n}" for n in nxt.split("|"))
            table[(state, f"Evt{evt}")] = (action, nexts[0] if len(nexts) == 1 else nexts)
    return table


def normalise(transitions: dict) -> dict:
    """TRANSITIONS with each Choice reduced to (if_true, if_false), for comparison."""
    return {key: (action, (nxt.if_true, nxt.if_false) if isinstance(nxt, Choice) else nxt)
            for key, (action, nxt) in transitions.items()}


def table_diff(expected: dict, actual: dict) -> list:
    return sorted((key, expected.get(key), actual.get(key))
                  for key in expected.keys() | actual.keys()
                  if expected.get(key) != actual.get(key))


# ---- The table itself ------------------------------------------------------------------------
def test_table_has_exactly_the_cells_of_table_9_10():
    expected = parse_standard_table()
    assert len(expected) == 123
    assert table_diff(expected, normalise(TRANSITIONS)) == []


def test_table_diff_notices_a_wrong_a_missing_and_an_extra_cell():
    expected = parse_standard_table()
    broken = normalise(TRANSITIONS)
    broken[("Sta13", "Evt18")] = ("AR-5", "Sta1")        # the classic misreading
    del broken[("Sta4", "Evt15")]
    broken[("Sta1", "Evt17")] = ("AA-4", "Sta1")
    assert [key for key, *_ in table_diff(expected, broken)] == [
        ("Sta1", "Evt17"), ("Sta13", "Evt18"), ("Sta4", "Evt15")]


def test_conditional_cells_name_their_condition():
    assert TRANSITIONS[("Sta2", "Evt6")] == ("AE-6", Choice("acceptable", "Sta3", "Sta13"))
    assert TRANSITIONS[("Sta7", "Evt12")] == ("AR-8", Choice("requestor", "Sta9", "Sta10"))
    choices = {k for k, (_, nxt) in TRANSITIONS.items() if isinstance(nxt, Choice)}
    assert choices == {("Sta2", "Evt6"), ("Sta7", "Evt12")}
    assert all(nxt.condition in ul.CONDITIONS for _, nxt in TRANSITIONS.values()
               if isinstance(nxt, Choice))


def test_every_action_is_used_and_names_are_the_standards():
    used = {action for action, _ in TRANSITIONS.values()}
    expected = ({f"AE-{n}" for n in range(1, 9)} | {"DT-1", "DT-2"}
                | {f"AR-{n}" for n in range(1, 11)} | {f"AA-{n}" for n in range(1, 9)})
    assert used == expected == set(ul.ACTIONS)
    assert {s for s, _ in TRANSITIONS} == set(STATES) == set(ul.STATES)
    assert {e for _, e in TRANSITIONS} == set(EVENTS) == set(ul.EVENTS)


def test_agrees_with_pynetdicom_transition_table():
    pynetdicom_fsm = require_module("pynetdicom.fsm")
    # pynetdicom keys by (event, state) and names actions exactly as the standard does.
    theirs = {(state, event): action
              for (event, state), action in pynetdicom_fsm.TRANSITION_TABLE.items()}
    ours = {key: action for key, (action, _) in TRANSITIONS.items()}
    assert table_diff(theirs, ours) == []


# ---- Empty cells -----------------------------------------------------------------------------
EMPTY_CELLS = [(s, e) for s in STATES for e in EVENTS if (s, e) not in TRANSITIONS]


def machine_in(state: str, role: str = "requestor") -> UpperLayerFSM:
    m = UpperLayerFSM()
    m.state, m.role = state, role
    m.artim_running = state in ("Sta2", "Sta13")
    return m


@pytest.mark.parametrize("state,event", [c for c in EMPTY_CELLS if c[1] in ul.USER_EVENTS])
def test_local_primitive_not_allowed_raises_and_keeps_state(state, event):
    m = machine_in(state)
    with pytest.raises(LocalProtocolError) as info:
        m.handle(event)
    assert isinstance(info.value, InvalidEventError)
    assert (info.value.state, info.value.event) == (state, event)
    assert "service-user primitive" in str(info.value)
    assert (m.state, m.role) == (state, "requestor")
    assert not m.allows(event)


@pytest.mark.parametrize("state,event", [c for c in EMPTY_CELLS if c[1] not in ul.USER_EVENTS])
def test_impossible_transport_or_pdu_event_raises_and_keeps_state(state, event):
    # e.g. a PDU in Sta1/Sta4 (no transport to carry it) or a stale ARTIM expiry in Sta6.
    m = machine_in(state)
    with pytest.raises(InvalidEventError):
        m.handle(event)
    assert m.state == state


def test_user_misuse_examples_from_a_real_walk():
    m = UpperLayerFSM()
    for event in ("Evt9", "Evt11", "Evt14", "Evt15", "Evt7"):
        with pytest.raises(LocalProtocolError):
            m.handle(event)
    m.handle("Evt1")
    with pytest.raises(LocalProtocolError):
        m.handle("Evt1")                         # a second A-ASSOCIATE request
    assert m.state == "Sta4"
    m.handle("Evt2")
    with pytest.raises(LocalProtocolError):
        m.handle("Evt9")                         # P-DATA before the association is accepted
    assert m.state == "Sta5"


def test_unknown_event_name_is_a_value_error():
    with pytest.raises(ValueError):
        UpperLayerFSM().handle("Evt20")


# ---- Walk-throughs ---------------------------------------------------------------------------
def test_requestor_happy_path():
    m = UpperLayerFSM(history=50)
    assert m.handle("Evt1", address=("127.0.0.1", 104), called_ae="SCP") == [
        OpenTransport({"address": ("127.0.0.1", 104), "called_ae": "SCP"})]
    assert (m.state, m.role) == ("Sta4", "requestor")
    # AE-2 sends the RQ with the parameters of the A-ASSOCIATE request given at Evt1.
    assert m.handle("Evt2") == [
        SendPDU("A-ASSOCIATE-RQ", {"address": ("127.0.0.1", 104), "called_ae": "SCP"})]
    assert m.state == "Sta5"
    assert m.handle("Evt3", pdu="AC") == [
        Indication(A_ASSOCIATE_CONFIRMATION, {"pdu": "AC", "result": "accept"})]
    assert m.state == "Sta6" and m.is_established
    assert m.handle("Evt9", pdvs=[b"x"]) == [SendPDU("P-DATA-TF", {"pdvs": [b"x"]})]
    assert m.handle("Evt10", pdu="P") == [Indication(P_DATA_INDICATION, {"pdu": "P"})]
    assert m.handle("Evt11") == [SendPDU("A-RELEASE-RQ", {})]
    assert m.state == "Sta7"
    assert m.handle("Evt10", pdu="late") == [Indication(P_DATA_INDICATION, {"pdu": "late"})]
    assert m.state == "Sta7"                     # AR-6: data still arrives while releasing
    assert m.handle("Evt13") == [Indication(A_RELEASE_CONFIRMATION, {}), CloseTransport()]
    assert m.state == "Sta1" and not m.artim_running
    assert [(t.event, t.action, t.next_state) for t in m.history] == [
        ("Evt1", "AE-1", "Sta4"), ("Evt2", "AE-2", "Sta5"), ("Evt3", "AE-3", "Sta6"),
        ("Evt9", "DT-1", "Sta6"), ("Evt10", "DT-2", "Sta6"), ("Evt11", "AR-1", "Sta7"),
        ("Evt10", "AR-6", "Sta7"), ("Evt13", "AR-3", "Sta1")]


def test_requestor_rejected():
    m = UpperLayerFSM()
    m.handle("Evt1")
    m.handle("Evt2")
    assert m.handle("Evt4", result=1, source=1, reason=7) == [
        Indication(A_ASSOCIATE_CONFIRMATION, {"result": "reject", "source": 1, "reason": 7}),
        CloseTransport()]
    assert m.state == "Sta1"


def test_acceptor_happy_path():
    m = UpperLayerFSM()
    assert m.handle("Evt5") == [StartARTIM()]
    assert (m.state, m.role, m.artim_running) == ("Sta2", "acceptor", True)
    assert m.handle("Evt6", pdu="RQ") == [StopARTIM(), Indication(A_ASSOCIATE_INDICATION,
                                                                  {"pdu": "RQ"})]
    assert (m.state, m.artim_running) == ("Sta3", False)
    assert m.handle("Evt7", contexts=[1]) == [SendPDU("A-ASSOCIATE-AC", {"contexts": [1]})]
    assert m.state == "Sta6"
    m.handle("Evt10")
    assert m.handle("Evt12") == [Indication(A_RELEASE_INDICATION, {"collision": False})]
    assert m.state == "Sta8"
    assert m.handle("Evt9") == [SendPDU("P-DATA-TF", {})]      # AR-7: finish sending first
    assert m.state == "Sta8"
    assert m.handle("Evt14") == [SendPDU("A-RELEASE-RP", {}), StartARTIM()]
    assert m.state == "Sta13"
    assert m.handle("Evt17") == [StopARTIM()]                  # requestor closed: AR-5
    assert (m.state, m.artim_running) == ("Sta1", False)


def test_acceptor_user_rejects():
    m = UpperLayerFSM()
    m.handle("Evt5")
    m.handle("Evt6")
    assert m.handle("Evt8", result=1, source=1, reason=3) == [
        SendPDU("A-ASSOCIATE-RJ", {"result": 1, "source": 1, "reason": 3}), StartARTIM()]
    assert m.state == "Sta13"
    assert m.handle("Evt17") == [StopARTIM()]
    assert m.state == "Sta1"


@pytest.mark.parametrize("reject,sent", [
    (None, ul.DEFAULT_PROVIDER_REJECT),
    ({"result": 2, "source": 3, "reason": 2}, {"result": 2, "source": 3, "reason": 2}),
])
def test_ae_6_not_acceptable_sends_rj_and_goes_to_sta13(reject, sent):
    m = UpperLayerFSM()
    m.handle("Evt5")
    outputs = m.handle("Evt6", pdu="RQ", acceptable=False, reject=reject)
    assert outputs == [StopARTIM(), SendPDU("A-ASSOCIATE-RJ", sent), StartARTIM()]
    assert (m.state, m.artim_running) == ("Sta13", True)
    # the requestor got its RJ and closes; had it not, ARTIM would (see the expiry tests)
    assert m.handle("Evt17") == [StopARTIM()]
    assert m.state == "Sta1"


# ---- Two machines on a simulated wire --------------------------------------------------------
class Wire:
    """Carries one side's SendPDU/CloseTransport/OpenTransport to the other as events."""

    def __init__(self):
        self.req, self.acc = UpperLayerFSM(history=100), UpperLayerFSM(history=100)
        self.in_flight = []                     # (receiver, event, context)
        self.seen = {id(self.req): [], id(self.acc): []}

    def peer(self, m):
        return self.acc if m is self.req else self.req

    def act(self, m, event, **context):
        outputs = m.handle(event, **context)
        self.seen[id(m)].extend(o for o in outputs if isinstance(o, Indication))
        for o in outputs:
            if isinstance(o, SendPDU):
                self.in_flight.append((self.peer(m), ul.PDU_EVENT[o.kind], dict(o.params)))
            elif isinstance(o, CloseTransport) and self.peer(m).state != "Sta1":
                self.in_flight.append((self.peer(m), "Evt17", {}))
            elif isinstance(o, OpenTransport):
                self.in_flight.append((self.acc, "Evt5", {}))
                self.in_flight.append((m, "Evt2", {}))
        return outputs

    def flush(self):
        while self.in_flight:
            m, event, context = self.in_flight.pop(0)
            self.act(m, event, **context)

    def primitives(self, m):
        return [i.primitive for i in self.seen[id(m)]]


def established_wire() -> Wire:
    w = Wire()
    w.act(w.req, "Evt1")
    w.flush()
    assert w.acc.state == "Sta3"
    w.act(w.acc, "Evt7")
    w.flush()
    assert (w.req.state, w.acc.state) == ("Sta6", "Sta6")
    return w


def test_wire_normal_release_ends_both_in_sta1():
    w = established_wire()
    w.act(w.req, "Evt9", data=1)
    w.act(w.req, "Evt11")
    w.flush()
    assert (w.req.state, w.acc.state) == ("Sta7", "Sta8")
    w.act(w.acc, "Evt14")
    w.flush()
    assert (w.req.state, w.acc.state) == ("Sta1", "Sta1")
    assert w.primitives(w.acc) == [A_ASSOCIATE_INDICATION, P_DATA_INDICATION,
                                   A_RELEASE_INDICATION]
    assert w.primitives(w.req) == [A_ASSOCIATE_CONFIRMATION, A_RELEASE_CONFIRMATION]


def test_release_collision_both_sides():
    w = established_wire()
    # Both users ask to release before either RQ arrives.
    w.act(w.req, "Evt11")
    w.act(w.acc, "Evt11")
    assert (w.req.state, w.acc.state) == ("Sta7", "Sta7")
    w.flush()
    # AR-8: the association-requestor goes to Sta9, the acceptor to Sta10.
    assert (w.req.state, w.acc.state) == ("Sta9", "Sta10")
    assert w.seen[id(w.req)][-1] == Indication(A_RELEASE_INDICATION, {"collision": True})
    # Requestor answers first (AR-9) ...
    w.act(w.req, "Evt14")
    assert w.req.state == "Sta11"
    w.flush()
    # ... the acceptor's RP wait ends with a confirmation (AR-10), then it answers (AR-4).
    assert (w.req.state, w.acc.state) == ("Sta11", "Sta12")
    assert w.primitives(w.acc)[-1] == A_RELEASE_CONFIRMATION
    w.act(w.acc, "Evt14")
    assert (w.acc.state, w.acc.artim_running) == ("Sta13", True)
    w.flush()
    # The requestor confirms and closes (AR-3); the acceptor sees the close (AR-5).
    assert (w.req.state, w.acc.state) == ("Sta1", "Sta1")
    assert [t.action for t in w.req.history][-4:] == ["AR-1", "AR-8", "AR-9", "AR-3"]
    assert [t.action for t in w.acc.history][-5:] == ["AR-1", "AR-8", "AR-10", "AR-4", "AR-5"]
    assert [t.next_state for t in w.acc.history][-4:] == ["Sta10", "Sta12", "Sta13", "Sta1"]


def test_release_collision_single_machine_requestor_path():
    m = machine_in("Sta6", role="requestor")
    m.handle("Evt11")
    assert m.handle("Evt12") == [Indication(A_RELEASE_INDICATION, {"collision": True})]
    assert m.state == "Sta9"
    with pytest.raises(LocalProtocolError):
        m.handle("Evt11")
    assert m.handle("Evt14") == [SendPDU("A-RELEASE-RP", {})]
    assert m.state == "Sta11"
    assert m.handle("Evt13") == [Indication(A_RELEASE_CONFIRMATION, {}), CloseTransport()]
    assert m.state == "Sta1"


def test_release_collision_single_machine_acceptor_path():
    m = machine_in("Sta6", role="acceptor")
    m.handle("Evt11")
    m.handle("Evt12")
    assert m.state == "Sta10"
    with pytest.raises(LocalProtocolError):
        m.handle("Evt14")                       # the acceptor must wait for the RP first
    assert m.handle("Evt13") == [Indication(A_RELEASE_CONFIRMATION, {})]
    assert m.state == "Sta12"
    assert m.handle("Evt14") == [SendPDU("A-RELEASE-RP", {}), StartARTIM()]
    assert m.state == "Sta13"
    assert m.handle("Evt17") == [StopARTIM()]
    assert m.state == "Sta1"


# ---- ARTIM -----------------------------------------------------------------------------------
def test_artim_expiry_in_sta2_closes_transport():
    m = UpperLayerFSM()
    m.handle("Evt5")
    assert m.handle("Evt18") == [CloseTransport()]   # expired: nothing left to stop
    assert (m.state, m.artim_running) == ("Sta1", False)


@pytest.mark.parametrize("into_sta13", ["AE-8", "AR-4", "AA-1", "AA-8"])
def test_artim_expiry_in_sta13_closes_transport(into_sta13):
    m = machine_in("Sta6") if into_sta13 != "AE-8" else machine_in("Sta3")
    event = {"AE-8": "Evt8", "AR-4": None, "AA-1": "Evt15", "AA-8": "Evt3"}[into_sta13]
    if event is None:
        m.handle("Evt12")
        event = "Evt14"
    outputs = m.handle(event)
    assert StartARTIM() in outputs and m.state == "Sta13" and m.artim_running
    assert m.handle("Evt18") == [CloseTransport()]
    assert (m.state, m.artim_running) == ("Sta1", False)


def test_abort_pdu_in_sta13_stops_running_artim_and_closes():
    m = machine_in("Sta6")
    m.handle("Evt15")
    assert m.handle("Evt16", source=0, reason=0) == [StopARTIM(), CloseTransport()]
    assert m.state == "Sta1"


# ---- Aborts ----------------------------------------------------------------------------------
LOCAL_ABORT_STATES = [s for s in STATES if (s, "Evt15") in TRANSITIONS]


@pytest.mark.parametrize("state", LOCAL_ABORT_STATES)
def test_local_abort_in_every_state_where_defined(state):
    m = machine_in(state)
    outputs = m.handle("Evt15")
    if state == "Sta4":                         # AA-2: no transport yet to send an A-ABORT on
        assert outputs == [CloseTransport()] and m.state == "Sta1"
    else:                                       # AA-1
        assert outputs == [SendPDU("A-ABORT", {"source": 0, "reason": 0}), StartARTIM()]
        assert (m.state, m.artim_running) == ("Sta13", True)
    assert LOCAL_ABORT_STATES == ["Sta3", "Sta4", "Sta5", "Sta6", "Sta7", "Sta8", "Sta9",
                                  "Sta10", "Sta11", "Sta12"]


@pytest.mark.parametrize("state", [s for s in STATES if (s, "Evt16") in TRANSITIONS])
@pytest.mark.parametrize("source", [0, 2])
def test_peer_abort_in_every_state_where_defined(state, source):
    m = machine_in(state)
    outputs = m.handle("Evt16", source=source, reason=2 if source else 0)
    assert m.state == "Sta1"
    if state in ("Sta2", "Sta13"):              # AA-2: no association to tell the user about
        assert outputs == [StopARTIM(), CloseTransport()]
    elif source == 0:                           # AA-3, service-user initiated
        assert outputs == [Indication(A_ABORT_INDICATION, {"source": 0, "reason": 0}),
                           CloseTransport()]
    else:                                       # AA-3, service-provider initiated
        assert outputs == [Indication(A_P_ABORT_INDICATION, {"source": 2, "reason": 2}),
                           CloseTransport()]


AA_8_CELLS = sorted(k for k, (action, _) in TRANSITIONS.items() if action == "AA-8")


@pytest.mark.parametrize("state,event", AA_8_CELLS)
def test_aa_8_everywhere_it_applies(state, event):
    m = machine_in(state)
    outputs = m.handle(event)
    reason = 1 if event == "Evt19" else 2       # unrecognized-PDU / unexpected-PDU
    assert outputs == [SendPDU("A-ABORT", {"source": 2, "reason": reason}),
                       Indication(A_P_ABORT_INDICATION, {"source": 2, "reason": reason}),
                       StartARTIM()]
    assert (m.state, m.artim_running) == ("Sta13", True)
    assert len(AA_8_CELLS) == 54


def test_unexpected_pdu_in_sta6_is_aa_8():
    m = machine_in("Sta6")
    assert m.handle("Evt13") == [SendPDU("A-ABORT", {"source": 2, "reason": 2}),
                                 Indication(A_P_ABORT_INDICATION, {"source": 2, "reason": 2}),
                                 StartARTIM()]
    assert m.state == "Sta13"
    # Then the close (or ARTIM) ends it.
    assert m.handle("Evt17") == [StopARTIM()]
    assert m.state == "Sta1"


def test_invalid_pdu_carries_the_decoders_reason():
    m = machine_in("Sta6")
    outputs = m.handle("Evt19", reason=6)       # invalid-PDU-parameter value
    assert outputs[0] == SendPDU("A-ABORT", {"source": 2, "reason": 6})


@pytest.mark.parametrize("event", ["Evt3", "Evt4", "Evt10", "Evt12", "Evt13", "Evt19"])
def test_stray_pdu_in_sta2_is_aa_1(event):
    m = UpperLayerFSM()
    m.handle("Evt5")
    assert m.handle(event) == [SendPDU("A-ABORT", {"source": 0, "reason": 0}), StartARTIM()]
    assert (m.state, m.artim_running) == ("Sta13", True)


@pytest.mark.parametrize("event,expected", [
    ("Evt3", []), ("Evt4", []), ("Evt10", []), ("Evt12", []), ("Evt13", []),
    ("Evt6", [SendPDU("A-ABORT", {"source": 2, "reason": 2})]),
    ("Evt19", [SendPDU("A-ABORT", {"source": 2, "reason": 1})]),
])
def test_pdus_in_sta13_are_ignored_or_answered_with_abort(event, expected):
    m = machine_in("Sta13")
    assert m.handle(event) == expected          # AA-6 / AA-7, ARTIM left running
    assert (m.state, m.artim_running) == ("Sta13", True)


# ---- Transport closed ------------------------------------------------------------------------
@pytest.mark.parametrize("state", STATES)
def test_transport_closed_in_each_state(state):
    m = machine_in(state)
    if state == "Sta1":
        with pytest.raises(InvalidEventError):
            m.handle("Evt17")
        return
    outputs = m.handle("Evt17")
    assert m.state == "Sta1" and not m.artim_running
    if state in ("Sta2", "Sta13"):              # AA-5 / AR-5
        assert outputs == [StopARTIM()]
    else:                                       # AA-4
        assert outputs == [Indication(A_P_ABORT_INDICATION,
                                      {"source": 2, "reason": 0, "transport_closed": True})]


def test_transport_connect_failure_in_sta4_is_a_p_abort():
    m = UpperLayerFSM()
    m.handle("Evt1")
    [indication] = m.handle("Evt17")
    assert indication.primitive == A_P_ABORT_INDICATION and m.state == "Sta1"


# ---- Machine bookkeeping ---------------------------------------------------------------------
def test_history_is_off_by_default_and_bounded():
    m = UpperLayerFSM()
    m.handle("Evt5")
    assert list(m.history) == []
    m = UpperLayerFSM(history=2)
    m.handle("Evt5")
    m.handle("Evt6")
    m.handle("Evt7")
    assert [(t.state, t.event, t.action, t.next_state) for t in m.history] == [
        ("Sta2", "Evt6", "AE-6", "Sta3"), ("Sta3", "Evt7", "AE-7", "Sta6")]


def test_machine_is_reusable_and_role_follows_the_new_association():
    m = UpperLayerFSM()
    m.handle("Evt5")
    m.handle("Evt17")
    assert (m.state, m.role) == ("Sta1", "acceptor")
    m.handle("Evt1")
    assert m.role == "requestor"


def test_control_keys_do_not_leak_into_params():
    m = UpperLayerFSM()
    m.handle("Evt5")
    [_, indication] = m.handle("Evt6", pdu="RQ", acceptable=True)
    assert indication.params == {"pdu": "RQ"}
