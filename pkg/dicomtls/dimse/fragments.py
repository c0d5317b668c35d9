"""Splitting a DIMSE message into P-DATA PDV fragments, and putting one back together.

PS3.8 9.3.5 and Annex E: a message travels as presentation data values (PDVs), each with a
one-byte Message Control Header (bit 0: 1 = command, 0 = data set; bit 1: 1 = last fragment).
All command fragments come first, then all data set fragments, all on one presentation
context, and no other message's fragments may interleave.

Sizes. The maximum length a peer announces (PS3.8 D.1) bounds the variable field of each
P-DATA-TF PDU, i.e. the PDV items it carries. A PDV item is a 4-byte Item-length, the 1-byte
Presentation Context ID and the 1-byte control header, then the fragment, so a PDU holding one
PDV carries at most ``L - 6`` fragment bytes. ``L == 0`` means "no limit"; we still cut at 1 MiB
so one PDU never needs a buffer the size of a whole data set.

Zero copy. The data set may be bytes, a memoryview, or an iterable of such chunks streamed from
a file; every fragment yielded is a memoryview slice of what the caller passed, never a copy.
The cost is that fragment boundaries follow chunk boundaries (a 100-byte chunk becomes a
100-byte PDV); feeding chunks that are a multiple of ``max_fragment_length(L)`` avoids runts.
The Upper Layer may pack several PDVs into one PDU as long as the PDU stays within ``L``.

The receiving side, ``MessageAssembler``, is a sans-IO machine: PDVs in, events out.
Data set fragments are passed through as memoryviews for streaming to disk; nothing is
accumulated unless asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple, Union

from dicomtls.errors import DIMSEError, LocalProtocolError

from .commands import CommandSet
from .messages import DIMSEMessage, message_from_command_set

__all__ = [
    "PDV_HEADER_LENGTH", "DEFAULT_FRAGMENT_LENGTH", "max_fragment_length",
    "control_header", "parse_control_header", "iter_fragments", "Fragment",
    "CommandComplete", "DatasetFragment", "DatasetComplete", "MessageAssembler",
]

PDV_HEADER_LENGTH = 6               # Item-length (4) + Presentation Context ID (1) + control (1)
DEFAULT_FRAGMENT_LENGTH = 1 << 20   # used when the peer's maximum length is 0 (unlimited)

BytesLike = Union[bytes, bytearray, memoryview]


class Fragment(NamedTuple):
    """One PDV of a P-DATA-TF: its presentation context, command/data set flag, last flag and
    bytes (PS3.8 E.2)."""

    context_id: int
    is_command: bool
    is_last: bool
    data: memoryview


def max_fragment_length(max_pdu_length: int) -> int:
    """Largest fragment a single PDV may carry for a peer maximum length ``max_pdu_length``."""
    if not isinstance(max_pdu_length, int) or max_pdu_length < 0:
        raise LocalProtocolError(f"maximum PDU length must be an int >= 0, not {max_pdu_length!r}")
    if max_pdu_length == 0:
        return DEFAULT_FRAGMENT_LENGTH
    if max_pdu_length <= PDV_HEADER_LENGTH:
        # Such a PDU could not carry a single byte of a message: nothing can be sent.
        raise LocalProtocolError(f"maximum PDU length {max_pdu_length} leaves no room for data "
                                 f"after the {PDV_HEADER_LENGTH}-byte PDV header")
    return max_pdu_length - PDV_HEADER_LENGTH


def control_header(is_command: bool, is_last: bool) -> int:
    """Message Control Header byte (PS3.8 E.2)."""
    return (1 if is_command else 0) | (2 if is_last else 0)


def parse_control_header(byte: int) -> tuple[bool, bool]:
    """(is_command, is_last). Only bits 0 and 1 are significant; the others are ignored."""
    return bool(byte & 1), bool(byte & 2)


def _view(data: object, what: str) -> memoryview:
    try:
        mv = memoryview(data)  # type: ignore[arg-type]
        if not mv.c_contiguous:  # sockets and TLS writers need one flat run of bytes
            raise TypeError
        # A view over e.g. an array('H') counts items, not bytes; slice in bytes.
        return mv if mv.format == "B" and mv.ndim == 1 else mv.cast("B")
    except TypeError:
        raise LocalProtocolError(f"{what} must be contiguous bytes-like, "
                                 f"not {type(data).__name__}") from None


def iter_fragments(context_id: int, command_bytes: BytesLike,
                   dataset_chunks: BytesLike | Iterable[BytesLike] | None,
                   max_pdu_length: int) -> Iterator[Fragment]:
    """Yield ``(context_id, is_command, is_last, memoryview)`` for one whole message.

    ``dataset_chunks`` is None for a message without a data set. A data set of zero bytes
    still yields one empty last data fragment, so the receiver sees the data set the command's
    Command Data Set Type promised.
    """
    # Checked here, not in the generator, so a bad call fails at the call site.
    if not isinstance(context_id, int) or not 1 <= context_id <= 255 or not context_id & 1:
        raise LocalProtocolError(f"presentation context ID must be odd, 1-255, not {context_id!r}")
    size = max_fragment_length(max_pdu_length)
    command = _view(command_bytes, "command set")
    if not len(command):
        raise LocalProtocolError("the command set is empty")
    if dataset_chunks is None:
        chunks: Iterable[object] | None = None
    elif isinstance(dataset_chunks, str):
        raise LocalProtocolError("data set must be bytes-like or an iterable of bytes, not str")
    else:
        try:
            chunks = (memoryview(dataset_chunks),)  # type: ignore[arg-type]
        except TypeError:
            chunks = dataset_chunks  # an iterable of chunks
    return _fragments(context_id, command, chunks, size)


def _fragments(context_id: int, command: memoryview, chunks: Iterable[object] | None,
               size: int) -> Iterator[Fragment]:
    n = len(command)
    for off in range(0, n, size):
        yield Fragment(context_id, True, off + size >= n, command[off:off + size])
    if chunks is None:
        return
    # Whether a fragment is the last is only known once the source is exhausted, so each
    # fragment is held back until the next non-empty one exists.
    pending: memoryview | None = None
    for chunk in chunks:
        view = _view(chunk, "data set chunk")
        for off in range(0, len(view), size):
            if pending is not None:
                yield Fragment(context_id, False, False, pending)
            pending = view[off:off + size]
    yield Fragment(context_id, False, True, pending if pending is not None else memoryview(b""))


# ---- receiving --------------------------------------------------------------------------------

class CommandComplete(NamedTuple):
    """The command set arrived whole. ``message.has_dataset`` says whether data follows;
    if it is False this event also ends the message."""

    context_id: int
    message: DIMSEMessage
    command_set: CommandSet


class DatasetFragment(NamedTuple):
    """One data set fragment, as given to ``feed`` (valid until the caller reuses its buffer)."""

    context_id: int
    data: memoryview
    is_last: bool


class DatasetComplete(NamedTuple):
    """The data set's last fragment arrived. ``data`` is the whole data set only when the
    assembler was built with ``accumulate_dataset=True``, else None."""

    context_id: int
    message: DIMSEMessage
    data: bytes | None


Event = Union[CommandComplete, DatasetFragment, DatasetComplete]

_IDLE, _COMMAND, _DATASET, _ERROR = "idle", "command", "dataset", "error"


class MessageAssembler:
    """PDVs in (in arrival order), events out.

    ``feed`` returns the events that PDV completed: a ``CommandComplete`` when the last command
    fragment arrives, a ``DatasetFragment`` for every data fragment, and a ``DatasetComplete``
    after the last one. Protocol violations raise DIMSEError and leave the assembler in an
    error state where every later ``feed`` raises too (the association must be aborted).
    """

    def __init__(self, *, accumulate_dataset: bool = False, max_command_length: int = 1 << 20):
        self.accumulate_dataset = accumulate_dataset
        # A command set is a few hundred bytes; the cap stops a peer that never sets the
        # last-fragment bit from growing our memory without bound.
        self.max_command_length = max_command_length
        self._state = _IDLE
        self._reset()

    def _reset(self) -> None:
        self._context_id: int | None = None
        self._command_parts: list[bytes] = []
        self._command_length = 0
        self._message: DIMSEMessage | None = None
        self._data_parts: list[bytes] = []

    @property
    def idle(self) -> bool:
        """True between messages (no message partly received)."""
        return self._state == _IDLE

    @property
    def context_id(self) -> int | None:
        """Presentation context of the message being received, if any."""
        return self._context_id

    @property
    def message(self) -> DIMSEMessage | None:
        """The message whose data set is being received, if any."""
        return self._message

    def feed(self, context_id: int, is_command: bool, is_last: bool,
             data: BytesLike) -> list[Event]:
        if self._state == _ERROR:
            raise DIMSEError("the message assembler failed earlier; no more PDVs are accepted")
        try:
            return self._feed(context_id, is_command, is_last, data)
        except Exception:
            self._state = _ERROR
            raise

    def _feed(self, context_id: int, is_command: bool, is_last: bool,
              data: BytesLike) -> list[Event]:
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        if self._state == _IDLE:
            if not is_command:
                raise DIMSEError(f"data set fragment on context {context_id} before any "
                                 "command set")
            self._state = _COMMAND
            self._context_id = context_id
        elif context_id != self._context_id:
            raise DIMSEError(f"PDV on presentation context {context_id} in the middle of a "
                             f"message on context {self._context_id}")

        if self._state == _COMMAND:
            if not is_command:
                raise DIMSEError("data set fragment before the command set was complete")
            self._command_length += len(view)
            if self._command_length > self.max_command_length:
                raise DIMSEError(f"command set longer than {self.max_command_length} bytes")
            # Copied: commands are small and the caller may reuse its buffer before the last one.
            self._command_parts.append(bytes(view))
            if not is_last:
                return []
            command_set = CommandSet.decode(b"".join(self._command_parts))
            message = message_from_command_set(command_set)
            event = CommandComplete(context_id, message, command_set)
            if message.has_dataset:
                self._state = _DATASET
                self._message = message
                self._command_parts = []
            else:
                self._state = _IDLE
                self._reset()
            return [event]

        # _DATASET
        if is_command:
            raise DIMSEError("command fragment after the command set was complete, while "
                             "the data set was expected")
        events: list[Event] = [DatasetFragment(context_id, view, is_last)]
        if self.accumulate_dataset:
            self._data_parts.append(bytes(view))
        if is_last:
            whole = b"".join(self._data_parts) if self.accumulate_dataset else None
            events.append(DatasetComplete(context_id, self._message, whole))
            self._state = _IDLE
            self._reset()
        return events
