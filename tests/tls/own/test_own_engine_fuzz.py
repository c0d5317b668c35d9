"""Mutated handshake flights fed to the own engine: every outcome is an event, NEED_DATA or a
typed dicomtls error, never another exception and never a hang (each case is a bounded loop).
The mutations are seeded, so a failure names a reproducible case.
"""

from __future__ import annotations

import random

import pytest

from dicomtls.errors import DicomTLSError
from dicomtls.tls.connection import NEED_DATA
from test_own_engine import config
from dicomtls.tls.own.client import OwnClientConnection
from dicomtls.tls.own.server import OwnServerConnection

SUITES = ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
          "TLS_RSA_WITH_AES_256_GCM_SHA384"]


def flights(pki):
    """(client hello, server flight, client flight) of one real handshake."""
    c = OwnClientConnection(config(pki, "client", SUITES, low="1.0", high="1.2"))
    s = OwnServerConnection(config(pki, "server", SUITES, low="1.0", high="1.2"))
    c.next_event()
    hello = c.data_to_send()
    s.receive_data(hello)
    s.next_event()
    server_flight = s.data_to_send()
    c.receive_data(server_flight)
    c.next_event()
    return hello, server_flight, c.data_to_send()


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del buf[rng.randrange(len(buf)):]
    elif kind == 2:
        i = rng.randrange(len(buf))
        buf[i:i] = rng.randbytes(rng.randint(1, 40))
    else:
        i = rng.randrange(len(buf))
        buf[i] = rng.choice((0, 0xFF, 0x7F, 0x80))
    return bytes(buf)


def run(conn, data: bytes, eof: bool):
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    for _ in range(50):
        try:
            event = conn.next_event()
        except DicomTLSError:
            return "error"
        if event is NEED_DATA:
            return "need-data"
    raise AssertionError("no NEED_DATA after 50 events")


@pytest.mark.parametrize("target", ["server-gets-hello", "client-gets-server-flight",
                                    "server-gets-client-flight"])
def test_mutated_flights_only_raise_typed_errors(pki, target):
    hello, server_flight, client_flight = flights(pki)
    rng = random.Random(f"dicomtls-{target}")
    outcomes = set()
    for i in range(150):
        if target == "server-gets-hello":
            conn = OwnServerConnection(config(pki, "server", SUITES, low="1.0", high="1.2"))
            data = mutate(hello, rng)
        elif target == "client-gets-server-flight":
            conn = OwnClientConnection(config(pki, "client", SUITES, low="1.0", high="1.2"))
            conn.next_event()
            conn.data_to_send()
            data = mutate(server_flight, rng)
        else:
            # The server half-way: it has answered the real hello, now a mutated client flight.
            conn = OwnServerConnection(config(pki, "server", SUITES, low="1.0", high="1.2"))
            conn.receive_data(hello)
            conn.next_event()
            data = mutate(client_flight, rng)
        outcomes.add(run(conn, data, eof=i % 5 == 0))
    assert "error" in outcomes
