"""The own TLS 1.0-1.2 engine against itself, sans-IO: bytes moved by hand between a client and
a server connection, no sockets. Every suite at every version it allows, mutual authentication,
application data of awkward sizes, close_notify, and the failure paths with their alerts.
(Interop with independent stacks lives in tests/interop/test_own_*.py.)
"""

from __future__ import annotations

import os
import warnings

import pytest

import dicomtls as d
from dicomtls.errors import (CertificateVerifyError, ConnectionClosedError,
                             PeerCertificateRequiredError, TLSAlertReceived, TLSProtocolViolation)
from dicomtls.tls.connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                                     HandshakeComplete)
from dicomtls.tls.own.cipherspec import VERSIONS, allowed_at, engine_supports
from dicomtls.tls.own.client import OwnClientConnection
from dicomtls.tls.own.server import OwnServerConnection
from dicomtls.tls.suites import ALL_SUITES
from dicomtls.tls.versions import TLSVersion

ENGINE_SUITES = [s for s in ALL_SUITES if engine_supports(s)]
CASES = [(s, v) for s in ENGINE_SUITES for v in VERSIONS if allowed_at(s, v)]


def config(pki, role, suites, version=None, *, low=None, high=None, cert=True, peer_cert="require",
           ca=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        return d.TLSConfig(
            certificate=str(getattr(pki, f"{role}_cert")) if cert else None,
            private_key=str(getattr(pki, f"{role}_key")) if cert else None,
            ca_file=str(ca or pki.ca_cert), peer_cert=peer_cert,
            cipher_suites=tuple(suites), min_version=low or version or "1.0",
            max_version=high or version or "1.2", **kw)


def drive(conn, events):
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return
        events.append(event)


def pump(client, server, rounds=30):
    """Move bytes until both sides are idle; returns (client events, server events)."""
    cev, sev = [], []
    for _ in range(rounds):
        drive(client, cev)
        out = client.data_to_send()
        if out:
            server.receive_data(out)
        drive(server, sev)
        back = server.data_to_send()
        if back:
            client.receive_data(back)
        if not out and not back:
            break
    return cev, sev


def pair(pki, suites, version=None, *, client_kw=None, server_kw=None, **kw):
    c = OwnClientConnection(config(pki, "client", suites, version, **kw, **(client_kw or {})),
                            server_name="127.0.0.1")
    s = OwnServerConnection(config(pki, "server", suites, version, **kw, **(server_kw or {})))
    return c, s


def received(events) -> bytes:
    return b"".join(bytes(e.data) for e in events if isinstance(e, ApplicationData))


@pytest.mark.parametrize("suite,version", CASES, ids=[f"{s.name}-{v.short}" for s, v in CASES])
def test_every_suite_and_version_with_client_certificate(pki, suite, version):
    c, s = pair(pki, [suite], version)
    cev, sev = pump(c, s)
    assert isinstance(cev[0], HandshakeComplete) and isinstance(sev[0], HandshakeComplete)
    for info in (c.session, s.session):
        assert info.protocol == version
        assert info.cipher_suite == suite
        assert info.engine == "dicomtls"
        assert info.peer_authenticated
        assert info.key_exchange == suite.key_exchange
    assert c.session.peer_certificate.subject != s.session.peer_certificate.subject
    if suite.key_exchange != "RSA":
        assert c.session.key_exchange_group == s.session.key_exchange_group
        assert c.session.key_exchange_bits == s.session.key_exchange_bits >= 253
    payload = os.urandom(40000)
    c.send(payload)
    s.send(payload[::-1])
    cev, sev = pump(c, s)
    assert received(sev) == payload
    assert received(cev) == payload[::-1]


@pytest.mark.parametrize("size", [1, 2, 16383, 16384, 16385, 3 * 16384 + 7, 1 << 20])
def test_application_data_sizes_tls10_split(pki, size):
    suite = d.lookup_suite("TLS_RSA_WITH_3DES_EDE_CBC_SHA")
    c, s = pair(pki, [suite], "1.0")
    pump(c, s)
    data = os.urandom(size)
    c.send(data)
    _, sev = pump(c, s)
    assert received(sev) == data


def test_close_notify_both_ways(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    pump(c, s)
    c.close()
    _, sev = pump(c, s)
    assert any(isinstance(e, CloseNotify) for e in sev)
    s.close()
    cev, _ = pump(c, s)
    assert any(isinstance(e, CloseNotify) for e in cev)
    s.receive_data(b"")
    assert s.next_event() == ConnectionClosed(clean=True)


def test_truncation_is_reported_unclean(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    pump(c, s)
    s.receive_data(b"")
    assert s.next_event() == ConnectionClosed(clean=False)


def test_etm_and_ems_negotiated_by_default(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    pump(c, s)
    assert c.etm and s.etm and c.ems and s.ems


def test_without_etm_and_ems(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.1",
                client_kw=dict(encrypt_then_mac=False, extended_master_secret=False))
    cev, sev = pump(c, s)
    assert c.session and s.session
    assert not (c.etm or s.etm or c.ems or s.ems)
    c.send(b"x" * 5000)
    _, sev = pump(c, s)
    assert received(sev) == b"x" * 5000


def test_server_declines_etm_and_ems_when_configured(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2",
                server_kw=dict(encrypt_then_mac=False, extended_master_secret=False))
    pump(c, s)
    assert c.session and not (c.etm or s.etm or c.ems or s.ems)


def test_server_lowers_the_version_for_single_des(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_DES_CBC_SHA"], low="1.0", high="1.2")
    pump(c, s)
    assert c.session.protocol == s.session.protocol == TLSVersion.TLSv1_1


def test_client_preference(pki):
    suites = ["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]
    c = OwnClientConnection(config(pki, "client", suites[::-1], "1.2"))
    s = OwnServerConnection(config(pki, "server", suites, "1.2", server_preference=False))
    pump(c, s)
    assert s.session.cipher_suite.name == "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
    s2 = OwnServerConnection(config(pki, "server", suites, "1.2"))
    c2 = OwnClientConnection(config(pki, "client", suites[::-1], "1.2"))
    pump(c2, s2)
    assert s2.session.cipher_suite.name == "TLS_RSA_WITH_AES_128_CBC_SHA"


def test_optional_client_certificate(pki):
    c = OwnClientConnection(config(pki, "client", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2",
                                   cert=False))
    s = OwnServerConnection(config(pki, "server", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2",
                                   peer_cert="verify"))
    pump(c, s)
    assert s.session is not None and not s.session.peer_authenticated
    assert c.session.peer_authenticated


# ---- failures: the right alert on one side, a typed error on both --------------------------
def test_downgrade_refused(pki):
    c = OwnClientConnection(config(pki, "client", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2"))
    s = OwnServerConnection(config(pki, "server", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.0"))
    with pytest.raises(TLSProtocolViolation) as err:
        pump(c, s)
    assert err.value.alert == 70  # the server refuses: the client offered 1.2 only


def test_client_refuses_a_lower_server_hello(pki):
    """A client allowing only 1.2 refuses a 1.0 ServerHello (the server here accepts 1.0 and is
    made to answer with it by a client hello claiming 1.0)."""
    c = OwnClientConnection(config(pki, "client", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2"))
    s = OwnServerConnection(config(pki, "server", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.0"))
    c.next_event()
    hello = bytearray(c.data_to_send())
    hello[9:11] = b"\x03\x01"  # client_version inside the ClientHello
    s.receive_data(bytes(hello))
    assert s.next_event() is NEED_DATA
    c.receive_data(s.data_to_send())
    with pytest.raises(TLSProtocolViolation) as err:
        c.next_event()
    assert err.value.alert == 70
    assert c.data_to_send()[:1] == b"\x15"


def test_missing_client_certificate(pki):
    c = OwnClientConnection(config(pki, "client", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2",
                                   cert=False))
    s = OwnServerConnection(config(pki, "server", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2"))
    with pytest.raises(PeerCertificateRequiredError):
        pump(c, s)
    c.receive_data(s.data_to_send())
    with pytest.raises(TLSAlertReceived) as err:
        c.next_event()
    assert err.value.alert_received == 40


def test_untrusted_server(pki, tmp_path):
    other = d.crypto.devpki.create_dev_pki(tmp_path / "other")
    c = OwnClientConnection(config(pki, "client", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2",
                                   ca=other.ca_cert))
    s = OwnServerConnection(config(pki, "server", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2"))
    with pytest.raises(CertificateVerifyError) as err:
        pump(c, s)
    assert err.value.verify_code in (19, 20, 21)
    s.receive_data(c.data_to_send())
    with pytest.raises(TLSAlertReceived) as err:
        s.next_event()
    assert err.value.alert_received == 48


@pytest.mark.parametrize("suite", ["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_GCM_SHA256",
                                   "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"])
def test_tampered_record_is_bad_record_mac(pki, suite):
    c, s = pair(pki, [suite], "1.2")
    pump(c, s)
    c.send(b"hello world" * 100)
    wire = bytearray(c.data_to_send())
    wire[-3] ^= 1
    s.receive_data(bytes(wire))
    with pytest.raises(TLSProtocolViolation) as err:
        s.next_event()
    assert err.value.alert == 20
    c.receive_data(s.data_to_send())
    with pytest.raises(TLSAlertReceived):
        c.next_event()


def test_eof_mid_handshake(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    c.next_event()
    s.receive_data(c.data_to_send()[:20])
    s.receive_data(b"")
    with pytest.raises(ConnectionClosedError):
        s.next_event()


def test_unexpected_handshake_message(pki):
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    c.next_event()
    s.receive_data(c.data_to_send())
    s.next_event()
    flight = s.data_to_send()
    c2, s2 = pair(pki, ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    s2.receive_data(flight)  # a server flight sent to a server
    with pytest.raises(TLSProtocolViolation) as err:
        s2.next_event()
    assert err.value.alert == 10


class _WrongPremasterVersion(OwnClientConnection):
    """A client whose RSA premaster carries a version other than its ClientHello's."""

    def _send_client_flight(self):
        self.high = TLSVersion.TLSv1_0
        super()._send_client_flight()


def test_wrong_premaster_version_fails_at_finished(pki):
    c = _WrongPremasterVersion(config(pki, "client", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2"))
    s = OwnServerConnection(config(pki, "server", ["TLS_RSA_WITH_AES_128_CBC_SHA"], "1.2"))
    with pytest.raises(TLSProtocolViolation) as err:
        pump(c, s)
    # Implicit rejection: nothing distinguishes the failure before the Finished check.
    assert err.value.alert in (20, 51)


def test_one_byte_feeds(pki):
    c, s = pair(pki, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], "1.2")
    cev, sev = [], []
    for _ in range(40):
        drive(c, cev)
        for b in c.data_to_send():
            s.receive_data(bytes((b,)))
            drive(s, sev)
        for b in s.data_to_send():
            c.receive_data(bytes((b,)))
            drive(c, cev)
        if c.session and s.session:
            break
    assert c.session and s.session


def test_input_buffer_stays_bounded_when_reads_split_records(pki):
    """Reads that never end on a record boundary must not make the input buffer grow."""
    c, s = pair(pki, ["TLS_RSA_WITH_AES_128_GCM_SHA256"], "1.2")
    pump(c, s)
    c.send(os.urandom(4 << 20))
    wire = c.data_to_send()
    events = []
    peak = 0
    for i in range(0, len(wire), 7001):  # 7001: never a multiple of a record
        s.receive_data(wire[i:i + 7001])
        drive(s, events)
        peak = max(peak, len(s._inbuf))
    assert len(received(events)) == 4 << 20
    assert peak < 7001 + 16384 + 2048 + 5


def test_empty_records(pki):
    """A few empty application records are fine (OpenSSL's old CBC countermeasure); an endless
    run of them, or an empty alert record, is unexpected_message."""
    c, s = pair(pki, ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    pump(c, s)
    s.receive_data(b"".join(bytes(c._write.seal(23, b"")) for _ in range(5)))
    assert s.next_event() is NEED_DATA
    c.send(b"after empties")
    _, sev = pump(c, s)
    assert received(sev) == b"after empties"
    s.receive_data(b"".join(bytes(c._write.seal(23, b"")) for _ in range(40)))
    with pytest.raises(TLSProtocolViolation) as err:
        s.next_event()
    assert err.value.alert == 10
    c2, s2 = pair(pki, ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"], "1.2")
    pump(c2, s2)
    s2.receive_data(bytes(c2._write.seal(21, b"")))
    with pytest.raises(TLSProtocolViolation):
        s2.next_event()
