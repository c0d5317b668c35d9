#!/usr/bin/env python3
"""Fuzz target: DICOM Upper Layer PDU framing and decoding (``dicomtls.ul``).

Input: the two-byte control header of ``_fuzzutil`` then a byte stream from a peer. Flags:

    bit 0  stream_datasets=True (C-STORE-RQ data sets as DatasetFragment events)
    bit 1  end with EOF (receive_data(b""))
    bit 2  answer an A-ASSOCIATE-RQ with reject() instead of accept()
    bit 3  answer every request message with its response (send_message: peer max length path)
    bit 4  receive through receive_buffer()/received_into() and bytearray chunks (copy paths)

The stream goes, chunk by chunk, to an acceptor ``Association`` (small Maximum Length and data
set limit, so their checks run) that the harness drives like a real SCP; then to a standalone
``PDUReader`` with no P-DATA limit whose PDUs go to ``decode_pdu``; then, whole, to
``decode_pdu``. Acceptable outcomes: events, NEED_DATA, dicomtls errors (``DicomTLSError``).
Anything else propagates and atheris reports it. Also checked:

* a ``LocalProtocolError`` (the caller's mistake) from ``next_event()``, or from ``accept()``,
  ``reject()`` or ``release()`` right after the event asking for them, is a finding: the
  caller did nothing wrong (fsm.py: an impossible event on the peer's input is a glue bug);

* no receive buffer larger than what a declared length may cost: with the Maximum Length set,
  a P-DATA-TF may preallocate up to it; any other PDU at most ``PREALLOCATE_LIMIT``, growing only
  as bytes arrive (at most 4x what is held). ``PREALLOCATE_LIMIT`` is lowered from 16 MiB to
  4 KiB here so the grow path is reached by small inputs and each run stays cheap;
* the framer's PDUs are exactly the bytes fed, in order;
* ``next_event`` reaches NEED_DATA (no endless event stream).

Run by hand: ``python3 tests/fuzz/fuzz_ul.py -max_total_time=600 /tmp/ul tests/fuzz/corpus/ul``
(tests/fuzz/README.md).
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fuzzutil  # noqa: E402

with atheris.instrument_imports(include=["dicomtls"]):
    from dicomtls.dimse.messages import response_for
    from dicomtls.errors import DicomTLSError, LocalProtocolError, PDUError
    from dicomtls.ul import framing
    from dicomtls.ul.association import (NEED_DATA, Aborted, AssociateRequested, Association,
                                         DatasetComplete, DatasetFragment, DatasetStarted,
                                         Established, MessageReceived, Rejected,
                                         ReleaseRequested, Released)
    from dicomtls.ul.framing import PDUReader
    from dicomtls.ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
                                         VERIFICATION_SOP_CLASS)
    from dicomtls.ul.pdu import decode_pdu

STREAM = 1
EOF = 2
REJECT = 4
RESPOND = 8
RECV_INTO = 16

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SUPPORTED = {
    VERIFICATION_SOP_CLASS: [IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN],
    CT_IMAGE_STORAGE: [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN],
}
MAX_PDU_LENGTH = 16384          # what the acceptor announces and enforces
MAX_DATASET_LENGTH = 4096       # accumulated data sets above this abort the association
PREALLOCATE_LIMIT = 4096        # replaces framing.PREALLOCATE_LIMIT (16 MiB) for this process
MAX_EVENTS = 10_000             # per drain: far more than any input of max_len can cause
EVENT_TYPES = (Aborted, AssociateRequested, DatasetComplete, DatasetFragment, DatasetStarted,
               Established, MessageReceived, Rejected, ReleaseRequested, Released)

framing.PREALLOCATE_LIMIT = PREALLOCATE_LIMIT


class Clock:
    """A clock the harness moves, so ARTIM is deterministic."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def check_reader(reader: PDUReader) -> None:
    """No buffer bigger than the declared-length rules allow (see the module docstring)."""
    body = reader._body
    if body is None:
        assert len(reader._header) < framing.PDU_HEADER_LENGTH, "header buffer overran"
        return
    bounded = reader.max_pdu_length + framing.PDU_HEADER_LENGTH if reader.max_pdu_length else 0
    cap = max(framing.PREALLOCATE_LIMIT, bounded, 4 * reader._filled)
    assert len(body) <= cap, (f"PDU buffer of {len(body)} bytes for {reader._filled} received "
                              f"(declared total {reader._total}); cap {cap}")


def local_error(what: str, exc: LocalProtocolError) -> AssertionError:
    return AssertionError(f"{what} raised {exc!r} on the peer's bytes alone: the machine "
                          f"refused a use of the API it had itself asked for")


def drain(assoc: Association, flags: int) -> None:
    """Take every event, reacting as an SCP does; stop at NEED_DATA."""
    for _ in range(MAX_EVENTS):
        try:
            event = assoc.next_event()
        except LocalProtocolError as exc:  # e.g. InvalidEventError: a bug in the glue (fsm.py)
            raise local_error("next_event()", exc) from exc
        if event is NEED_DATA:
            assoc.buffers_to_send()
            return
        assert isinstance(event, EVENT_TYPES), f"unknown event {event!r}"
        try:
            if isinstance(event, AssociateRequested):
                if flags & REJECT:
                    assoc.reject(1, 1, 1)
                else:
                    assoc.accept()
            elif isinstance(event, ReleaseRequested):
                assoc.release()
        except LocalProtocolError as exc:
            raise local_error(f"the answer to {type(event).__name__}", exc) from exc
        if isinstance(event, DatasetFragment):
            bytes(event.data)  # the view must be readable
        elif isinstance(event, MessageReceived) and flags & RESPOND and assoc.is_established \
                and getattr(event.message, "is_request", False):
            try:
                response = response_for(event.message, 0x0000)
                assoc.send_message(event.context_id, response)
            except DicomTLSError:
                pass  # e.g. C-CANCEL-RQ has no response; the peer's maximum length is tiny
        assoc.buffers_to_send()
    raise AssertionError(f"no NEED_DATA after {MAX_EVENTS} events (state {assoc.state})")


def feed_association(chunks: list[bytes], flags: int) -> None:
    clock = Clock()
    assoc = Association("acceptor", supported=SUPPORTED, max_pdu_length=MAX_PDU_LENGTH,
                        max_dataset_length=MAX_DATASET_LENGTH,
                        stream_datasets=bool(flags & STREAM), clock=clock)
    try:
        for chunk in chunks:
            if flags & RECV_INTO:
                view = assoc.receive_buffer()
                if view is not None:
                    n = min(len(view), len(chunk))
                    view[:n] = chunk[:n]
                    assoc.received_into(n)
                    chunk = chunk[n:]
                if chunk:
                    assoc.receive_data(bytearray(chunk))
            else:
                assoc.receive_data(chunk)
            check_reader(assoc._reader)
            drain(assoc, flags)
            check_reader(assoc._reader)
            clock.now += 1.0
        if flags & EOF:
            assoc.receive_data(b"")
            drain(assoc, flags)
        clock.now += 3600.0  # ARTIM (30 s) runs out wherever it runs
        assoc.check_timers()
        drain(assoc, flags)
    except DicomTLSError:
        pass


def feed_reader(chunks: list[bytes], stream: bytes) -> None:
    reader = PDUReader(max_pdu_length=0)  # no P-DATA limit: the grow-as-data-arrives path
    consumed = 0
    for chunk in chunks:
        reader.feed(chunk)
        check_reader(reader)
        while True:
            try:
                item = reader.next_pdu()
            except PDUError:
                return
            if item is None:
                break
            pdu_type, view = item
            raw = bytes(view)
            assert raw == stream[consumed:consumed + len(raw)], "framer returned bytes not fed"
            assert raw[0] == pdu_type
            consumed += len(raw)
            try:
                decode_pdu(view)
            except PDUError:
                pass


def TestOneInput(data: bytes) -> None:
    flags, chunking, seed, stream = _fuzzutil.parse(data)
    chunks = _fuzzutil.split(chunking, seed, stream)
    feed_association(chunks, flags)
    feed_reader(chunks, stream)
    try:
        decode_pdu(stream)
    except PDUError:
        pass


if __name__ == "__main__":
    _fuzzutil.limit_address_space()
    atheris.Setup(sys.argv, _fuzzutil.peak_guard(TestOneInput))
    atheris.Fuzz()
