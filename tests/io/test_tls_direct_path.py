"""The TLS data path in C (``TLSSocket`` after the handshake: one C call moves a whole buffer
between the socket and the caller; csrc/dt_conn_io.c for the libssl engine, csrc/dt_rec_io.c
for the own engine).

Every case runs twice against a real peer on loopback: once on the direct path and once on
the event path (a ``tap`` turns the direct path off), and both must give the same bytes and
the same ending; and for each engine and record protection: libssl TLS 1.2 and 1.3, the own
engine with AES-GCM, AES-CBC encrypt-then-MAC, MAC-then-encrypt (TLS 1.2, multi-block sealing),
and TLS 1.0 CBC (implicit IVs, 1/n-1 split). The peers are Python's ``ssl`` (a thread in this process) and ``openssl
s_server`` (TLS 1.3 KeyUpdate, which makes a read produce output). Every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

import dicomtls
from dicomtls.errors import ConnectionClosedError, TLSError
from dicomtls.io import tls_socket

from conftest import free_port, require_binary, wait_for_port

TIMEOUT = 10


AES_CBC = "TLS_RSA_WITH_AES_128_CBC_SHA"
STACKS = {
    "libssl-1.2": dict(engine="libssl", min_version="1.2", max_version="1.2"),
    "libssl-1.3": dict(engine="libssl", min_version="1.3"),
    "own-gcm": dict(engine="dicomtls", ciphers=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]),
    "own-cbc-etm": dict(engine="dicomtls", ciphers=[AES_CBC]),
    "own-cbc-mte": dict(engine="dicomtls", ciphers=[AES_CBC], encrypt_then_mac=False),
    "own-tls1.0": dict(engine="dicomtls", ciphers=[AES_CBC], min_version="1.0",
                       max_version="1.0", encrypt_then_mac=False),
}


@pytest.fixture(params=sorted(STACKS))
def stack(request):
    return STACKS[request.param]


def peer_context(pki) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1    # the own engine's TLS 1.0 case
    ctx.set_ciphers("ALL:@SECLEVEL=0")            # and its RSA key transport suites
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    ctx.load_verify_locations(str(pki.ca_cert))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class PythonPeer:
    """A Python ``ssl`` server on 127.0.0.1 running ``script(ssl_socket)`` for one client."""

    def __init__(self, pki, script):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.pki, self.ctx, self.script, self.error = pki, peer_context(pki), script, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def accept(self):
        """The accepted connection, its handshake done, as the script's context manager."""
        raw, _ = self.listener.accept()
        raw.settimeout(TIMEOUT)
        return self.ctx.wrap_socket(raw, server_side=True)

    def _run(self):
        try:
            with self.accept() as s:
                self.script(s)
        except Exception as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def join(self):
        self.thread.join(TIMEOUT)
        self.listener.close()
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def client_config(pki, **kw):
    return dicomtls.TLSConfig.from_profile(certificate=str(pki.client_cert),
                                           private_key=str(pki.client_key),
                                           ca_file=str(pki.ca_cert), **kw)


def connect(pki, port, direct: bool, stack=None, **kw) -> tls_socket.TLSSocket:
    config = client_config(pki, **{**(stack or STACKS["libssl-1.3"]), **kw})
    tls = tls_socket.connect("127.0.0.1", port, config, timeout=TIMEOUT)
    assert tls.conn.engine == config.engine
    if not direct:
        tls.tap = lambda data: None   # the event path: every byte goes through the engine's events
    assert tls._direct() is direct
    return tls


@pytest.fixture(params=["direct", "events"])
def direct(request):
    return request.param == "direct"


def read_all(tls, sizes) -> bytes:
    """Read until the peer closes, cycling through buffer sizes."""
    out, i = bytearray(), 0
    while True:
        buf = bytearray(sizes[i % len(sizes)])
        n = tls.recv_into(buf)
        if n == 0:
            return bytes(out)
        assert 0 < n <= len(buf)
        out += buf[:n]
        i += 1


def test_echo_of_megabytes_in_odd_pieces(pki, direct, stack):
    """3 MiB out in one sendall, echoed back in records of all sizes, read into buffers of 1 to
    256 KiB bytes; then the peer's close_notify ends the stream cleanly."""
    payload = os.urandom(3 << 20)

    def echo(s):
        got = bytearray()
        while len(got) < len(payload):
            chunk = s.recv(65536)
            assert chunk
            got += chunk
        pos = 0   # varied record sizes on the way back
        for size in (1, 7, 100, 16384, 16385, 1 << 20) * 4:
            s.sendall(got[pos:pos + size])
            pos += size
        s.sendall(got[pos:])
        s.unwrap()

    peer = PythonPeer(pki, echo)
    tls = connect(pki, peer.port, direct, stack)
    try:
        tls.sendall(payload)
        assert read_all(tls, [1, 3, 5000, 1 << 18, 65536]) == payload
        assert tls.peer_closed_cleanly is True
        assert tls.recv(100) == b""
    finally:
        tls.close()
    peer.join()


def test_recv_returns_what_is_there_and_the_unclean_end(pki, direct, stack):
    """``recv`` hands out what has arrived without waiting for more; a TCP close without
    close_notify ends the stream as unclean, after every byte sent before it."""
    release = threading.Event()

    def dribble(s):
        s.sendall(b"first")
        release.wait(TIMEOUT)
        s.sendall(b"second")
        s.shutdown(socket.SHUT_RDWR)   # TCP close, no close_notify (unwrap is not called)

    peer = PythonPeer(pki, dribble)
    tls = connect(pki, peer.port, direct, stack)
    try:
        assert bytes(tls.recv(1000)) == b"first"
        release.set()
        rest = bytearray()
        while True:
            chunk = tls.recv(1000)
            if not chunk:
                break
            rest += chunk
        assert bytes(rest) == b"second"
        assert tls.peer_closed_cleanly is False
    finally:
        tls.close(force=True)
    peer.join()


def test_timeouts_lose_nothing(pki, direct, stack):
    """A silent peer: ``recv_into`` raises TimeoutError after the socket's timeout, and with
    ``wait=False`` BlockingIOError at once; the stream goes on intact afterwards."""
    go = threading.Event()

    def late(s):
        go.wait(TIMEOUT)
        s.sendall(b"x" * 40000)
        s.unwrap()

    peer = PythonPeer(pki, late)
    tls = connect(pki, peer.port, direct, stack)
    try:
        buf = bytearray(100000)
        tls.sock.settimeout(0.3)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            tls.recv_into(buf)
        assert 0.25 <= time.monotonic() - started < 3
        with pytest.raises(BlockingIOError):
            tls.recv_into(buf, wait=False)
        go.set()
        tls.sock.settimeout(TIMEOUT)
        assert read_all(tls, [100000]) == b"x" * 40000
        assert tls.peer_closed_cleanly is True
    finally:
        tls.close()
    peer.join()


def test_a_fatal_alert_is_typed_and_ends_the_stream(pki, direct, stack):
    """Bytes that are not a valid record (the peer's TLS is bypassed on the raw socket) make a
    typed TLSError; our alert goes out and the socket is shut, whichever path read it. The bad
    record arrives right behind good data: the data is delivered first, then the failure (the
    event path used to lose it there and wait for more input)."""
    def corrupt(s):
        s.sendall(b"ok")
        raw = socket.socket(fileno=os.dup(s.fileno()))
        minor = {"TLSv1": 1, "TLSv1.1": 2}.get(s.version(), 3)
        raw.sendall(bytes([23, 3, minor, 0, 80]) + os.urandom(80))   # application_data, bad MAC
        raw.close()
        time.sleep(0.5)   # keep the TLS socket open until our alert has arrived

    peer = PythonPeer(pki, corrupt)
    tls = connect(pki, peer.port, direct, stack)
    try:
        assert bytes(tls.recv(10)) == b"ok"
        with pytest.raises(TLSError, match="bad_record_mac|decrypt|bad record|decode_error"):
            while tls.recv(100):
                pass
        assert tls._failed
    finally:
        tls.close(force=True)
    peer.join()


def test_large_send_to_a_peer_that_stops_reading_times_out(pki, direct, stack):
    """sendall to a peer that reads nothing ends within the timeout (plus the socket buffers'
    worth of progress) with ConnectionClosedError "timed out", not a hang; closing afterwards
    is bounded too."""
    stop = threading.Event()
    peer = PythonPeer(pki, lambda s: stop.wait(TIMEOUT))
    tls = connect(pki, peer.port, direct, stack)
    try:
        tls.sock.settimeout(0.5)
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError, match="timed out"):
            tls.sendall(bytes(64 << 20))
        assert time.monotonic() - started < 5
    finally:
        started = time.monotonic()
        tls.close(timeout=1.0)
        assert time.monotonic() - started < 3
        stop.set()
    peer.join()


def test_key_update_from_openssl_s_server_is_answered(pki, direct, tmp_path):
    """TLS 1.3: ``openssl s_server`` sends KeyUpdate with update_requested ("K" on its stdin);
    a direct read takes it in and our KeyUpdate goes back at once (reading produced output),
    and data flows both ways under the new keys."""
    openssl = require_binary("openssl")
    port = free_port()
    log = open(tmp_path / "s_server.log", "w+")
    server = subprocess.Popen(
        [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_3", "-msg",
         "-cert", str(pki.server_cert), "-key", str(pki.server_key), "-CAfile", str(pki.ca_cert),
         "-Verify", "1", "-ign_eof"],
        stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, server)
        tls = connect(pki, port, direct, STACKS["libssl-1.3"])
        try:
            tls.sendall(b"before\n")
            deadline = time.monotonic() + TIMEOUT
            while b"before" not in open(tmp_path / "s_server.log", "rb").read():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            server.stdin.write(b"K\n")
            server.stdin.flush()
            time.sleep(0.3)
            server.stdin.write(b"after the update\n")
            server.stdin.flush()
            got = bytearray()
            tls.sock.settimeout(TIMEOUT)
            while b"after the update" not in got:
                buf = bytearray(4096)
                n = tls.recv_into(buf)
                assert n
                got += buf[:n]
            tls.sendall(b"reply under new keys\n")
            while b"reply under new keys" not in open(tmp_path / "s_server.log", "rb").read():
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            tls.close(timeout=1.0)
        text = open(tmp_path / "s_server.log", errors="replace").read()
        # s_server -msg logs each handshake message: one KeyUpdate sent, ours received.
        assert text.count("KeyUpdate") >= 2, text[-3000:]
    finally:
        server.kill()
        server.wait(TIMEOUT)
        log.close()


class Interrupted(Exception):
    pass


def test_a_signal_interrupts_a_blocked_send_and_the_stream_stays_whole(pki, direct, stack):
    """A send blocked on a peer that does not read gives way to a signal handler at once (not
    after the socket timeout); ciphertext already taken for sending is kept and goes out
    first when the connection goes on: the peer, reading again, gets valid records up to our
    close_notify."""
    import signal
    go, outcome = threading.Event(), {}

    def late_reader(s):
        go.wait(TIMEOUT)
        total = 0
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        outcome["bytes"] = total

    peer = PythonPeer(pki, late_reader)
    tls = connect(pki, peer.port, direct, stack)

    def alarm(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted):
            tls.sendall(bytes(256 << 20))
        assert time.monotonic() - started < 3
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    go.set()
    tls.close(timeout=TIMEOUT)
    peer.join()   # an SSL error on the peer's side (a torn record) would be raised here
    assert outcome["bytes"] > 0
