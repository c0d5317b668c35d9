"""The gate under attack: every phase ends at its deadline whatever the peer trickles, the caps
refuse at once, held connections cost no thread, and a legitimate peer is served meanwhile.
Real sockets on loopback (hostile peers from 127.0.0.2..., the legitimate one from 127.0.0.1);
every wait is bounded."""

from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

import dicomtls
from dicomtls.errors import AssociationRejected
from dicomtls.io.association_runner import associate
from dicomtls.io.gate import ConnectionLimits, OVER_LIMIT_REJECT
from dicomtls.io.server import VerificationServer

from hostile import HostilePeers, client_hello


def _server_config(pki):
    return dicomtls.TLSConfig.from_profile(certificate=str(pki.server_cert),
                                           private_key=str(pki.server_key),
                                           ca_file=str(pki.ca_cert))


def _client_config(pki):
    return dicomtls.TLSConfig.from_profile(certificate=str(pki.client_cert),
                                           private_key=str(pki.client_key),
                                           ca_file=str(pki.ca_cert))


FAST = ConnectionLimits(first_byte_timeout=1.0, handshake_timeout=2.0, request_timeout=1.5,
                        close_timeout=0.5)


@pytest.fixture
def tls_server(pki):
    servers = []

    def make(limits=FAST, **kwargs):
        server = VerificationServer(tls_config=_server_config(pki), limits=limits,
                                    timeout=kwargs.pop("timeout", 5), **kwargs).start()
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.shutdown(0)


def _connect(port, source="127.0.0.2"):
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def _reset_at_once(port, source) -> bool:
    """Whether a connection from ``source`` is reset within 1 s (at connect or first read)."""
    started = time.monotonic()
    try:
        with _connect(port, source) as sock:
            sock.settimeout(1)
            sock.recv(10)
    except ConnectionResetError:
        return time.monotonic() - started < 1
    return False


def _seconds_until_closed(sock, dribble: bytes = b"", every: float = 0.2) -> float:
    """Send ``dribble`` a byte at a time (every ``every`` s) until the server closes; how long
    that took. Bounded by the socket's own timeout."""
    started = time.monotonic()
    sock.settimeout(every)
    sent = 0
    while time.monotonic() - started < 15:
        try:
            if not sock.recv(65536):
                break
        except socket.timeout:
            if sent < len(dribble):
                sock.send(dribble[sent:sent + 1])
                sent += 1
        except ConnectionResetError:
            break
    return time.monotonic() - started


def _echo_seconds(port, pki) -> float:
    started = time.monotonic()
    with associate("127.0.0.1", port, tls_config=_client_config(pki), timeout=10) as assoc:
        assert assoc.echo() == 0x0000
    return time.monotonic() - started


def test_idle_connection_closed_at_the_first_byte_deadline(tls_server):
    server = tls_server()
    with _connect(server.port) as sock:
        seconds = _seconds_until_closed(sock)
    assert 0.9 <= seconds < 3
    result = server.results[-1]
    assert result.handshake_failed and "no data: not complete within 1 s" in result.error
    assert result.peer.startswith("127.0.0.2:")


def test_dripped_client_hello_cut_at_the_handshake_total(tls_server):
    server = tls_server()
    with _connect(server.port) as sock:
        # a byte every 0.2 s: each read is quick, the whole handshake never is
        seconds = _seconds_until_closed(sock, client_hello(), every=0.2)
    assert 1.9 <= seconds < 4
    assert "TLS handshake failed: not complete within 2 s" in server.results[-1].error


def test_half_handshake_cut_at_the_handshake_total(tls_server):
    server = tls_server()
    with _connect(server.port) as sock:
        sock.sendall(client_hello())   # the server's flight comes back; we never answer it
        seconds = _seconds_until_closed(sock)
    assert 1.9 <= seconds < 4
    assert server.results[-1].handshake_failed


def test_no_request_after_the_handshake_cut_at_artim(tls_server, pki):
    server = tls_server()
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    with _connect(server.port) as raw:
        with ctx.wrap_socket(raw) as sock:
            started = time.monotonic()
            sock.settimeout(10)
            try:
                assert sock.recv(100) == b""     # close_notify or EOF, nothing else
            except (ssl.SSLError, ConnectionResetError):
                pass
            seconds = time.monotonic() - started
    assert 1.4 <= seconds < 4
    result = server.results[-1]
    assert not result.handshake_failed and result.session is not None
    assert "no A-ASSOCIATE-RQ: not complete within 1.5 s" in result.error


def test_plain_dripped_request_cut_at_artim():
    server = VerificationServer(limits=FAST, timeout=5).start()
    try:
        with _connect(server.port) as sock:
            # an A-ASSOCIATE-RQ header announcing 200 bytes, then a byte every 0.1 s
            seconds = _seconds_until_closed(sock, bytes([1, 0, 0, 0, 0, 200]) + bytes(200),
                                            every=0.1)
        assert 1.4 <= seconds < 4
        assert "no A-ASSOCIATE-RQ" in server.results[-1].error
    finally:
        server.shutdown(0)


def test_first_pdu_not_a_request_is_aborted():
    server = VerificationServer(limits=FAST, timeout=5).start()
    try:
        with _connect(server.port) as sock:
            sock.sendall(bytes([5, 0, 0, 0, 0, 4, 0, 0, 0, 0]))   # A-RELEASE-RQ first
            sock.settimeout(5)
            assert sock.recv(100) == bytes([7, 0, 0, 0, 0, 4, 0, 0, 0, 0])   # A-ABORT
            assert sock.recv(100) == b""
        deadline = time.monotonic() + 5
        while not server.results and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "A-RELEASE-RQ before any A-ASSOCIATE-RQ" in server.results[-1].error
    finally:
        server.shutdown(0)


def test_per_peer_cap_resets_at_once_and_other_peers_go_on(tls_server, pki):
    server = tls_server(ConnectionLimits(max_per_peer=5, first_byte_timeout=10))
    held = [_connect(server.port) for _ in range(5)]
    try:
        deadline = time.monotonic() + 5
        while server.gate.held < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _reset_at_once(server.port, "127.0.0.2")
        assert _echo_seconds(server.port, pki) < 5   # 127.0.0.1 is another peer
        assert server.gate.refused == 1
    finally:
        for sock in held:
            sock.close()


def test_connection_cap_counts_every_peer(tls_server):
    server = tls_server(ConnectionLimits(max_connections=3, first_byte_timeout=10))
    held = [_connect(server.port, f"127.0.0.{2 + i}") for i in range(3)]
    try:
        assert _reset_at_once(server.port, "127.0.0.9")
    finally:
        for sock in held:
            sock.close()


def test_association_cap_answers_a_transient_reject(tls_server, pki):
    server = tls_server(ConnectionLimits(max_associations=1))
    with associate("127.0.0.1", server.port, tls_config=_client_config(pki), timeout=10) as first:
        assert first.echo() == 0
        with pytest.raises(AssociationRejected) as info:
            associate("127.0.0.1", server.port, tls_config=_client_config(pki), timeout=10)
        assert (info.value.result, info.value.source, info.value.reason) == OVER_LIMIT_REJECT
    assert _echo_seconds(server.port, pki) < 5   # the slot is free again
    rejected = [r for r in server.results if r.outcome == "rejected"]
    assert len(rejected) == 1 and "max-associations (1)" in rejected[0].error


def test_held_connections_cost_no_thread(tls_server):
    server = tls_server(ConnectionLimits(first_byte_timeout=10, handshake_timeout=10))
    before = threading.active_count()
    peers = HostilePeers(server.port, 200, kinds=("idle", "half"), addresses=10,
                         reconnect=False).start(4)
    try:
        deadline = time.monotonic() + 5
        while server.gate.held < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.gate.held == 200
        assert threading.active_count() <= before + 1   # the hostile driver's thread only
    finally:
        peers.stop()


def test_dripping_association_cut_after_timeout_in_total(tls_server):
    """After the association is up, a peer that drips a P-DATA-TF a byte at a time is cut off
    at about ``timeout``, not kept alive by each byte."""
    server = VerificationServer(timeout=2, limits=FAST).start()
    try:
        assoc = associate("127.0.0.1", server.port, timeout=10)
        sock = assoc.transport.sock
        header = bytes([4, 0, 0, 0, 0, 100])
        seconds = _seconds_until_closed(sock, header + bytes(100), every=0.1)
        assert 1.9 <= seconds < 5
        deadline = time.monotonic() + 5
        while not server.results and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "made no progress for 2 s" in server.results[-1].error
        assoc.abort()
    finally:
        server.shutdown(0)


def test_legitimate_echo_while_a_thousand_hostile_connections_are_held(tls_server, pki):
    """The issue's bound, functionally: 1,000 connections from 40 addresses (idle, dripping,
    half handshakes, reconnecting as the server ends them) while a TLS C-ECHO is served."""
    server = tls_server(ConnectionLimits(max_per_peer=64, first_byte_timeout=3,
                                         handshake_timeout=3))
    peers = HostilePeers(server.port, 1000, addresses=40, drip_interval=0.5).start(12)
    try:
        deadline = time.monotonic() + 10
        while server.gate.held < 900 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.gate.held >= 900
        latencies = sorted(_echo_seconds(server.port, pki) for _ in range(5))
        assert latencies[2] < 1.0, latencies   # the median; the bound
        time.sleep(max(0.0, 4 - (time.monotonic() - (deadline - 10))))
    finally:
        stats = peers.stop()
    assert stats.ended_by_server > 0
    assert stats.longest_hold < 6   # nobody held past its phase deadline (+ loop slack)
