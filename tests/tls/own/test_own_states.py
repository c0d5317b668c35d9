"""The own engine's handshake state machine, sans-IO: the states each role walks through, the
transition tables, a ChangeCipherSpec where the table does not allow one, and HelloRequest /
ClientHello as renegotiation requests during and after the handshake."""

from __future__ import annotations

import pytest

import dicomtls as d
from dicomtls.errors import TLSProtocolViolation
from dicomtls.tls.own import messages as m
from dicomtls.tls.own.client import ClientState
from dicomtls.tls.own.server import ServerState
from dicomtls.tls.protocol import AlertDescription, ContentType, HandshakeType
from test_own_engine import pair, pump

AES128_SHA = "TLS_RSA_WITH_AES_128_CBC_SHA"
ECDHE_GCM = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"


def record(ctype: int, payload: bytes, version: int = 0x0303) -> bytes:
    return bytes((ctype, version >> 8, version & 0xFF)) + len(payload).to_bytes(2, "big") + payload


def split_records(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        n = int.from_bytes(data[pos + 3:pos + 5], "big")
        out.append(data[pos:pos + 5 + n])
        pos += 5 + n
    return out


def step(conn, data: bytes = b""):
    if data:
        conn.receive_data(data)
    return conn.next_event()


@pytest.mark.parametrize("suite", [AES128_SHA, ECDHE_GCM])
def test_each_role_walks_its_states(pki, suite):
    c, s = pair(pki, [suite], "1.2")
    assert (c.state, s.state) == (ClientState.START, ServerState.START)
    assert step(c) is d.NEED_DATA
    assert c.state is ClientState.WAIT_SERVER_HELLO
    assert step(s, c.data_to_send()) is d.NEED_DATA
    assert s.state is ServerState.WAIT_CLIENT_CERTIFICATE   # peer_cert="require" asks for one
    assert step(c, s.data_to_send()) is d.NEED_DATA
    assert c.state is ClientState.WAIT_CHANGE_CIPHER_SPEC
    assert isinstance(step(s, c.data_to_send()), d.HandshakeComplete)
    assert s.state is ServerState.CONNECTED
    assert isinstance(step(c, s.data_to_send()), d.HandshakeComplete)
    assert c.state is ClientState.CONNECTED


def test_tables_name_their_roles_states_and_bound_handlers(pki):
    c, s = pair(pki, [AES128_SHA], "1.2")
    for conn, states in ((c, ClientState), (s, ServerState)):
        table = conn.transitions()
        assert table, "empty transition table"
        for (state, msg_type), handler in table.items():
            assert isinstance(state, states) and isinstance(msg_type, HandshakeType)
            assert handler.__self__ is conn
        # Nothing is expected before the connection starts.
        assert not any(state is states.START for state, _ in table)


def test_change_cipher_spec_before_certificate_verify(pki):
    """The client's keys exist after its ClientKeyExchange, but a server that received a client
    certificate must see the CertificateVerify first: without it, ChangeCipherSpec is an
    unexpected_message, in a plaintext TLS 1.2 alert."""
    c, s = pair(pki, [AES128_SHA], "1.2")
    step(c)
    step(s, c.data_to_send())
    step(c, s.data_to_send())
    records = split_records(c.data_to_send())
    flight = [r for r in records
              if not (r[0] == ContentType.HANDSHAKE and r[5] == HandshakeType.CERTIFICATE_VERIFY)]
    assert len(flight) == len(records) - 1
    with pytest.raises(TLSProtocolViolation, match="ChangeCipherSpec in state "
                                                   "WAIT_CERTIFICATE_VERIFY") as err:
        step(s, b"".join(flight))
    assert err.value.alert_sent == AlertDescription.UNEXPECTED_MESSAGE
    assert s.data_to_send() == bytes.fromhex("15 0303 0002 02 0a")


def test_hello_request_during_the_handshake_is_ignored(pki):
    c, s = pair(pki, [AES128_SHA], "1.2")
    step(c)
    client_hello = c.data_to_send()
    hello_request = record(ContentType.HANDSHAKE, m.HelloRequest().encode())
    assert step(c, hello_request) is d.NEED_DATA
    assert c.state is ClientState.WAIT_SERVER_HELLO and c.data_to_send() == b""
    s.receive_data(client_hello)
    pump(c, s)
    assert c.session is not None and s.session is not None


@pytest.mark.parametrize("requester", ["server", "client"])
def test_renegotiation_request_after_the_handshake_is_refused(pki, requester, caplog):
    """HelloRequest to a client, ClientHello to a server: a no_renegotiation warning alert, and
    the connection stays up."""
    c, s = pair(pki, [AES128_SHA], "1.2")
    pump(c, s)
    if requester == "server":
        asker, asked, message = s, c, m.HelloRequest()
    else:
        asker, asked, message = c, s, m.ClientHello(0x0303, bytes(32), b"", [0x002F])
    asked.receive_data(bytes(asker._write.seal(ContentType.HANDSHAKE, message.encode())))
    assert asked.next_event() is d.NEED_DATA
    assert asked.state is asked.STATES.CONNECTED
    asker.receive_data(asked.data_to_send())
    with caplog.at_level("INFO", logger="dicomtls.tls"):
        assert asker.next_event() is d.NEED_DATA
    assert "no_renegotiation" in caplog.text
    asked.send(b"still up")
    asker.receive_data(asked.data_to_send())
    assert asker.next_event() == d.ApplicationData(b"still up")


def test_unexpected_message_names_the_state(pki):
    c, _ = pair(pki, [AES128_SHA], "1.2")
    step(c)
    finished = record(ContentType.HANDSHAKE, m.Finished(bytes(12)).encode())
    with pytest.raises(TLSProtocolViolation,
                       match="unexpected handshake message FINISHED in state WAIT_SERVER_HELLO"):
        step(c, finished)


def test_message_after_the_handshake_is_unexpected(pki):
    c, s = pair(pki, [AES128_SHA], "1.2")
    pump(c, s)
    c.receive_data(bytes(s._write.seal(ContentType.HANDSHAKE, m.Finished(bytes(12)).encode())))
    with pytest.raises(TLSProtocolViolation,
                       match="unexpected handshake message FINISHED after the handshake"):
        c.next_event()
