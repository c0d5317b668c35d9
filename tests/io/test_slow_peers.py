"""Peers that hold an association's thread by being slow on purpose, after the gate: one that
stops reading our responses, one that keeps sending after the release instead of closing.
Each is cut off within its bound. Plain TCP on 127.0.0.1, our sans-IO requestor over a raw
socket (so the test controls every byte and every read)."""

from __future__ import annotations

import socket
import time

from dicomtls.dimse.messages import C_ECHO_RQ
from dicomtls.io.server import VerificationServer
from dicomtls.ul.association import Association, Established, Released
from dicomtls.ul.negotiation import VERIFICATION_SOP_CLASS


def _established(port: int, **sockopts) -> tuple[socket.socket, Association]:
    sock = socket.socket()
    for opt, value in sockopts.items():
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, opt), value)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    assoc = Association("requestor")
    assoc.request("ANY-SCP", "SLOW", [VERIFICATION_SOP_CLASS])
    sock.sendall(assoc.data_to_send())
    while True:
        assoc.receive_data(sock.recv(65536))
        if isinstance(assoc.next_event(), Established):
            return sock, assoc


def _wait_closed(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closed or reset ``sock`` (reading and dropping what it sends);
    ``limit`` + 1 if it did not within ``limit``."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < limit:
        try:
            if not sock.recv(1 << 20):
                break
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
    else:
        return limit + 1
    return time.monotonic() - started


def _wait_result(server, limit: float = 10):
    deadline = time.monotonic() + limit
    while not server.results and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.results[-1]


def test_peer_that_stops_reading_is_cut_off_after_one_timeout():
    server = VerificationServer(timeout=2).start()
    try:
        # A tiny receive buffer: the server's responses fill it (and its own send buffer)
        # while we go on sending requests and never read.
        sock, assoc = _established(server.port, SO_RCVBUF=4096)
        context_id = next(iter(assoc.contexts))
        sock.setblocking(False)
        blocked_since = None
        message_id = 0
        while blocked_since is None or time.monotonic() - blocked_since < 0.5:
            if blocked_since is None:
                message_id = message_id % 0xFFFF + 1
                assoc.send_message(context_id, C_ECHO_RQ(
                    message_id=message_id, affected_sop_class_uid=VERIFICATION_SOP_CLASS))
                pending = memoryview(assoc.data_to_send())
            try:
                sent = sock.send(pending)
                pending = pending[sent:]
                blocked_since = None if not pending else blocked_since
                if pending:
                    blocked_since = time.monotonic()
            except BlockingIOError:
                blocked_since = blocked_since or time.monotonic()
            if message_id > 400_000:
                raise AssertionError("the server kept reading: nothing was held")
        # The server is now blocked writing to us (we never read: reading would unblock it).
        # Its write gets ``timeout`` (2 s) in all, its A-ABORT 1 s more, its close drain 2 s:
        # it ends well before the twice-the-timeout-plus-drain it used to take.
        result = _wait_result(server, 15)
        seconds = time.monotonic() - blocked_since
        sock.close()
        assert result.outcome == "error" and "timed out" in result.error, result.error
        assert seconds < 6.5, seconds
    finally:
        server.shutdown(0)


def test_peer_that_keeps_sending_after_the_release_is_closed_in_total_time():
    server = VerificationServer(timeout=5).start()
    try:
        sock, assoc = _established(server.port)
        assoc.release()
        sock.sendall(assoc.data_to_send())
        while True:
            assoc.receive_data(sock.recv(65536))
            if isinstance(assoc.next_event(), Released):
                break
        # Instead of closing, drip a byte every 0.1 s: each read of the server's close drain
        # gets something, so only a total deadline ends it.
        started = time.monotonic()
        sock.settimeout(0.1)
        closed = False
        while time.monotonic() - started < 10:
            try:
                sock.send(b"x")
                if sock.recv(100) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
        seconds = time.monotonic() - started
        sock.close()
        assert closed and seconds < 3.5, seconds   # the 2 s close drain, in total
        assert _wait_result(server).outcome == "released"
    finally:
        server.shutdown(0)
