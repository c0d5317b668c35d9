"""The own engine's TLSConnection: records, alerts and application data around a handshake.

Subclasses (client.py, server.py) supply the handshake as a transition table; this base class
turns bytes into records (plaintext ones in Python before ChangeCipherSpec, protected ones through
one C call per run of records), feeds handshake bytes to the table, answers and raises alerts, and
hands out application data. Same events, errors and SessionInfo as the libssl engine.
"""

from __future__ import annotations

import abc
import hashlib
import logging
from collections import deque
from typing import Optional

from ..._binding import ffi
from ...errors import (ConnectionClosedError, LocalProtocolError, TLSAlertReceived, TLSError,
                       TLSProtocolViolation, alert_name)
from ..config import TLSConfig
from ..connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                          HandshakeComplete, TLSConnection)
from ..libssl_context import keylog_lock
from ..versions import TLSVersion
from .cipherspec import ENGINE_NAME
from .messages import HandshakeBuffer, HandshakeType
from .trust import credentials

log = logging.getLogger("dicomtls.tls")

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
WARNING, FATAL = 1, 2
CLOSE_NOTIFY, UNEXPECTED_MESSAGE, RECORD_OVERFLOW = 0, 10, 22
HANDSHAKE_FAILURE, ILLEGAL_PARAMETER, DECODE_ERROR, PROTOCOL_VERSION = 40, 47, 50, 70
INTERNAL_ERROR, NO_RENEGOTIATION = 80, 100
MAX_PLAINTEXT = 1 << 14
MAX_EMPTY_RECORDS = 32  # consecutive empty records tolerated (libssl's limit): a cheap DoS otherwise


class Transcript:
    """The handshake messages so far, and their hash for Finished / EMS / CertificateVerify."""

    def __init__(self):
        self.data = bytearray()

    def add(self, raw) -> None:
        self.data += raw

    def digest(self, prf_md: str, extra: bytes = b"") -> bytes:
        data = bytes(self.data) + extra
        if prf_md == "MD5-SHA1":
            return hashlib.md5(data).digest() + hashlib.sha1(data).digest()
        return hashlib.new(prf_md.lower(), data).digest()


class OwnConnection(TLSConnection):
    """Shared machinery of the own engine's client and server."""

    engine = ENGINE_NAME
    TABLE: dict = {}          # (state, HandshakeType) -> handler method name; set by subclasses

    def __init__(self, config: TLSConfig, role: str, *, server_name: Optional[str] = None):
        super().__init__(role)
        self.config = config
        self.server_name = server_name
        self.creds = credentials(config, role)
        self._handle = ffi.new_handle(self)  # dt_py_verify's handle: kept alive with us
        self._callback_error: Optional[BaseException] = None
        self._error: Optional[BaseException] = None
        self._inbuf = bytearray()
        self._inpos = 0
        self._out: list = []
        self._out_len = 0
        self._read = None            # RecordState after ChangeCipherSpec, None = plaintext
        self._write = None
        self._pending_read = None    # the state the next ChangeCipherSpec switches to
        self.version: Optional[TLSVersion] = None
        # Plaintext record version: 0x0301 for the ClientHello (old servers choke on more), then
        # the version an alert belongs to (set by the subclasses), as libssl does: a peer pinned
        # to one version otherwise reports "wrong version number" instead of our alert.
        self._record_version = 0x0301
        self.peer_chain: list = []   # the peer's certificates, once its Certificate is parsed
        self._hs = HandshakeBuffer()
        self._alert_buf = bytearray()
        self._events: deque = deque()
        self.transcript = Transcript()
        self.state = "START"
        self._eof = False
        self._close_sent = False
        self._close_received = False
        self._closed_reported = False
        self._split_first = False
        self._empty_records = 0

    # ---- bytes in / out -------------------------------------------------------------------
    def receive_data(self, data) -> None:
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after EOF")
        buf, pos = self._inbuf, self._inpos
        if pos == len(buf):
            # Nothing pending (the common case for bulk data read in large chunks): keep the
            # caller's bytes instead of copying every received byte once more. Only immutable
            # bytes: a caller may reuse its bytearray for the next read.
            self._inbuf = data if type(data) is bytes else bytes(data)
        else:
            # Drop what was consumed before appending: records rarely end where a read ends, so
            # keeping consumed bytes would let the buffer grow for the whole connection. What is
            # left is at most one partial record, so the copy is cheap.
            rest = bytearray(memoryview(buf)[pos:])
            rest += data
            self._inbuf = rest
        self._inpos = 0

    def pending_output(self) -> int:
        return self._out_len

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        out = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out, self._out_len = [], 0
        return out

    def _emit(self, data) -> None:
        if data:
            self._out.append(data)
            self._out_len += len(data)

    def _send_record(self, content_type: int, payload: bytes) -> None:
        if self._write is None:
            out = bytearray()
            for i in range(0, max(len(payload), 1), MAX_PLAINTEXT):
                part = payload[i:i + MAX_PLAINTEXT]
                out += bytes((content_type, self._record_version >> 8, self._record_version & 0xFF,
                              len(part) >> 8, len(part) & 0xFF)) + part
            self._emit(out)
        else:
            self._emit(self._write.seal(content_type, payload))

    def _send_handshake(self, msg) -> bytes:
        raw = msg.encode()
        self.transcript.add(raw)
        self._send_record(HANDSHAKE, raw)
        return raw

    def _send_alert(self, level: int, description: int) -> None:
        try:
            self._send_record(ALERT, bytes((level, description)))
        except Exception:  # a broken write state: the peer will see the TCP close instead
            log.debug("could not send alert %s", description, exc_info=True)

    # ---- events ---------------------------------------------------------------------------
    def next_event(self):
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except TLSError as exc:
            if exc.alert_sent is not None and exc.alert_received is None:
                self._send_alert(FATAL, exc.alert_sent)
            if exc.peer_certificate is None and self.peer_chain:
                # Who was refused (or failed us), for the operator's log: set here once rather
                # than at every raise site after the peer's Certificate message.
                exc.peer_certificate = self.peer_chain[0].info()
            self._error = exc
            raise
        except BaseException as exc:
            if not isinstance(exc, (LocalProtocolError, ConnectionClosedError)):
                self._send_alert(FATAL, INTERNAL_ERROR)
            self._error = exc
            raise

    def _next_event(self):
        if self.state == "START":
            self.start()
        while True:
            if self._events:
                return self._events.popleft()
            if not self._process_input():
                break
        if self._events:
            return self._events.popleft()
        if self._eof:
            return self._at_eof()
        return NEED_DATA

    def _at_eof(self):
        if self.session is None:
            raise ConnectionClosedError("the peer closed the connection during the TLS handshake")
        if self._closed_reported:
            return NEED_DATA
        self._closed_reported = True
        clean = self._close_received and self._inpos == len(self._inbuf)
        return ConnectionClosed(clean=clean)

    def _process_input(self) -> bool:
        """Consume some input; False when nothing more can be done without more bytes."""
        buf, pos = self._inbuf, self._inpos
        if len(buf) - pos < 5:
            return False
        if self._close_received:
            self._inpos = len(buf)  # nothing after close_notify counts
            return False
        if self._read is None:
            ctype, length = buf[pos], (buf[pos + 3] << 8) | buf[pos + 4]
            if ctype not in (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA):
                raise TLSProtocolViolation(f"unknown TLS record type {ctype}",
                                           alert=UNEXPECTED_MESSAGE)
            if buf[pos + 1] != 3:
                raise TLSProtocolViolation("not a TLS record (bad version)", alert=PROTOCOL_VERSION)
            if length > MAX_PLAINTEXT:
                raise TLSProtocolViolation(f"plaintext record of {length} bytes",
                                           alert=RECORD_OVERFLOW)
            if len(buf) - pos < 5 + length:
                return False
            payload = bytes(buf[pos + 5:pos + 5 + length])
            self._inpos = pos + 5 + length
        else:
            count, consumed, payload, ctype = self._read.open(buf, pos)
            if count == 0:
                return False
            self._inpos = pos + consumed
        if payload:
            self._empty_records = 0
        else:
            # Empty application records are legal (OpenSSL's old CBC countermeasure); endless
            # ones, or empty records of other types, are not.
            self._empty_records += 1 if self._read is None else count
            if self._empty_records > MAX_EMPTY_RECORDS or ctype != APPLICATION_DATA:
                raise TLSProtocolViolation(f"empty record(s) of type {ctype}",
                                           alert=UNEXPECTED_MESSAGE)
        self._dispatch(ctype, payload)
        return True

    def _dispatch(self, ctype: int, payload) -> None:
        if ctype == HANDSHAKE:
            self._hs.feed(payload)
            while True:
                msg = self._hs.next_message()
                if msg is None:
                    break
                self._on_handshake_message(*msg)
        elif ctype == APPLICATION_DATA:
            if self.session is None:
                raise TLSProtocolViolation("application data before the handshake finished",
                                           alert=UNEXPECTED_MESSAGE)
            if payload:
                self._events.append(ApplicationData(payload))
        elif ctype == ALERT:
            self._on_alert_bytes(payload)
        elif ctype == CHANGE_CIPHER_SPEC:
            if bytes(payload) != b"\x01":
                # RFC 5246 7.1 has no length to decode: anything but the single byte 1 is not a
                # ChangeCipherSpec at all (libssl: unexpected_message, bad change cipher spec).
                raise TLSProtocolViolation("malformed ChangeCipherSpec",
                                           alert=UNEXPECTED_MESSAGE)
            if self._pending_read is None or self._hs.pending:
                raise TLSProtocolViolation("unexpected ChangeCipherSpec", alert=UNEXPECTED_MESSAGE)
            self._read, self._pending_read = self._pending_read, None
            self.on_change_cipher_spec()
        else:
            raise TLSProtocolViolation(f"unexpected record type {ctype}", alert=UNEXPECTED_MESSAGE)

    def _on_alert_bytes(self, payload) -> None:
        self._alert_buf += payload
        while len(self._alert_buf) >= 2:
            level, desc = self._alert_buf[0], self._alert_buf[1]
            del self._alert_buf[:2]
            if desc == CLOSE_NOTIFY:
                self._close_received = True
                if self.session is None:
                    raise ConnectionClosedError(
                        "the peer sent close_notify during the TLS handshake")
                self._events.append(CloseNotify())
                return
            if level == FATAL:
                raise TLSAlertReceived(
                    f"TLS {'handshake' if self.session is None else 'read'} failed: the peer sent "
                    f"alert {alert_name(desc)} ({desc})", alert_received=desc)
            log.info("TLS warning alert from the peer: %s (%d)", alert_name(desc), desc)

    def _on_handshake_message(self, msg_type: int, body: bytes, raw: bytes) -> None:
        if self.session is not None:
            self.on_post_handshake_message(msg_type, body, raw)
            return
        handler = self.TABLE.get((self.state, msg_type))
        if handler is None:
            try:
                name = HandshakeType(msg_type).name
            except ValueError:
                name = f"type {msg_type}"
            raise TLSProtocolViolation(f"unexpected handshake message {name} in state {self.state}",
                                       alert=UNEXPECTED_MESSAGE)
        getattr(self, handler)(body, raw)

    def on_post_handshake_message(self, msg_type: int, body: bytes, raw: bytes) -> None:
        raise TLSProtocolViolation("unexpected handshake message after the handshake",
                                   alert=UNEXPECTED_MESSAGE)

    def refuse_renegotiation(self) -> None:
        """RFC 5746 leaves renegotiation optional: this engine never does it and says so."""
        log.info("TLS renegotiation request refused (no_renegotiation)")
        self._send_alert(WARNING, NO_RENEGOTIATION)

    # ---- subclass hooks (client.py, server.py) ----------------------------------------------
    @abc.abstractmethod
    def start(self) -> None:
        """Called on the first next_event(): a client sends its ClientHello, a server waits."""

    @abc.abstractmethod
    def on_change_cipher_spec(self) -> None:
        """The peer's ChangeCipherSpec switched the read state: expect Finished next."""

    def complete(self, session) -> None:
        self.session = session
        self.state = "CONNECTED"
        log.info("TLS %s session: %s", self.role, session.summary())
        self._events.append(HandshakeComplete(session))

    def write_keylog(self, line: str) -> None:
        path = self.config.keylog_file
        if path:
            with keylog_lock(path), open(path, "ab") as f:
                f.write(line.encode() + b"\n")

    # ---- application data out -------------------------------------------------------------
    def send(self, data) -> None:
        if self._error is not None:
            raise self._error
        if self.session is None:
            raise LocalProtocolError("cannot send application data before the handshake completes")
        if self._close_sent:
            raise LocalProtocolError("cannot send after close()")
        if not len(data):
            return
        try:
            self._emit(self._write.seal(APPLICATION_DATA, data, split_first=self._split_first))
        except BaseException as exc:
            self._error = exc
            raise

    def close(self) -> None:
        if self._close_sent:
            return
        self._close_sent = True
        if self._error is None and self.session is not None:
            self._send_alert(WARNING, CLOSE_NOTIFY)
