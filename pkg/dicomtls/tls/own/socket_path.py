"""The own engine's data path over a socket (``csrc/dt_rec_io.c``), mixed into OwnConnection.

After the handshake, ``recv_into_socket`` / ``send_to_socket`` move a whole buffer in one C call
without the GIL (socket -> open records straight into the caller's buffer; caller's buffer ->
seal -> socket), with the same signatures and outcomes as the libssl engine's, so TLSSocket
drives both engines alike. Only application data records go this way: at any other record the
C side stops before opening it and the ciphertext it staged comes back to ``_inbuf``, where the
event path (``next_event``) handles it as if it had been fed. Output the event path queued goes
out first, and sealed records a signal or timeout left unsent are part of ``data_to_send``.
"""

from __future__ import annotations

import os
from ..._binding import ffi, lib, raise_crypto_error
from ...errors import LocalProtocolError

SOCKET_DONE = lib.DT_IO_DONE


class SocketPath:
    """``recv_into_socket`` / ``send_to_socket`` for :class:`~.connection.OwnConnection`."""

    _rio = None   # the C staging/output buffers, made at the first socket call

    def _socket_io(self):
        if self._rio is None:
            ptr = lib.dt_rio_new()
            if ptr == ffi.NULL:
                raise MemoryError("dt_rio_new")
            self._rio = ffi.gc(ptr, lib.dt_rio_free)
        return self._rio

    # ---- what the two paths share -------------------------------------------------------
    def _socket_out_pending(self) -> int:
        return lib.dt_rio_pending_out(self._rio) if self._rio is not None else 0

    def _take_socket_out(self) -> bytes:
        """Sealed records the socket path has not sent yet: they go before anything queued
        after them."""
        n = self._socket_out_pending()
        if not n:
            return b""
        buf = bytearray(n)
        lib.dt_rio_take_out(self._rio, ffi.from_buffer(buf), n)
        return bytes(buf)

    def _give_back_input(self) -> None:
        """Ciphertext staged in C goes back in front of the event path: it reads it as fed."""
        n = lib.dt_rio_pending_in(self._rio)
        if n:
            buf = bytearray(n)
            lib.dt_rio_take_in(self._rio, ffi.from_buffer(buf), n)
            self.receive_data(bytes(buf))

    def _socket_path_open(self) -> bool:
        """Whether nothing the event path holds must come first (events, part of an alert,
        unread input), and the stream is still open."""
        return (self.session is not None and self._read is not None and not self._events
                and not self._alert_buf and not self._eof and not self._close_received)

    # ---- receiving ----------------------------------------------------------------------
    def recv_into_socket(self, fd: int, view, timeout_ms: int):
        """As the libssl engine's: ``(bytes, None)`` for data decrypted into ``view``, else
        ``(0, outcome)`` (an event as ``next_event`` gives it, or a ``SOCKET_*`` code)."""
        if self._error is not None:
            raise self._error
        if not self._socket_path_open():
            return 0, self.next_event()
        io = self._socket_io()
        if self._inpos < len(self._inbuf):   # bytes the event path was fed but did not use
            rest = memoryview(self._inbuf)[self._inpos:]
            if not lib.dt_rio_put_in(io, ffi.from_buffer(rest), len(rest)):
                raise MemoryError("dt_rio_put_in")
            self._inbuf, self._inpos = bytearray(), 0
        got, err = ffi.new("size_t *"), ffi.new("int *")
        status = lib.dt_rio_recv_fd(io, self._read._rec, fd, ffi.from_buffer(view, require_writable=True),
                                    len(view), timeout_ms, got, err)
        if got[0]:
            return got[0], None
        if status == lib.DT_IO_ERRNO:
            raise OSError(err[0], os.strerror(err[0]))
        if status == lib.DT_IO_STOP:
            return 0, self._event_after_stop()
        if status == lib.DT_IO_EOF:
            self._give_back_input()   # a partial record: the event path calls the end unclean
        return 0, status

    def _event_after_stop(self):
        """The next record is for the event path (or too big for the caller's buffer)."""
        self._give_back_input()
        return self.next_event()

    # ---- sending ------------------------------------------------------------------------
    def send_to_socket(self, fd: int, data, timeout_ms: int) -> tuple[int, int]:
        """As the libssl engine's: ``(SOCKET_DONE or another SOCKET_* outcome, bytes taken)``."""
        if self._error is not None:
            raise self._error
        if self.session is None or self._close_sent:
            raise LocalProtocolError("cannot send application data now")
        io = self._socket_io()
        if self._out_len:   # queued by the event path: older than what we seal now
            queued = self._out[0] if len(self._out) == 1 else b"".join(self._out)
            self._out, self._out_len = [], 0
            if not lib.dt_rio_put_out(io, ffi.from_buffer(queued), len(queued)):
                raise MemoryError("dt_rio_put_out")
        taken, err = ffi.new("size_t *"), ffi.new("int *")
        status = lib.dt_rio_send_fd(io, self._write._rec, fd, ffi.from_buffer(data), len(data),
                                    int(self._split_first), timeout_ms, taken, err)
        if status == lib.DT_IO_STOP:
            try:
                raise_crypto_error("sealing records")
            except BaseException as exc:
                self._error = exc
                raise
        if status == lib.DT_IO_ERRNO:
            raise OSError(err[0], os.strerror(err[0]))
        return (SOCKET_DONE if status == lib.DT_IO_DONE else status), taken[0]
