"""The own engine's refusals, sans-IO, down to the bytes on the wire: the record version an alert
travels in before a version is agreed, malformed ChangeCipherSpec, a ClientHello whose
signature_algorithms leave nothing to sign with, and errors that name the certificate the peer
presented. The expected bytes are libssl's (OpenSSL 3.0 s_server/s_client answering the same
messages; tests/interop/test_own_alert_conformance.py compares them live).
"""

from __future__ import annotations

import os

import pytest

import dicomtls as d
from dicomtls.crypto.devpki import create_dev_pki
from dicomtls.crypto.x509 import load_certificates
from dicomtls.errors import CertificateVerifyError, TLSError, TLSProtocolViolation
from dicomtls.tls.own import extensions as ext
from dicomtls.tls.own import messages as m
from dicomtls.tls.own import server as own_server
from dicomtls.tls.own.client import OwnClientConnection
from dicomtls.tls.own.server import OwnServerConnection
from dicomtls.tls.protocol import ExtensionType
from dicomtls.tls.selecting import SelectingServerConnection
from dicomtls.tls.versions import TLSVersion
from test_own_engine import config, pair, pump

AES128_SHA, AES256_SHA, DES3_SHA, FALLBACK_SCSV = 0x002F, 0x0035, 0x000A, 0x5600
ECDHE_GCM, DHE_GCM, ECDHE_CBC, DHE_3DES = 0xC02F, 0x009E, 0xC013, 0x0016
ECDSA_ONLY = [ext.ECDSA_SECP256R1_SHA256]


def record(ctype: int, payload: bytes, version: int = 0x0301) -> bytes:
    return bytes((ctype, version >> 8, version & 0xFF)) + len(payload).to_bytes(2, "big") + payload


def alert(minor: int, description: int) -> bytes:
    """A fatal alert record in version 3.minor."""
    return bytes((21, 3, minor, 0, 2, 2, description))


def client_hello(version: int, suites, schemes=None, groups=(ext.X25519, ext.SECP256R1,
                                                           ext.FFDHE2048)) -> bytes:
    exts = [ext.Extension(ExtensionType.SUPPORTED_GROUPS, ext.encode_supported_groups(list(groups))),
            ext.Extension(ExtensionType.EC_POINT_FORMATS, ext.encode_ec_point_formats(b"\0"))]
    if schemes is not None:
        exts.append(ext.Extension(ExtensionType.SIGNATURE_ALGORITHMS,
                                  ext.encode_signature_algorithms(schemes)))
    hello = m.ClientHello(version, os.urandom(32), b"", list(suites), b"\0", exts)
    return record(22, hello.encode())


def server_for(pki, suites, low="1.0", high="1.2", **kw):
    return OwnServerConnection(config(pki, "server", suites, low=low, high=high, **kw))


def refused(conn, data: bytes):
    """Feed ``data``; the TLSError raised and every byte the connection wrote."""
    conn.receive_data(data)
    with pytest.raises(TLSError) as err:
        while conn.next_event() is not d.NEED_DATA:
            pass
    return err.value, conn.data_to_send()


def split_records(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i + 3:i + 5], "big")
        out.append(data[i:i + 5 + n])
        i += 5 + n
    return out


def suite_names(*codes):
    return [d.lookup_suite(c).name for c in codes]


# ---- 1. the record version of an alert before the version is agreed -------------------------
@pytest.mark.parametrize("low,high,hello,want", [
    # no suite in common: the version negotiation picked (1.2) -> 0x0303, as libssl
    ("1.0", "1.2", client_hello(0x0303, [AES256_SHA]), alert(3, 40)),
    # TLS_FALLBACK_SCSV from a 1.1 client to a 1.0-1.2 server -> inappropriate_fallback in 0x0302
    ("1.0", "1.2", client_hello(0x0302, [AES128_SHA, FALLBACK_SCSV]), alert(2, 86)),
    # a server that stops at 1.1 negotiates 1.1 first (libssl: 15 03 02)
    ("1.0", "1.1", client_hello(0x0303, [AES256_SHA]), alert(2, 40)),
    # a TLS 1.3-style legacy_version is capped at the highest version we write
    ("1.0", "1.2", client_hello(0x0304, [AES256_SHA]), alert(3, 40)),
    # the version itself refused: the client's own (libssl: 15 03 01 ... 46)
    ("1.2", "1.2", client_hello(0x0301, [AES128_SHA]), alert(1, 70)),
    ("1.1", "1.2", client_hello(0x0300, [AES128_SHA]), alert(1, 70)),  # never below 0x0301
], ids=["no-common-suite-1.2", "fallback-scsv-1.1", "server-max-1.1", "legacy-0x0304",
        "version-refused-1.0", "sslv3-hello"])
def test_server_alert_uses_the_version_it_belongs_to(pki, low, high, hello, want):
    exc, out = refused(server_for(pki, suite_names(AES128_SHA), low=low, high=high), hello)
    assert exc.alert_sent == want[-1]
    assert out == want


def _server_hello(version: int, suite: int) -> bytes:
    hello = m.ServerHello(version, os.urandom(32), b"", suite, 0, [])
    return record(22, hello.encode(), version)


@pytest.mark.parametrize("low,high,answer,want", [
    # a 1.2-only client refusing a 1.0 ServerHello: the version it offered (libssl: 15 03 03)
    ("1.2", "1.2", _server_hello(0x0301, AES128_SHA), alert(3, 70)),
    ("1.0", "1.1", _server_hello(0x0303, AES128_SHA), alert(2, 70)),
    # the version was agreed, the suite was not offered: the agreed version (libssl: 15 03 02)
    ("1.0", "1.2", _server_hello(0x0302, AES256_SHA), alert(2, 47)),
], ids=["refuses-1.0", "refuses-1.2", "wrong-suite-at-1.1"])
def test_client_alert_uses_the_version_it_belongs_to(pki, low, high, answer, want):
    c = OwnClientConnection(config(pki, "client", suite_names(AES128_SHA), low=low, high=high))
    assert c.next_event() is d.NEED_DATA
    assert c.data_to_send()[:3] == b"\x16\x03\x01"  # the ClientHello itself stays in 0x0301
    exc, out = refused(c, answer)
    assert exc.alert_sent == want[-1]
    assert out == want


def test_alert_after_agreement_uses_the_agreed_version(pki):
    c = OwnClientConnection(config(pki, "client", suite_names(AES128_SHA), "1.1", cert=False))
    s = server_for(pki, suite_names(AES128_SHA), high="1.2")
    c.next_event()
    s.receive_data(c.data_to_send())
    s.next_event()
    c.receive_data(s.data_to_send())
    c.next_event()
    exc, out = refused(s, c.data_to_send())  # no client certificate, peer_cert="require"
    assert out == alert(2, 40)


# ---- 2. ChangeCipherSpec that is not the single byte 1 ----------------------------------------
def _with_ccs(flight: bytes, payload: bytes) -> bytes:
    out = []
    for rec in split_records(flight):
        if rec[0] == 20:
            rec = rec[:3] + len(payload).to_bytes(2, "big") + payload
        out.append(rec)
    return b"".join(out)


@pytest.mark.parametrize("payload", [b"\x01\x01", b"\x02", b"\x00\x01", b"\x01" * 300, b""],
                         ids=["two-bytes", "wrong-value", "leading-zero", "long", "empty"])
@pytest.mark.parametrize("role", ["server", "client"])
def test_malformed_change_cipher_spec_is_unexpected_message(pki, role, payload):
    c, s = pair(pki, suite_names(AES128_SHA), "1.2")
    c.next_event()
    s.receive_data(c.data_to_send())
    s.next_event()
    c.receive_data(s.data_to_send())
    c.next_event()
    client_flight = c.data_to_send()
    if role == "server":
        victim, data = s, _with_ccs(client_flight, payload)
    else:
        s.receive_data(client_flight)
        s.next_event()
        victim, data = c, _with_ccs(s.data_to_send(), payload)
    exc, out = refused(victim, data)
    assert isinstance(exc, TLSProtocolViolation) and exc.alert_sent == 10
    if role == "server":
        assert out == alert(3, 10)
    else:  # the client already writes protected records: one alert record, encrypted
        assert len(split_records(out)) == 1 and out[:3] == b"\x15\x03\x03"


# ---- 3. signature_algorithms naming nothing we can sign with (TLS 1.2) ------------------------
@pytest.mark.parametrize("suite", [ECDHE_GCM, DHE_GCM, ECDHE_CBC],
                         ids=["ECDHE-GCM", "DHE-GCM", "ECDHE-CBC-SHA"])
@pytest.mark.parametrize("schemes", [ECDSA_ONLY, [ext.ED25519],
                                     [ext.ECDSA_SECP256R1_SHA256, ext.ED25519, ext.ECDSA_SHA1]],
                         ids=["ecdsa", "ed25519", "ecdsa-ed25519-ecdsa_sha1"])
def test_unusable_signature_algorithms_refused_before_server_hello(pki, suite, schemes):
    s = server_for(pki, suite_names(suite))
    exc, out = refused(s, client_hello(0x0303, [suite], schemes))
    # OpenSSL 3.0 s_server answers exactly this, and nothing before it (no ServerHello). The
    # CBC-SHA suite also runs at TLS 1.1, which needs no signature_algorithms; the client asked
    # for 1.2, so it is not quietly downgraded.
    assert exc.alert_sent == 40
    assert out == alert(3, 40)


def test_signing_suites_are_skipped_for_one_that_signs_nothing(pki):
    """RSA key transport signs nothing: with ECDSA-only signature_algorithms it is still usable,
    and the server picks it over its preferred ECDHE suite instead of refusing. (OpenSSL 3.0
    refuses here too; see the interop module for why this engine does not.)"""
    s = server_for(pki, suite_names(ECDHE_GCM, AES128_SHA))
    s.receive_data(client_hello(0x0303, [ECDHE_GCM, AES128_SHA], ECDSA_ONLY))
    assert s.next_event() is d.NEED_DATA
    assert s.suite.code == AES128_SHA and s.version == TLSVersion.TLSv1_2


def test_signature_algorithms_do_not_matter_before_tls12(pki):
    s = server_for(pki, suite_names(ECDHE_CBC))
    s.receive_data(client_hello(0x0302, [ECDHE_CBC], ECDSA_ONLY))
    assert s.next_event() is d.NEED_DATA
    assert s.version == TLSVersion.TLSv1_1
    assert s.data_to_send()[:3] == b"\x16\x03\x02"


def test_sha1_only_signature_algorithms_still_sign(pki):
    s = server_for(pki, suite_names(ECDHE_GCM))
    s.receive_data(client_hello(0x0303, [ECDHE_GCM], [ext.RSA_PKCS1_SHA1]))
    assert s.next_event() is d.NEED_DATA
    assert s.suite.code == ECDHE_GCM


def test_choose_refuses_so_the_selecting_server_sees_it(pki):
    cfg = config(pki, "server", suite_names(ECDHE_CBC), low="1.0", high="1.2")
    hello = m.decode_client_hello(client_hello(0x0303, [ECDHE_CBC], ECDSA_ONLY)[9:])
    with pytest.raises(TLSProtocolViolation) as err:
        own_server.choose(cfg, hello)
    assert err.value.alert_sent == 40


def test_selecting_server_refuses_before_server_hello(pki):
    """A mixed server whose only suite for this client is one the own engine runs but cannot
    sign for: no engine answers with a ServerHello."""
    cfg = config(pki, "server", suite_names(ECDHE_GCM, DHE_3DES), low="1.0", high="1.3",
                 tls13_suites=("TLS_AES_256_GCM_SHA384",))
    assert d.select_engine(cfg, "server") == "select"
    s = SelectingServerConnection(cfg)
    exc, out = refused(s, client_hello(0x0303, [DHE_3DES], ECDSA_ONLY))
    assert exc.alert_sent == 40
    assert out == alert(3, 40)


# ---- 4. who was refused: the peer's certificate on the error ----------------------------------
@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("other-ca"))


def _fingerprint(path) -> str:
    return load_certificates(path)[0].info().sha256_fingerprint


def test_server_error_names_the_untrusted_client_certificate(pki, other_pki):
    c = OwnClientConnection(config(other_pki, "client", suite_names(AES128_SHA), "1.2",
                                   ca=pki.ca_cert))
    s = server_for(pki, suite_names(AES128_SHA), low="1.2")
    with pytest.raises(CertificateVerifyError) as err:
        pump(c, s)
    who = err.value.peer_certificate
    assert who is not None and "CN=dicomtls client" in who.subject
    assert who.sha256_fingerprint == _fingerprint(other_pki.client_cert)
    with pytest.raises(CertificateVerifyError) as again:  # the stored error, unchanged
        s.next_event()
    assert again.value.peer_certificate == who


def test_client_error_names_the_untrusted_server_certificate(pki, other_pki):
    c = OwnClientConnection(config(pki, "client", suite_names(AES128_SHA), "1.2",
                                   ca=other_pki.ca_cert), server_name="localhost")
    s = server_for(pki, suite_names(AES128_SHA), low="1.2")
    with pytest.raises(CertificateVerifyError) as err:
        pump(c, s)
    assert "CN=localhost" in err.value.peer_certificate.subject
    assert err.value.peer_certificate.sha256_fingerprint == _fingerprint(pki.server_cert)


def test_protocol_error_after_the_certificate_names_it(pki):
    """A CertificateVerify that does not verify (decrypt_error) comes after the client's
    Certificate: the error names that certificate too."""
    c, s = pair(pki, suite_names(AES128_SHA), "1.2")
    c.next_event()
    s.receive_data(c.data_to_send())
    s.next_event()
    c.receive_data(s.data_to_send())
    c.next_event()
    records = split_records(c.data_to_send())
    i = next(i for i, r in enumerate(records) if r[0] == 22 and r[5] == 15)  # CertificateVerify
    records[i] = records[i][:-1] + bytes((records[i][-1] ^ 1,))  # its signature's last byte
    exc, out = refused(s, b"".join(records))
    assert exc.alert_sent == 51
    assert exc.peer_certificate.sha256_fingerprint == _fingerprint(pki.client_cert)


def test_error_before_any_certificate_names_none(pki):
    exc, _ = refused(server_for(pki, suite_names(AES128_SHA)),
                     client_hello(0x0303, [AES256_SHA]))
    assert exc.peer_certificate is None
