"""One DICOM association, sans-IO: PDU framing + the PS3.8 state machine + negotiation + DIMSE.

    assoc = Association("requestor")
    assoc.request("STORESCP", "ECHOSCU", [VERIFICATION_SOP_CLASS])
    sock.sendall(assoc.data_to_send())
    while True:
        event = assoc.next_event()
        if event is NEED_DATA:
            assoc.receive_data(sock.recv(65536))     # b"" = transport closed (Evt17)
        ...

Bytes in (``receive_data``), events out (``next_event``), the caller's actions in (``request``,
``accept``, ``reject``, ``send_message``, ``release``, ``abort``), bytes out (``data_to_send`` or,
without joining, ``buffers_to_send``). Nothing here touches a socket, a thread or a clock other
than the injected ``clock``; the ARTIM timer is a deadline the caller polls (``artim_deadline``,
``check_timers``), which feeds Evt18.

Every transition goes through ``UpperLayerFSM``; this module only turns its outputs into bytes and
events. A PDU the peer got wrong (``PDUError``) is Evt19: the machine answers with an A-ABORT
(source 2, the error's ``abort_reason``) and we report ``Aborted(..., local=True, error=exc)``.
A malformed DIMSE message on an established association is aborted as the service-user (source 0).

Data sets, two paths:

* accumulate (small messages, the default): a received message's data set is gathered into one
  ``bytes`` up to ``max_dataset_length`` (then the association is aborted) and delivered with
  ``MessageReceived``;
* stream (``stream_datasets``: C-STORE-RQ by default when True, or any predicate on the
  message): once the command is complete we emit ``DatasetStarted(context_id, message)``, then
  one ``DatasetFragment(context_id, data, is_last)`` per PDV -- ``data`` is a memoryview of the
  received PDU, never copied -- and finally ``DatasetComplete(context_id, message, None)``. No
  limit applies: the caller writes each fragment where it belongs (a file) and drops it.

Sending: ``send_message`` queues every fragment at once (views, never copies). For a data set
streamed from an iterable of chunks use ``iter_send_message``, a generator that queues one
fragment per step, so the caller can write ``buffers_to_send()`` as it goes and memory stays
bounded. For a data set of known length read from a file, ``start_dataset`` queues the
command and returns a ``pdv_layout.DatasetLayout``: the caller lays the PDUs out in its own
reusable buffer and reads the file straight into them (one copy, one write per batch).

Receiving in place: ``receive_buffer()`` offers the rest of the PDU being assembled for a
``recv_into``; ``received_into(n)`` commits it. The events live in ``ul.events``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Iterable, Mapping, Optional, Sequence

from ..dimse.fragments import CommandComplete, DatasetComplete, DatasetFragment, MessageAssembler, \
    iter_fragments, max_fragment_length
from ..dimse.messages import DIMSEMessage
from ..errors import (ABORT_INVALID_PDU_PARAMETER_VALUE, DIMSEError, LocalProtocolError, PDUError,
                      RemoteProtocolError)
from . import fsm as _fsm
from .events import (NEED_DATA, Aborted, AssociateRequested, DatasetStarted, Established,  # noqa: F401
                     Event, MessageReceived, Rejected, ReleaseRequested, Released,
                     stream_c_store)
from .framing import PDUReader
from .pdv_layout import DatasetLayout
from .items import PresentationContextAC
from .negotiation import (DEFAULT_MAX_PDU_LENGTH, NegotiatedContext, accepted_contexts,
                          async_window, build_accept, build_request, negotiate_contexts,
                          negotiated, peer_max_length)
from .pdu import (AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ,
                  PDataTF, decode_pdu)

DEFAULT_ARTIM_TIMEOUT = 30.0
DEFAULT_MAX_DATASET_LENGTH = 64 << 20


class Association:
    """One association's protocol state. ``role`` is "requestor" or "acceptor".

    Acceptor options: ``ae_title`` (informational; the caller decides with
    ``negotiation.check_request``), ``supported`` = {abstract syntax: [transfer syntaxes]} used
    by ``accept()``. ``max_pdu_length`` is what we announce and enforce on receive.
    ``stream_datasets``: False (accumulate every data set), True (stream C-STORE-RQ data sets)
    or a predicate ``f(message) -> bool`` choosing the messages whose data sets are streamed.
    """

    def __init__(self, role: str, *, supported: Optional[Mapping[str, Sequence[str]]] = None,
                 max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
                 artim_timeout: float = DEFAULT_ARTIM_TIMEOUT,
                 max_dataset_length: int = DEFAULT_MAX_DATASET_LENGTH,
                 stream_datasets=False,
                 clock: Callable[[], float] = time.monotonic):
        if role not in ("requestor", "acceptor"):
            raise ValueError(f"role must be 'requestor' or 'acceptor', not {role!r}")
        self.role = role
        self.supported = dict(supported or {})
        self.max_pdu_length = max_pdu_length
        self.artim_timeout = artim_timeout
        self.max_dataset_length = max_dataset_length
        if stream_datasets is True:
            stream_datasets = stream_c_store
        self._stream_predicate: Optional[Callable[[DIMSEMessage], bool]] = \
            stream_datasets or None
        self._streaming = False
        self._clock = clock
        self.fsm = _fsm.UpperLayerFSM()
        self._reader = PDUReader(max_pdu_length=max_pdu_length)
        self._assembler = MessageAssembler()
        self._out: list = []
        self._events: list = []
        self._eof = False
        self._artim_at: Optional[float] = None
        self._data_parts: list = []
        self._data_length = 0
        self._pending_message: Optional[tuple[int, DIMSEMessage]] = None
        self._input_failed = False
        self._abort_error: Optional[BaseException] = None
        self._event = ""
        self._before = "Sta1"
        self._release_pending = False
        #: True once the machine asked for the transport to be closed.
        self.transport_closed = False
        self.request_pdu: Optional[AAssociateRQ] = None
        self.accept_pdu: Optional[AAssociateAC] = None
        self.contexts: dict[int, NegotiatedContext] = {}
        self.peer_max_pdu_length = 0
        if role == "acceptor":
            self._run("Evt5")  # the transport connection is already open: AE-5, ARTIM runs

    # ---- state ------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.fsm.state

    @property
    def is_established(self) -> bool:
        return self.fsm.state in ("Sta6", "Sta7", "Sta8")

    @property
    def async_window(self) -> tuple[int, int]:
        """The negotiated Asynchronous Operations Window (PS3.7 D.3.3.3) as the A-ASSOCIATE-AC
        states it: (requests the requestor may have outstanding, requests the acceptor may
        have outstanding); (1, 1) before acceptance or when it was not negotiated; 0 means
        unlimited."""
        return async_window(self.accept_pdu)

    @property
    def finished(self) -> bool:
        """Nothing more will happen: close the transport once ``data_to_send`` is written."""
        return self.transport_closed or (self.fsm.state == "Sta1" and self.fsm.role is not None)

    # ---- bytes ------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer; ``b""`` means the transport closed (Evt17, once buffered PDUs
        have been processed)."""
        if not data:
            self._eof = True
        else:
            self._reader.feed(data)

    def receive_buffer(self) -> Optional[memoryview]:
        """A writable view where the next received bytes may go directly (the rest of a PDU
        being assembled), or None: then read a chunk and ``receive_data`` it. After writing
        ``n`` > 0 bytes into the view, call ``received_into(n)``."""
        return None if self._eof else self._reader.recv_buffer()

    def received_into(self, n: int) -> None:
        self._reader.filled(n)

    def buffers_to_send(self) -> list:
        """The buffers to write, in order (PDU headers and payload views, never joined)."""
        out, self._out = self._out, []
        return out

    def data_to_send(self) -> bytes:
        return b"".join(self.buffers_to_send())

    # ---- timers -----------------------------------------------------------------------------
    def artim_deadline(self) -> Optional[float]:
        """When ARTIM expires on ``clock``'s scale, or None when it is not running."""
        return self._artim_at

    def check_timers(self, now: Optional[float] = None) -> None:
        """Feed Evt18 if ARTIM has run out (the ARTIM timer then closes the transport)."""
        now = self._clock() if now is None else now
        if self._artim_at is not None and now >= self._artim_at:
            self._artim_at = None
            if self.fsm.allows("Evt18"):
                self._run("Evt18")

    # ---- events -----------------------------------------------------------------------------
    def next_event(self) -> Event:
        while not self._events:
            if self.fsm.state == "Sta1" and self.fsm.role is not None:
                return NEED_DATA  # over; nothing can arrive any more
            item = None
            if not self._input_failed:
                try:
                    item = self._reader.next_pdu()
                    pdu = None if item is None else decode_pdu(item[1])
                except PDUError as exc:
                    # Nothing after a malformed PDU can be trusted: read no further PDUs.
                    self._input_failed = True
                    self._peer_error(exc)
                    continue
            if item is None:
                if self._eof and self.fsm.allows("Evt17"):
                    self._eof = False
                    self._run("Evt17")
                    continue
                return NEED_DATA
            self._on_pdu(pdu)
        return self._events.pop(0)

    # ---- caller actions ---------------------------------------------------------------------
    def request(self, called_ae: str, calling_ae: str, contexts: Iterable, *,
                extra_user_items: Sequence = ()) -> AAssociateRQ:
        """Requestor: send A-ASSOCIATE-RQ (Evt1, then Evt2: the caller's transport is open)."""
        if self.role != "requestor":
            raise LocalProtocolError("only the requestor sends an A-ASSOCIATE-RQ")
        rq = build_request(called_ae, calling_ae, contexts, max_pdu_length=self.max_pdu_length,
                           extra_user_items=extra_user_items)
        self.request_pdu = rq
        self._run("Evt1", pdu=rq)
        self._run("Evt2")
        return rq

    def accept(self, contexts: Optional[Sequence[PresentationContextAC]] = None, *,
               extra_user_items: Sequence = ()) -> AAssociateAC:
        """Acceptor: answer the A-ASSOCIATE-RQ with an A-ASSOCIATE-AC. ``contexts`` defaults to
        ``negotiate_contexts(rq.presentation_contexts, self.supported)``."""
        rq = self.request_pdu
        if rq is None or self.role != "acceptor":
            raise LocalProtocolError("no A-ASSOCIATE-RQ to accept")
        if contexts is None:
            contexts = negotiate_contexts(rq.presentation_contexts, self.supported)
        ac = build_accept(rq, contexts, max_pdu_length=self.max_pdu_length,
                          extra_user_items=extra_user_items)
        self._run("Evt7", pdu=ac)
        self.accept_pdu = ac
        self.contexts = negotiated(rq, ac.presentation_contexts)
        self._events.append(Established(dict(self.contexts), self.peer_max_pdu_length))
        return ac

    def reject(self, result: int = 1, source: int = 1, reason: int = 1) -> None:
        """Acceptor: answer with A-ASSOCIATE-RJ (PS3.8 Table 9-21 codes)."""
        rj = AAssociateRJ(result, source, reason)
        rj.encode()  # validates the combination before the machine moves
        self._run("Evt8", pdu=rj)

    def send_message(self, context_id: int, message: DIMSEMessage,
                     dataset: Optional[bytes] = None) -> None:
        """Fragment ``message`` (and its data set) into P-DATA-TF PDUs no larger than the peer's
        maximum length; the payload is queued as views, never copied."""
        for _ in self.iter_send_message(context_id, message, dataset):
            pass

    def iter_send_message(self, context_id: int, message: DIMSEMessage, dataset=None):
        """Like ``send_message`` but lazy: returns an iterator that queues one fragment per step
        and yields the number of data set bytes queued (0 for command fragments). ``dataset``
        may be bytes-like or an iterable of chunks (read from a file as the iterator
        advances). Write ``buffers_to_send()`` between steps to bound memory. The checks run
        at the call."""
        command = self._command_bytes(context_id, message, dataset is not None)
        frags = iter_fragments(context_id, command, dataset, self.peer_max_pdu_length)
        return self._queue_fragments(frags)

    def _command_bytes(self, context_id: int, message: DIMSEMessage, has_dataset: bool) -> bytes:
        ctx = self.contexts.get(context_id)
        if ctx is None or not ctx.accepted:
            raise LocalProtocolError(f"presentation context {context_id} was not accepted")
        if not self.fsm.allows("Evt9"):
            raise _fsm.InvalidEventError(self.fsm.state, "Evt9")
        if message.has_dataset != has_dataset:
            message = dataclasses.replace(message, has_dataset=has_dataset)
        return message.encode()

    def _queue_fragments(self, frags):
        for frag in frags:
            self._run("Evt9", fragment=frag)
            yield 0 if frag.is_command else len(frag.data)

    def start_dataset(self, context_id: int, message: DIMSEMessage, length: int, *,
                      fragment_length: Optional[int] = None) -> DatasetLayout:
        """Queue ``message``'s command and return the ``DatasetLayout`` for its data set of
        ``length`` bytes, which the caller lays out into its own buffer and writes itself (see
        ``pdv_layout``). The command stays in ``buffers_to_send()`` until then: pass those
        buffers as ``head`` to ``DatasetLayout.frame`` or write them first. Fragments are at
        most the peer's maximum (or ``fragment_length``, when smaller)."""
        command = self._command_bytes(context_id, message, True)
        peer_fragment = max_fragment_length(self.peer_max_pdu_length)
        fragment_length = min(fragment_length or peer_fragment, peer_fragment)
        for _ in self._queue_fragments(iter_fragments(context_id, command, None,
                                                      self.peer_max_pdu_length)):
            pass
        return DatasetLayout(context_id, length, fragment_length, self._step_pdata)

    def _step_pdata(self, pdus: int) -> None:
        # One state-machine step (DT-1 in Sta6, AR-7 in Sta8) for a batch of data PDUs the
        # caller writes itself: their bytes are laid out already, so the output is dropped.
        if not self.fsm.allows("Evt9"):
            raise _fsm.InvalidEventError(self.fsm.state, "Evt9")
        self._before, self._event = self.fsm.state, "Evt9"
        self.fsm.handle("Evt9")

    def release(self) -> None:
        """Ask to release (Evt11) or, after ``ReleaseRequested``, answer it (Evt14)."""
        if self.fsm.state == "Sta10":
            # Release collision, acceptor side: we may answer only once the peer's A-RELEASE-RP
            # has arrived (AR-10, Sta12); remember the answer until then.
            self._release_pending = True
        elif self.fsm.allows("Evt14"):
            self._run("Evt14")
            if self.fsm.state == "Sta13":  # our A-RELEASE-RP is out: the association is over
                self._events.append(Released())
        else:
            self._run("Evt11")

    def abort(self, source: int = 0, reason: int = 0) -> None:
        """A-ABORT (Evt15). ``source`` 0 service-user (the reason is then sent as 0, PS3.8
        9.3.8) or 2 service-provider with ``reason`` 0-6 (LDicomNet's SendAbort needs both)."""
        if source not in (0, 2):
            raise LocalProtocolError(f"A-ABORT source must be 0 or 2, not {source}")
        if source == 2 and not 0 <= reason <= 6:
            raise LocalProtocolError(f"A-ABORT reason for source 2 must be 0-6, not {reason}")
        reason = reason if source else 0
        self._run("Evt15", source=source, reason=reason)
        self._events.append(Aborted(source, reason, local=True))

    # ---- internals --------------------------------------------------------------------------
    def _run(self, event: str, **context) -> None:
        before = self._before = self.fsm.state
        self._event = event
        outputs = self.fsm.handle(event, **context)
        for output in outputs:
            self._apply(output)
        if event in _fsm.PDU_EVENTS and event != "Evt16" and before != "Sta13" and \
                self.fsm.state == "Sta13" and not any(isinstance(o, _fsm.Indication)
                                                      for o in outputs) and \
                any(isinstance(o, _fsm.SendPDU) and o.kind == "A-ABORT" for o in outputs):
            # AA-1 (a stray PDU while awaiting the A-ASSOCIATE-RQ) aborts without an indication.
            self._events.append(Aborted(0, 0, local=True, error=self._abort_error))

    def _peer_error(self, exc: PDUError) -> None:
        self._abort_error = exc
        try:
            self._run("Evt19", reason=exc.abort_reason)
        finally:
            self._abort_error = None

    def _on_pdu(self, pdu) -> None:
        event = _fsm.PDU_EVENT[_PDU_KIND[type(pdu)]]
        if isinstance(pdu, AAssociateRQ):
            if self.fsm.state == "Sta2":
                self.request_pdu = pdu
                self.peer_max_pdu_length = peer_max_length(pdu)
            ok = pdu.supports_version_1
            self._run(event, pdu=pdu, acceptable=ok,
                      reject=None if ok else {"result": 1, "source": 2, "reason": 2})
        elif isinstance(pdu, AAbort):
            self._run(event, source=pdu.source, reason=pdu.reason)
        elif isinstance(pdu, PDataTF) and self.fsm.state in ("Sta6", "Sta7"):
            bad = next((p.context_id for p in pdu.pdvs
                        if not (p.context_id in self.contexts
                                and self.contexts[p.context_id].accepted)), None)
            if bad is not None:
                self._peer_error(PDUError(f"PDV on presentation context {bad}, which was not "
                                          f"accepted", abort_reason=ABORT_INVALID_PDU_PARAMETER_VALUE))
                return
            self._run(event, pdu=pdu)
        else:
            self._run(event, pdu=pdu)

    def _apply(self, output) -> None:
        if isinstance(output, _fsm.SendPDU):
            self._send_pdu(output)
        elif isinstance(output, _fsm.Indication):
            self._indication(output.primitive, output.params)
        elif isinstance(output, _fsm.StartARTIM):
            self._artim_at = self._clock() + self.artim_timeout
        elif isinstance(output, _fsm.StopARTIM):
            self._artim_at = None
        elif isinstance(output, _fsm.CloseTransport):
            self.transport_closed = True
            self._artim_at = None
        # OpenTransport: the caller opened the transport before request(); Evt2 follows at once.

    def _send_pdu(self, out: _fsm.SendPDU) -> None:
        p = out.params
        kind = out.kind
        if kind == "P-DATA-TF":
            frag = p["fragment"]
            self._out.append(PDataTF.header_for_single_pdv(frag.context_id, frag.is_command,
                                                           frag.is_last, len(frag.data)))
            if len(frag.data):
                self._out.append(frag.data)
            return
        if kind == "A-ABORT":
            pdu = AAbort(p["source"], p["reason"] if p["source"] else 0)
        elif kind == "A-ASSOCIATE-RJ":
            pdu = p.get("pdu") or AAssociateRJ(p["result"], p["source"], p["reason"])
            if p.get("pdu") is None:  # the provider refused the RQ (AE-6): tell the caller
                self._events.append(Rejected(pdu, local=True))
        elif kind == "A-RELEASE-RQ":
            pdu = AReleaseRQ()
        elif kind == "A-RELEASE-RP":
            pdu = AReleaseRP()
        else:  # A-ASSOCIATE-RQ / -AC carry the PDU object we built
            pdu = p["pdu"]
        self._out.append(pdu.encode())

    def _indication(self, primitive: str, params: dict) -> None:
        if primitive == _fsm.A_ASSOCIATE_INDICATION:
            self._events.append(AssociateRequested(params["pdu"]))
        elif primitive == _fsm.A_ASSOCIATE_CONFIRMATION:
            pdu = params["pdu"]
            if params["result"] == "accept":
                self.accept_pdu = pdu
                self.peer_max_pdu_length = peer_max_length(pdu)
                self.contexts = accepted_contexts(self.request_pdu, pdu)
                self._events.append(Established(dict(self.contexts), self.peer_max_pdu_length))
            else:
                self._events.append(Rejected(pdu))
        elif primitive == _fsm.P_DATA_INDICATION:
            self._on_pdata(params["pdu"])
        elif primitive == _fsm.A_RELEASE_INDICATION:
            self._events.append(ReleaseRequested(bool(params.get("collision"))))
        elif primitive == _fsm.A_RELEASE_CONFIRMATION:
            if self.fsm.state == "Sta12":  # collision, acceptor side: our answer is still due
                if self._release_pending:
                    self._release_pending = False
                    self.release()
            else:
                self._events.append(Released())
        elif primitive in (_fsm.A_ABORT_INDICATION, _fsm.A_P_ABORT_INDICATION):
            closed = bool(params.get("transport_closed"))
            # AA-8 answers a bad (Evt19) or unexpected PDU: this side sent the A-ABORT.
            local = self._event not in ("Evt16", "Evt17")
            error = self._abort_error
            if local and error is None:
                error = RemoteProtocolError(f"unexpected PDU ({_fsm.EVENTS[self._event]}) in "
                                            f"{self._before}")
            self._events.append(Aborted(params["source"], params["reason"], local=local,
                                        error=error, transport_closed=closed))

    def _on_pdata(self, pdata: PDataTF) -> None:
        for pdv in pdata.pdvs:
            try:
                events = self._assembler.feed(pdv.context_id, pdv.is_command, pdv.is_last,
                                              pdv.data)
                for ev in events:
                    self._on_dimse(ev)
            except (DIMSEError, LocalProtocolError) as exc:
                # A broken DIMSE message: the service-user (us) aborts the association.
                if self.fsm.allows("Evt15"):
                    self._run("Evt15", source=0, reason=0)
                self._events.append(Aborted(0, 0, local=True, error=exc))
                return

    def _on_dimse(self, ev) -> None:
        if isinstance(ev, CommandComplete):
            if ev.message.has_dataset:
                self._pending_message = (ev.context_id, ev.message)
                self._data_parts, self._data_length = [], 0
                self._streaming = bool(self._stream_predicate and
                                       self._stream_predicate(ev.message))
                if self._streaming:
                    self._events.append(DatasetStarted(ev.context_id, ev.message))
            else:
                self._events.append(MessageReceived(ev.context_id, ev.message, None))
        elif self._streaming:
            # DatasetFragment (a view of the PDU buffer) and DatasetComplete go out as they are.
            if isinstance(ev, DatasetComplete):
                self._streaming = False
                self._pending_message = None
            self._events.append(ev)
        elif isinstance(ev, DatasetFragment):
            self._on_dataset_fragment(ev)
        elif isinstance(ev, DatasetComplete):
            context_id, message = self._pending_message
            data = b"".join(self._data_parts)
            self._pending_message, self._data_parts, self._data_length = None, [], 0
            self._events.append(MessageReceived(context_id, message, data))

    def _on_dataset_fragment(self, ev: DatasetFragment) -> None:
        # The streaming seam: a later DatasetFragment event goes out from here instead.
        self._data_length += len(ev.data)
        if self._data_length > self.max_dataset_length:
            raise LocalProtocolError(f"data set longer than {self.max_dataset_length} bytes "
                                     f"(stream_datasets streams large data sets)")
        self._data_parts.append(ev.data)  # a view of the PDU buffer, which is never reused

    def __repr__(self):
        return f"<Association {self.role} {self.fsm.state}>"


_PDU_KIND = {AAssociateRQ: "A-ASSOCIATE-RQ", AAssociateAC: "A-ASSOCIATE-AC",
             AAssociateRJ: "A-ASSOCIATE-RJ", PDataTF: "P-DATA-TF", AReleaseRQ: "A-RELEASE-RQ",
             AReleaseRP: "A-RELEASE-RP", AAbort: "A-ABORT"}

__all__ = [
    "Aborted", "AssociateRequested", "Association", "DEFAULT_ARTIM_TIMEOUT",
    "DEFAULT_MAX_DATASET_LENGTH", "DatasetComplete", "DatasetFragment", "DatasetStarted",
    "Established", "MessageReceived", "NEED_DATA", "Rejected", "ReleaseRequested", "Released",
    "stream_c_store",
]
