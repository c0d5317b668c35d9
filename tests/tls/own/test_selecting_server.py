"""The engine-selecting server (tls/selecting.py), sans-IO: a mixed configuration (TLS 1.3 and
AES-GCM for libssl, 3DES for the own engine) hands each client to the engine that runs the suite
the server picks, by server or client preference, after replaying the ClientHello bytes."""

from __future__ import annotations

import pytest

import dicomtls as d
from dicomtls.errors import TLSDecodeError
from dicomtls.tls.selecting import SelectingServerConnection
from test_own_engine import config, pump
from dicomtls.tls.own.client import OwnClientConnection

MIXED = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]


def server(pki, suites, **kw):
    cfg = config(pki, "server", suites, low="1.0", high="1.3",
                 tls13_suites=("TLS_AES_256_GCM_SHA384",), **kw)
    assert d.select_engine(cfg, "server") == "select"
    return SelectingServerConnection(cfg)


@pytest.mark.parametrize("server_preference,client_order,engine,suite", [
    (True, MIXED[::-1], "libssl", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (False, MIXED[::-1], "dicomtls", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (False, MIXED, "libssl", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
])
def test_preference_decides_the_engine(pki, server_preference, client_order, engine, suite):
    c = OwnClientConnection(config(pki, "client", client_order, low="1.0", high="1.2"))
    s = server(pki, MIXED, server_preference=server_preference)
    pump(c, s)
    assert s.session is not None and c.session is not None
    assert (s.session.engine, s.session.cipher_suite_name) == (engine, suite)
    assert c.session.cipher_suite_name == suite
    c.send(b"through the chosen engine")
    _, sev = pump(c, s)
    assert b"".join(e.data for e in sev if isinstance(e, d.ApplicationData)) == \
        b"through the chosen engine"


def test_3des_only_client(pki):
    c = OwnClientConnection(config(pki, "client", [MIXED[1]], low="1.0", high="1.2"))
    s = server(pki, MIXED)
    pump(c, s)
    assert s.session.engine == "dicomtls" and s.session.cipher_suite_name == MIXED[1]


def test_hello_in_one_byte_pieces(pki):
    c = OwnClientConnection(config(pki, "client", [MIXED[1]], low="1.0", high="1.2"))
    s = server(pki, MIXED)
    c.next_event()
    for b in c.data_to_send():
        s.receive_data(bytes((b,)))
        assert s.next_event() is d.NEED_DATA
    assert s.engine == "dicomtls"


def test_not_tls_gets_an_alert(pki):
    s = server(pki, MIXED)
    s.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(TLSDecodeError):
        s.next_event()
    assert s.data_to_send()[:1] == b"\x15"


def test_eof_before_hello(pki):
    s = server(pki, MIXED)
    s.receive_data(b"\x16\x03\x01")
    s.receive_data(b"")
    with pytest.raises(d.ConnectionClosedError):
        s.next_event()
