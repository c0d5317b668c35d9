"""PROXY protocol v2: the sans-IO parser fed real header bytes at every split point, and the
gate taking the peer a balancer names (logged, capped) from listed addresses only."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from dicomtls.io.gate import ConnectionLimits
from dicomtls.io.proxy_header import (SIGNATURE, ProxiedAddress, ProxyHeaderError,
                                      encode_proxy_header, parse_proxy_header)
from dicomtls.io.server import VerificationServer
from dicomtls.ul.association import Association, Established, Released
from dicomtls.ul.negotiation import VERIFICATION_SOP_CLASS

V4 = encode_proxy_header("10.1.2.3", 40000, "127.0.0.1", 104)


def test_ipv4_header_at_every_split_point():
    data = V4 + b"\x16\x03\x01"   # the peer's first bytes follow the header
    for cut in range(len(V4)):
        assert parse_proxy_header(data[:cut]) is None
    proxied, length = parse_proxy_header(data)
    assert length == len(V4) == 28
    assert proxied == ProxiedAddress("10.1.2.3", 40000, "127.0.0.1", 104)
    assert proxied.peer == "10.1.2.3:40000"


def test_ipv6_header_with_tlvs_skipped():
    body = (bytes.fromhex("20010db8000000000000000000000001") + bytes(15) + b"\x01"
            + struct.pack(">HH", 5000, 2762))
    tlv = bytes([0x05, 0x00, 0x03]) + b"abc"   # PP2_TYPE_UNIQUE_ID
    header = SIGNATURE + bytes([0x21, 0x21]) + struct.pack(">H", len(body + tlv)) + body + tlv
    proxied, length = parse_proxy_header(header + b"rest")
    assert length == len(header)
    assert (proxied.source, proxied.source_port, proxied.destination_port) == \
        ("2001:db8::1", 5000, 2762)


@pytest.mark.parametrize("command_family", [0x20, 0x21])   # LOCAL; PROXY with UNSPEC
def test_local_and_unspec_keep_the_connection_address(command_family):
    family = 0x11 if command_family == 0x20 else 0x00
    header = SIGNATURE + bytes([command_family, family]) + struct.pack(">H", 0)
    assert parse_proxy_header(header) == (None, 16)


@pytest.mark.parametrize("data, text", [
    (b"PROXY TCP4 10.1.2.3 127.0.0.1 40000 104\r\n", "version 1"),
    (b"\x01\x00\x00\x00\x00\x10", "does not start with a PROXY v2 signature"),
    (b"\x16\x03\x01\x02\x00", "does not start with a PROXY v2 signature"),
    (SIGNATURE + bytes([0x11, 0x11, 0, 12]), "version 1, expected 2"),
    (SIGNATURE + bytes([0x2F, 0x11, 0, 12]), "neither LOCAL nor PROXY"),
    (SIGNATURE + bytes([0x21, 0x11, 0xFF, 0xFF]), "exceeds"),
    (SIGNATURE + bytes([0x21, 0x12, 0, 12]) + bytes(12), "not STREAM"),
    (SIGNATURE + bytes([0x21, 0x11, 0, 4]) + bytes(4), "shorter than its 12-byte"),
    (SIGNATURE + bytes([0x21, 0x41, 0, 4]) + bytes(4), "family 0x4 is unknown"),
])
def test_malformed_headers_are_refused(data, text):
    with pytest.raises(ProxyHeaderError, match=text):
        parse_proxy_header(data)


def _associate_through(port: int, source: str, header: bytes = b"") -> socket.socket:
    """A plain association from ``source``, behind ``header``; released at once."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    assoc = Association("requestor")
    assoc.request("ANY-SCP", "BEHIND-LB", [VERIFICATION_SOP_CLASS])
    sock.sendall(header + assoc.data_to_send())
    for wanted in (Established, Released):
        while True:
            event = assoc.next_event()
            if isinstance(event, wanted):
                break
            data = sock.recv(65536)
            assert data, "the server closed"
            assoc.receive_data(data)
        if wanted is Established:
            assoc.release()
            sock.sendall(assoc.data_to_send())
    return sock


def _results(server, n):
    deadline = time.monotonic() + 10
    while len(server.results) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.results


def test_gate_takes_the_peer_a_listed_balancer_names():
    server = VerificationServer(proxy_from=["127.0.0.9/32"], timeout=5).start()
    try:
        header = encode_proxy_header("10.1.2.3", 40000, "127.0.0.1", server.port)
        _associate_through(server.port, "127.0.0.9", header).close()
        # a direct connection from an unlisted address needs no header
        _associate_through(server.port, "127.0.0.2").close()
        peers = sorted((r.peer, r.outcome) for r in _results(server, 2))
        assert peers[0] == ("10.1.2.3:40000", "released")
        assert peers[1][0].startswith("127.0.0.2:") and peers[1][1] == "released"
    finally:
        server.shutdown(0)


def test_listed_balancer_without_a_header_is_refused():
    server = VerificationServer(proxy_from=["127.0.0.9"], timeout=5).start()
    try:
        with pytest.raises((AssertionError, ConnectionError)):
            _associate_through(server.port, "127.0.0.9")   # no header: refused, closed
        (result,) = _results(server, 1)
        assert "no PROXY header" in result.error and "PROXY v2 signature" in result.error
    finally:
        server.shutdown(0)


def test_per_peer_cap_counts_the_named_peer_not_the_balancer():
    limits = ConnectionLimits(max_per_peer=1, first_byte_timeout=10)
    server = VerificationServer(proxy_from=["127.0.0.9"], timeout=5, limits=limits).start()
    try:
        socks = []
        for port in (1, 2):   # two modalities behind the balancer: both fit a cap of 1
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5,
                                            source_address=("127.0.0.9", 0))
            sock.sendall(encode_proxy_header(f"10.0.0.{port}", 1000, "127.0.0.1", 104))
            socks.append(sock)
        # a second connection naming 10.0.0.1 is over its cap: closed at once
        over = socket.create_connection(("127.0.0.1", server.port), timeout=5,
                                        source_address=("127.0.0.9", 0))
        over.sendall(encode_proxy_header("10.0.0.1", 1001, "127.0.0.1", 104))
        assert over.recv(10) == b""
        assert server.gate.refused == 1
        assert server.gate.held == 2
        for sock in socks + [over]:
            sock.close()
    finally:
        server.shutdown(0)
