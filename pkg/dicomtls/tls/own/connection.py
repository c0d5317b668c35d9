"""The own engine's TLSConnection: records, alerts and application data around a handshake.

Subclasses (client.py, server.py) supply the handshake: an enum of states and a transition table
``(state, HandshakeType) -> handler`` whose handlers return the next state. This base class turns
bytes into records (plaintext ones in Python before ChangeCipherSpec, protected ones through one C
call per run of records), looks each handshake message up in the table (a pair it lacks is an
unexpected_message), moves ChangeCipherSpec from WAIT_CHANGE_CIPHER_SPEC to WAIT_FINISHED, answers
and raises alerts, and hands out application data. Same events, errors and SessionInfo as the
libssl engine.
"""

from __future__ import annotations

import abc
import enum
import hashlib
import logging
from collections import deque
from typing import Callable, Optional

from ...errors import (ConnectionClosedError, LocalProtocolError, TLSAlertReceived, TLSError,
                       TLSProtocolViolation, alert_name)
from ..config import TLSConfig
from ..connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                          HandshakeComplete, TLSConnection)
from ..libssl_context import keylog_lock
from ..protocol import (CHANGE_CIPHER_SPEC_MESSAGE, MAX_PLAINTEXT_LENGTH,
                        TLS12_CONTENT_TYPES, AlertDescription, AlertLevel, ContentType,
                        HandshakeType, alert_message, plaintext_records)
from ..versions import TLSVersion
from .cipherspec import ENGINE_NAME
from .messages import HandshakeBuffer
from .socket_path import SocketPath
from .trust import credentials

log = logging.getLogger("dicomtls.tls")



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


# A handshake handler takes the message body and its raw bytes (header included, for the
# transcript) and returns the state the connection moves to.
Handler = Callable[[bytes, bytes], enum.Enum]


class OwnConnection(SocketPath, TLSConnection):
    """Shared machinery of the own engine's client and server.

    ``STATES`` is the role's state enum. Besides its own states it has START (before
    ``next_event`` first runs), WAIT_CHANGE_CIPHER_SPEC and WAIT_FINISHED (the ChangeCipherSpec
    record moves one to the other here) and CONNECTED (the handshake is over).
    """

    engine = ENGINE_NAME
    STATES: type[enum.Enum]

    def __init__(self, config: TLSConfig, role: str, *, server_name: Optional[str] = None):
        super().__init__(role)
        self.config = config
        self.server_name = server_name
        self.creds = credentials(config, role)
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
        self._record_version = int(TLSVersion.TLSv1_0)
        self.peer_chain: list = []   # the peer's certificates, once its Certificate is parsed
        self._hs = HandshakeBuffer()
        self._alert_buf = bytearray()
        self._events: deque = deque()
        self.transcript = Transcript()
        self.state = self.STATES.START
        self._transitions = self.transitions()  # bound once: a lookup per message, no getattr
        self._eof = False
        self._close_sent = False
        self._close_received = False
        self._closed_reported = False
        self._split_first = False

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
        return self._out_len + self._socket_out_pending()

    def data_to_send(self) -> bytes:
        first = self._take_socket_out()   # sealed on the socket path, not sent yet
        if not self._out:
            return first
        out = self._out[0] if len(self._out) == 1 and not first else b"".join([first, *self._out])
        self._out, self._out_len = [], 0
        return out

    def _emit(self, data) -> None:
        if data:
            self._out.append(data)
            self._out_len += len(data)

    def _send_record(self, content_type: int, payload: bytes) -> None:
        if self._write is None:
            self._emit(plaintext_records(content_type, self._record_version, payload))
        else:
            self._emit(self._write.seal(content_type, payload))

    def _send_handshake(self, msg) -> bytes:
        raw = msg.encode()
        self.transcript.add(raw)
        self._send_record(ContentType.HANDSHAKE, raw)
        return raw

    def _send_change_cipher_spec(self) -> None:
        """ChangeCipherSpec, then every record we send is protected with the new keys."""
        self._send_record(ContentType.CHANGE_CIPHER_SPEC, CHANGE_CIPHER_SPEC_MESSAGE)
        self._write = self._record_state(encrypt=True)

    def _send_alert(self, level: int, description: int) -> None:
        try:
            self._send_record(ContentType.ALERT, alert_message(level, description))
        except Exception:  # a broken write state: the peer will see the TCP close instead
            log.debug("could not send alert %s", description, exc_info=True)

    # ---- events ---------------------------------------------------------------------------
    def next_event(self):
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except TLSError as exc:
            # Failed first, before any work that could itself fail: whatever happens below,
            # the connection re-raises this error and never goes on.
            self._error = exc
            if exc.alert_sent is not None and exc.alert_received is None:
                self._send_alert(AlertLevel.FATAL, exc.alert_sent)
            if exc.peer_certificate is None and self.peer_chain:
                # Who was refused (or failed us), for the operator's log: set here once rather
                # than at every raise site after the peer's Certificate message. Only a detail:
                # a certificate we cannot describe must not replace the error it explains.
                try:
                    exc.peer_certificate = self.peer_chain[0].info()
                except Exception:
                    log.debug("could not describe the peer certificate", exc_info=True)
            raise
        except BaseException as exc:
            self._error = exc  # first, as above
            if not isinstance(exc, (LocalProtocolError, ConnectionClosedError)):
                self._send_alert(AlertLevel.FATAL, AlertDescription.INTERNAL_ERROR)
            raise

    def _next_event(self):
        if self.state is self.STATES.START:
            self.state = self.start()
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
            if ctype not in TLS12_CONTENT_TYPES:
                raise TLSProtocolViolation(f"unknown TLS record type {ctype}",
                                           alert=AlertDescription.UNEXPECTED_MESSAGE)
            if buf[pos + 1] != 3:
                raise TLSProtocolViolation("not a TLS record (bad version)",
                                           alert=AlertDescription.PROTOCOL_VERSION)
            if length > MAX_PLAINTEXT_LENGTH:
                raise TLSProtocolViolation(f"plaintext record of {length} bytes",
                                           alert=AlertDescription.RECORD_OVERFLOW)
            if len(buf) - pos < 5 + length:
                return False
            payload = bytes(buf[pos + 5:pos + 5 + length])
            self._inpos = pos + 5 + length
        else:
            count, consumed, payload, ctype = self._read.open(buf, pos)
            if count == 0:
                return False
            self._inpos = pos + consumed
        if not payload and ctype != ContentType.APPLICATION_DATA:
            # Empty application records are legal (OpenSSL's old CBC countermeasure; the record
            # layer refuses an endless run of them), empty records of other types are not.
            raise TLSProtocolViolation(f"empty record of type {ctype}",
                                       alert=AlertDescription.UNEXPECTED_MESSAGE)
        self._dispatch(ctype, payload)
        return True

    def _dispatch(self, ctype: int, payload) -> None:
        if ctype == ContentType.HANDSHAKE:
            self._hs.feed(payload)
            while True:
                msg = self._hs.next_message()
                if msg is None:
                    break
                self._on_handshake_message(*msg)
        elif ctype == ContentType.APPLICATION_DATA:
            if self.session is None:
                raise TLSProtocolViolation("application data before the handshake finished",
                                           alert=AlertDescription.UNEXPECTED_MESSAGE)
            if payload:
                self._events.append(ApplicationData(payload))
        elif ctype == ContentType.ALERT:
            self._on_alert_bytes(payload)
        elif ctype == ContentType.CHANGE_CIPHER_SPEC:
            self._on_change_cipher_spec(payload)
        else:
            raise TLSProtocolViolation(f"unexpected record type {ctype}",
                                       alert=AlertDescription.UNEXPECTED_MESSAGE)

    def _on_change_cipher_spec(self, payload) -> None:
        if bytes(payload) != CHANGE_CIPHER_SPEC_MESSAGE:
            # RFC 5246 7.1 has no length to decode: anything but the single byte 1 is not a
            # ChangeCipherSpec at all (libssl: unexpected_message, bad change cipher spec).
            raise TLSProtocolViolation("malformed ChangeCipherSpec",
                                       alert=AlertDescription.UNEXPECTED_MESSAGE)
        if self._pending_read is None or self._hs.pending:
            raise TLSProtocolViolation("unexpected ChangeCipherSpec",
                                       alert=AlertDescription.UNEXPECTED_MESSAGE)
        if self.state is not self.STATES.WAIT_CHANGE_CIPHER_SPEC:
            # The keys exist once the ClientKeyExchange is in, but a server that asked for a
            # certificate must see the CertificateVerify before the client switches.
            raise TLSProtocolViolation(f"ChangeCipherSpec in state {self.state.name}",
                                       alert=AlertDescription.UNEXPECTED_MESSAGE)
        self._read, self._pending_read = self._pending_read, None
        self.state = self.STATES.WAIT_FINISHED

    def _on_alert_bytes(self, payload) -> None:
        self._alert_buf += payload
        while len(self._alert_buf) >= 2:
            level, desc = self._alert_buf[0], self._alert_buf[1]
            del self._alert_buf[:2]
            if desc == AlertDescription.CLOSE_NOTIFY:
                self._close_received = True
                if self.session is None:
                    raise ConnectionClosedError(
                        "the peer sent close_notify during the TLS handshake")
                self._events.append(CloseNotify())
                return
            if level == AlertLevel.FATAL:
                raise TLSAlertReceived(
                    f"TLS {'handshake' if self.session is None else 'read'} failed: the peer sent "
                    f"alert {alert_name(desc)} ({desc})", alert_received=desc)
            log.info("TLS warning alert from the peer: %s (%d)", alert_name(desc), desc)

    def _on_handshake_message(self, msg_type: int, body: bytes, raw: bytes) -> None:
        handler = self._transitions.get((self.state, msg_type))
        if handler is None:
            try:
                name = HandshakeType(msg_type).name
            except ValueError:
                name = f"type {msg_type}"
            where = ("after the handshake" if self.state is self.STATES.CONNECTED
                     else f"in state {self.state.name}")
            raise TLSProtocolViolation(f"unexpected handshake message {name} {where}",
                                       alert=AlertDescription.UNEXPECTED_MESSAGE)
        self.state = handler(body, raw)

    def refuse_renegotiation(self, body: bytes, raw: bytes) -> enum.Enum:
        """A renegotiation request (HelloRequest to a client, ClientHello to a server) once
        connected: RFC 5746 leaves renegotiation optional; this engine never does it and says
        so with a warning alert, and stays connected."""
        log.info("TLS renegotiation request refused (no_renegotiation)")
        self._send_alert(AlertLevel.WARNING, AlertDescription.NO_RENEGOTIATION)
        return self.STATES.CONNECTED

    # ---- subclass hooks (client.py, server.py) ----------------------------------------------
    @abc.abstractmethod
    def transitions(self) -> dict[tuple[enum.Enum, HandshakeType], Handler]:
        """The role's table ``(state, HandshakeType) -> handler``, bound to this connection."""

    @abc.abstractmethod
    def start(self) -> enum.Enum:
        """Called on the first next_event(): a client sends its ClientHello, a server waits.
        Returns the state to move to."""

    @abc.abstractmethod
    def _record_state(self, *, encrypt: bool):
        """The RecordState our writes (``encrypt``) or the peer's records switch to at
        ChangeCipherSpec, from this handshake's key block."""

    def complete(self, session) -> enum.Enum:
        """The handshake is over: report the session. Returns CONNECTED for the caller, the
        Finished handler, to move to."""
        self.session = session
        log.info("TLS %s session: %s", self.role, session.summary())
        self._events.append(HandshakeComplete(session))
        return self.STATES.CONNECTED

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
            self._emit(self._write.seal(ContentType.APPLICATION_DATA, data,
                                        split_first=self._split_first))
        except BaseException as exc:
            self._error = exc
            raise

    def close(self) -> None:
        if self._close_sent:
            return
        self._close_sent = True
        if self._error is None and self.session is not None:
            self._send_alert(AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)
