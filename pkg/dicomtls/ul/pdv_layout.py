"""Sending a data set of known length as P-DATA-TF PDUs laid out in a caller-owned buffer.

The general send path (``Association.iter_send_message``) queues a 12-byte header and a view
of the payload per PDU, and the transport joins small buffers before writing. For a data set
read from a file that costs a fresh allocation per read chunk plus a copy of part of every
fragment (to keep the header out of a TLS record of its own) and two writes per PDU.

``DatasetLayout`` avoids all three: the caller passes a reusable buffer, the layout writes the
PDU and PDV headers into it and hands back the *slots* between them, the caller reads the file
straight into those slots (``readinto``) and writes the used part of the buffer with one call.
Each data set byte is copied once in user space (file -> buffer), headers travel inside the
same write as their data, and the buffer can be reused as soon as that write has returned.
Because the length is known up front, the last fragment is flagged without reading ahead.

Sans-IO like the rest of ``ul``: no file or socket is touched here. The caller owns the buffer
and must not reuse it before the returned view has been written.
"""

from __future__ import annotations

from typing import Callable

from ..errors import LocalProtocolError
from .framing import P_DATA_TF, PDU_HEADER
from .pdu import _PDV_HEADER

#: PDU header (6) + one PDV header (Item-length 4, context ID 1, control header 1).
PDU_OVERHEAD = 12


class DatasetLayout:
    """Lays out the data set of one message, ``length`` bytes on ``context_id``, as PDUs of at
    most ``fragment_length`` data bytes each.

    ``frame(buffer, head=())`` writes the ``head`` buffers (queued PDUs that must go first, e.g.
    the message's command) and then as many data PDUs as fit into ``buffer``; it returns
    ``(out, slots)``: ``out`` is the view of ``buffer`` to write, ``slots`` the views the caller
    must fill, in order, with the next data set bytes before writing ``out``. ``step(pdus)``
    is called once per ``frame`` with the number of PDUs laid out (the association's state
    machine step). A data set of zero bytes still gets one empty last fragment."""

    def __init__(self, context_id: int, length: int, fragment_length: int,
                 step: Callable[[int], None]):
        if length < 0:
            raise LocalProtocolError(f"data set length {length} is negative")
        if fragment_length < 1:
            raise LocalProtocolError(f"fragment length {fragment_length} leaves no room for data")
        self.context_id = context_id
        self.length = length
        self.fragment_length = fragment_length
        self.sent = 0                  # data set bytes laid out so far
        self._empty_pending = length == 0
        self._step = step

    @property
    def done(self) -> bool:
        return self.sent >= self.length and not self._empty_pending

    def frame(self, buffer: memoryview, head=()) -> tuple[memoryview, list]:
        if self.done:
            raise LocalProtocolError("the whole data set has been laid out already")
        size = len(buffer)
        pos = 0
        for part in head:
            n = len(part)
            buffer[pos:pos + n] = part
            pos += n
        slots = []
        while (self.sent < self.length or self._empty_pending) and \
                size - pos > PDU_OVERHEAD:
            n = min(self.fragment_length, self.length - self.sent, size - pos - PDU_OVERHEAD)
            self.sent += n
            last = self.sent == self.length
            PDU_HEADER.pack_into(buffer, pos, P_DATA_TF, 6 + n)
            _PDV_HEADER.pack_into(buffer, pos + 6, n + 2, self.context_id, 2 if last else 0)
            pos += PDU_OVERHEAD
            slots.append(buffer[pos:pos + n])
            pos += n
            self._empty_pending = False
        if not slots:
            raise LocalProtocolError(f"a {size}-byte buffer holds no data PDU after "
                                     f"{pos} bytes of head")
        self._step(len(slots))
        return buffer[:pos], slots


def layout_buffer_size(fragment_length: int, target: int, head_room: int) -> tuple[int, int]:
    """(buffer size, fragment length) for a reusable send buffer of about ``target`` bytes
    holding whole PDUs of ``fragment_length`` data bytes (smaller fragments when one would not
    fit: a fragment may always be shorter than the peer's maximum), plus ``head_room`` bytes
    for a command PDU in front."""
    fragment_length = max(1, min(fragment_length, target - PDU_OVERHEAD))
    pdus = max(1, target // (fragment_length + PDU_OVERHEAD))
    return pdus * (fragment_length + PDU_OVERHEAD) + head_room, fragment_length


__all__ = ["DatasetLayout", "PDU_OVERHEAD", "layout_buffer_size"]
