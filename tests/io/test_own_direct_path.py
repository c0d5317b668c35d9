"""The own engine's socket path (csrc/dt_rec_io.c) where it hands over to the event path.

It opens application data records only; at anything else it stops before the record and gives
the staged ciphertext back. These cases make the peer send exactly that in the middle of bulk
data, on both paths (``tap`` turns the direct one off), and check the same outcome: legal empty
records (OpenSSL's TLS 1.0 empty-fragment countermeasure) are skipped; a run of empty records
past the limit is refused with unexpected_message; a renegotiation request is answered with
the no_renegotiation warning and the data around it arrives whole. The sending peer is our own
engine (it can write empty records and HelloRequests on demand) or Python's ``ssl``.
"""

from __future__ import annotations

import os
import time

import pytest

import dicomtls
from dicomtls.errors import TLSError
from dicomtls.io import tls_socket
from dicomtls.tls.protocol import ContentType

from test_tls_direct_path import AES_CBC, TIMEOUT, PythonPeer, client_config, read_all

OWN = dict(engine="dicomtls", ciphers=[AES_CBC], encrypt_then_mac=False)


@pytest.fixture(params=["direct", "events"])
def direct(request):
    return request.param == "direct"


def own_client(pki, port, direct, **kw):
    tls = tls_socket.connect("127.0.0.1", port, client_config(pki, **{**OWN, **kw}),
                             timeout=TIMEOUT)
    if not direct:
        tls.tap = lambda data: None
    assert tls._direct() is direct
    return tls


class OwnPeer(PythonPeer):
    """Our own engine as the server on 127.0.0.1, running ``script(tls_socket)`` for one client."""

    def accept(self):
        config = dicomtls.TLSConfig.from_profile(
            certificate=str(self.pki.server_cert), private_key=str(self.pki.server_key),
            ca_file=str(self.pki.ca_cert), **OWN)
        return tls_socket.accept(self.listener, config, timeout=TIMEOUT)


def send_then_drain(*payloads):
    """A server script: send the payloads, half-close, read until the client closes."""
    def script(tls):
        for payload in payloads:
            tls.sendall(payload)
        tls.shutdown_write()
        tls.sock.settimeout(TIMEOUT)
        while tls.recv(100):
            pass
    return script


def raw_records(tls, content_type: int, payload: bytes, count: int) -> None:
    """``count`` protected records of ``content_type`` written past the engine's API."""
    tls.sock.sendall(b"".join(tls.conn._write.seal(content_type, payload)
                              for _ in range(count)))


def test_openssl_tls10_empty_fragments_are_skipped(pki, direct):
    """OpenSSL without SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS puts an empty record before every
    TLS 1.0 CBC write: thousands of them, each followed by data, are legal."""
    chunks = [os.urandom(n) for n in (1, 100, 20000, 7) * 300]

    def writer(s):
        for chunk in chunks:
            s.sendall(chunk)
        s.unwrap()

    peer = PythonPeer(pki, writer)
    peer.ctx.options &= ~0x800   # SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS (in OP_ALL)
    tls = own_client(pki, peer.port, direct, min_version="1.0", max_version="1.0")
    try:
        assert read_all(tls, [65536, 5]) == b"".join(chunks)
        assert tls.peer_closed_cleanly is True
    finally:
        tls.close()
    peer.join()


@pytest.mark.parametrize("empties, refused", [(32, False), (40, True)])
def test_endless_empty_records_are_refused(pki, direct, empties, refused):
    """Data, then ``empties`` empty application records, then data: up to 32 in a row pass,
    more end the connection with a typed error and our unexpected_message alert."""
    def writer(tls):
        tls.sendall(b"a" * 50000)
        raw_records(tls, ContentType.APPLICATION_DATA, b"", empties)
        tls.sendall(b"b" * 50000)
        try:
            while tls.recv(100):
                pass
        except TLSError as exc:
            assert refused and "unexpected_message" in str(exc)
        tls.close(force=True)

    peer = OwnPeer(pki, writer)
    tls = own_client(pki, peer.port, direct)
    try:
        got = bytearray()
        if refused:
            with pytest.raises(TLSError, match="unexpected_message"):
                while True:
                    buf = bytearray(70000)
                    n = tls.recv_into(buf)
                    assert n
                    got += buf[:n]
            assert bytes(got) == b"a" * 50000   # everything before the bad run arrived
        else:
            tls.shutdown_write()
            assert read_all(tls, [70000]) == b"a" * 50000 + b"b" * 50000
    finally:
        tls.close(force=True)
    peer.join()


def test_a_hello_request_mid_stream_is_refused_and_data_flows_on(pki, direct):
    """The server asks to renegotiate between two megabytes of data: the client answers with
    the no_renegotiation warning (read by the server's event path) and reads everything."""
    first, second = os.urandom(1 << 20), os.urandom(1 << 20)

    def writer(tls):
        tls.sendall(first)
        raw_records(tls, ContentType.HANDSHAKE, bytes([0, 0, 0, 0]), 1)   # HelloRequest
        send_then_drain(second)(tls)

    peer = OwnPeer(pki, writer)
    tls = own_client(pki, peer.port, direct)
    try:
        assert read_all(tls, [1 << 18, 3]) == first + second
        assert tls.peer_closed_cleanly is True
    finally:
        tls.close()
    peer.join()


def test_what_the_event_path_holds_is_read_first(pki, direct):
    """A first read on the event path takes a large chunk of ciphertext in and hands out a few
    bytes: the rest (decrypted events, undecrypted input) must come before anything the
    socket path reads afterwards."""
    payload = os.urandom(3 << 20)
    peer = OwnPeer(pki, send_then_drain(payload))
    tls = own_client(pki, peer.port, False)
    try:
        time.sleep(0.3)   # let the socket buffer fill: the event path reads a big batch
        head = bytes(tls.recv(10))
        if direct:
            tls.tap = None
            assert tls._direct()
        assert head + read_all(tls, [17000, 5]) == payload
    finally:
        tls.close()
    peer.join()


def test_python_ssl_server_refuses_nothing_we_send_in_pieces(pki, direct):
    """Sends of every size through the socket path decrypt on OpenSSL's side in order."""
    sizes = [1, 2, 15, 16, 17, 16383, 16384, 16385, 65535, 65536, 65537, 1 << 20, 3]
    pieces = [os.urandom(n) for n in sizes]
    got = {}

    def reader(s):
        data = bytearray()
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        got["data"] = bytes(data)

    peer = PythonPeer(pki, reader)
    tls = own_client(pki, peer.port, direct)
    try:
        for piece in pieces:
            tls.sendall(piece)
    finally:
        tls.close(timeout=TIMEOUT)
    peer.join()
    assert got["data"] == b"".join(pieces)
