"""Splitting a byte stream into whole PDUs (PS3.8 9.3.1: ``type(1) reserved(1) PDU-length(4)``).

``PDUReader`` is sans-IO: ``feed()`` any chunking of the stream, ``next_pdu()`` returns
``(pdu_type, view)`` for each complete PDU or None when more bytes are needed. It only looks at the
6-byte header; the body is for ``pdu.decode_pdu``.

Buffering strategy (why no ring buffer): every PDU gets a ``bytearray`` of its own, sized from its
header, and incoming chunks are copied straight into it. So each byte is copied at most once, the view
handed out stays valid however long the caller keeps it (nothing is ever compacted or resized under
it), and no memory is shared between PDUs. Two refinements:

* zero copies: when the caller feeds immutable ``bytes`` and a whole PDU lies inside one chunk, the
  view is a slice of that chunk (a ``bytearray`` or writable buffer is always copied, since the
  caller may reuse it, e.g. with ``recv_into``);
* a header alone never makes us allocate more than ``PREALLOCATE_LIMIT`` unless the PDU-length is
  within a limit our side configured (``max_pdu_length``): with no limit (0) a larger P-DATA-TF
  buffer grows geometrically as data actually arrives, so a lying 4 GiB header costs nothing. The
  price is a second copy of part of such a body (a 64 MiB PDU: 16 MiB copied again, peak 80 MiB).
"""

from __future__ import annotations

import struct
from collections import deque

from ..errors import ABORT_INVALID_PDU_PARAMETER_VALUE, ABORT_UNRECOGNIZED_PDU, PDUError

# PDU types (PS3.8 Table 9-1 .. 9-26)
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07
PDU_NAMES = {1: "A-ASSOCIATE-RQ", 2: "A-ASSOCIATE-AC", 3: "A-ASSOCIATE-RJ", 4: "P-DATA-TF",
             5: "A-RELEASE-RQ", 6: "A-RELEASE-RP", 7: "A-ABORT"}

PDU_HEADER = struct.Struct(">BxI")  # PDU-type, reserved, PDU-length
PDU_HEADER_LENGTH = 6

DEFAULT_MAX_OTHER_LENGTH = 1 << 20  # cap for non-P-DATA PDUs: an A-ASSOCIATE-RQ is rarely over 10 KiB
PREALLOCATE_LIMIT = 16 << 20


def read_pdu_header(buf: bytes | bytearray | memoryview) -> tuple[int, int]:
    """``(pdu_type, pdu_length)`` from the first 6 bytes of ``buf``; PDUError if fewer."""
    if len(buf) < PDU_HEADER_LENGTH:
        raise PDUError(f"truncated PDU header: {len(buf)} of 6 bytes",
                       abort_reason=ABORT_INVALID_PDU_PARAMETER_VALUE)
    return PDU_HEADER.unpack_from(buf, 0)


class PDUReader:
    """Incremental PDU splitter.

    ``max_pdu_length`` is the Maximum Length we advertised (PS3.8 D.1: the largest PDU-length of a
    P-DATA-TF we accept; 0 = no limit); it may be changed between feeds. ``max_other_length`` caps
    every other PDU type. Errors are reported in stream order: PDUs completed before a bad header are
    still returned by ``next_pdu()``, which then raises the PDUError; afterwards the reader stays
    failed (``feed`` discards, ``next_pdu`` raises again).
    """

    def __init__(self, max_pdu_length: int = 0, max_other_length: int = DEFAULT_MAX_OTHER_LENGTH):
        self.max_pdu_length = max_pdu_length
        self.max_other_length = max_other_length
        self._ready: deque[tuple[int, memoryview]] = deque()
        self._header = bytearray()  # a header split across feeds
        self._body: memoryview | None = None  # the PDU being assembled (header included)
        self._type = 0
        self._total = 0  # 6 + PDU-length of the PDU being assembled
        self._filled = 0
        self._error: PDUError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held of a PDU not yet complete (0 at a PDU boundary)."""
        return len(self._header) + (self._filled if self._body is not None else 0)

    @property
    def at_pdu_boundary(self) -> bool:
        """True when no partial PDU is buffered: EOF here is clean, EOF elsewhere cut a PDU short."""
        return self.buffered == 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._error is not None:
            return
        mv = memoryview(data)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        immutable = type(mv.obj) is bytes
        pos, end = 0, len(mv)
        try:
            while pos < end:
                if self._body is not None:
                    pos = self._fill(mv, pos, end)
                elif not self._header and immutable and end - pos >= PDU_HEADER_LENGTH:
                    pdu_type, length = PDU_HEADER.unpack_from(mv, pos)
                    self._check(pdu_type, length)
                    total = PDU_HEADER_LENGTH + length
                    if end - pos >= total:  # whole PDU inside an immutable chunk: no copy at all
                        self._ready.append((pdu_type, mv[pos:pos + total]))
                        pos += total
                    else:
                        self._start(pdu_type, length, mv[pos:pos + PDU_HEADER_LENGTH])
                        pos += PDU_HEADER_LENGTH
                else:
                    take = min(PDU_HEADER_LENGTH - len(self._header), end - pos)
                    self._header += mv[pos:pos + take]
                    pos += take
                    if len(self._header) == PDU_HEADER_LENGTH:
                        pdu_type, length = PDU_HEADER.unpack_from(self._header, 0)
                        self._check(pdu_type, length)
                        self._start(pdu_type, length, self._header)
                        self._header = bytearray()
        except PDUError as exc:
            self._error = exc
            self._header = bytearray()
            self._body = None

    def next_pdu(self) -> tuple[int, memoryview] | None:
        """The next whole PDU as ``(pdu_type, read-only view including the header)``, or None."""
        if self._ready:
            return self._ready.popleft()
        if self._error is not None:
            raise self._error
        return None

    def recv_buffer(self) -> memoryview | None:
        """The writable rest of the PDU being assembled, when its buffer has its full size (the
        bounded case): a caller that reads straight into it (``socket.recv_into``) saves the
        copy ``feed`` makes, then reports the count with ``filled(n)``. None at a PDU boundary
        (read a chunk and ``feed`` it), after an error, or while an unbounded PDU still grows."""
        body = self._body
        if body is None or self._error is not None or len(body) < self._total:
            return None
        return body[self._filled:self._total]

    def filled(self, n: int) -> None:
        """``n`` bytes were written at the start of the view ``recv_buffer`` returned."""
        if self._body is None or not 0 < n <= self._total - self._filled:
            raise ValueError(f"filled({n}) does not match the buffer recv_buffer() gave")
        self._filled += n
        if self._filled == self._total:
            self._finish()

    def _check(self, pdu_type: int, length: int) -> None:
        name = PDU_NAMES.get(pdu_type)
        if name is None:
            # Its length means nothing to us either: there is no way to resynchronise.
            raise PDUError(f"unrecognized PDU type 0x{pdu_type:02X} (PDU-length {length})",
                           abort_reason=ABORT_UNRECOGNIZED_PDU)
        if pdu_type == P_DATA_TF:
            if self.max_pdu_length and length > self.max_pdu_length:
                raise PDUError(f"P-DATA-TF PDU-length {length} exceeds our Maximum Length "
                               f"{self.max_pdu_length}",
                               abort_reason=ABORT_INVALID_PDU_PARAMETER_VALUE)
        elif length > self.max_other_length:
            raise PDUError(f"{name} PDU-length {length} exceeds the {self.max_other_length}-byte cap",
                           abort_reason=ABORT_INVALID_PDU_PARAMETER_VALUE)

    def _start(self, pdu_type: int, length: int, header) -> None:
        total = PDU_HEADER_LENGTH + length
        bounded = pdu_type == P_DATA_TF and self.max_pdu_length and length <= self.max_pdu_length
        size = total if (total <= PREALLOCATE_LIMIT or bounded) else PREALLOCATE_LIMIT
        # All writes go through a memoryview: ``bytearray[a:b] = x`` first copies any x that is not
        # itself a bytearray into a temporary, which would double the copying of a large body.
        self._body = memoryview(bytearray(size))
        self._body[:PDU_HEADER_LENGTH] = header
        self._type, self._total, self._filled = pdu_type, total, PDU_HEADER_LENGTH
        if total == PDU_HEADER_LENGTH:
            self._finish()

    def _fill(self, mv: memoryview, pos: int, end: int) -> int:
        body = self._body
        n = min(self._total - self._filled, end - pos)
        need = self._filled + n
        if need > len(body):
            # Unbounded large PDU: grow as data really arrives. Jump straight to the full size once
            # it is within 4x of what we hold, so the last step never copies a nearly full buffer.
            size = len(body)
            size = self._total if self._total <= 4 * size else max(need, 2 * size)
            grown = memoryview(bytearray(size))
            grown[:self._filled] = body[:self._filled]
            self._body = body = grown
        body[self._filled:need] = mv[pos:pos + n]
        self._filled = need
        if need == self._total:
            self._finish()
        return pos + n

    def _finish(self) -> None:
        self._ready.append((self._type, self._body.toreadonly()))
        self._body = None
