"""The libssl engine driven purely in memory: two sans-IO connections wired back to back.

No sockets: bytes from one side's ``data_to_send()`` go straight into the other's
``receive_data()``. Covers every profile libssl can run, application data, shutdown, broken
input, SessionInfo, the peer-certificate policies, certificate verification failures, the verify
callback, private-key passwords and configurations no engine of this build can run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings

import pytest

import dicomtls as d
from dicomtls.ldicomnet import codes as lead
from dicomtls.crypto.devpki import issue_certificate
from dicomtls.crypto.keys import PrivateKey, load_private_key
from dicomtls.crypto.x509 import load_certificates
from dicomtls.tls.versions import TLSVersion

V10, V12, V13 = TLSVersion.TLSv1_0, TLSVersion.TLSv1_2, TLSVersion.TLSv1_3


# ---- helpers ---------------------------------------------------------------------------------
def make_config(p, role, profile="rfc8996", *, cert=True, cert_file=None, key_file=None, **kw):
    """A config for ``role`` from DevPKI ``p``; quiet about legacy choices (tested separately)."""
    if cert:
        kw.setdefault("certificate", str(cert_file or getattr(p, f"{role}_cert")))
        kw.setdefault("private_key", str(key_file or getattr(p, f"{role}_key")))
    kw.setdefault("ca_file", str(p.ca_cert))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        return d.TLSConfig.from_profile(profile, **kw)


def pair(client_cfg, server_cfg):
    return d.new_connection(client_cfg, "client"), d.new_connection(server_cfg, "server")


def move(a, b) -> int:
    out = a.data_to_send()
    if out:
        b.receive_data(out)
    return len(out)


def drive(c, s, rounds=30):
    """Step both sides until each completed the handshake or raised. Returns (results, errors)
    keyed by "client"/"server"; a side that completed keeps being pumped for alerts by callers."""
    done, failed = {}, {}
    for _ in range(rounds):
        for name, x in (("client", c), ("server", s)):
            if name in done or name in failed:
                continue
            try:
                ev = x.next_event()
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                failed[name] = exc
                continue
            if isinstance(ev, d.HandshakeComplete):
                done[name] = ev.session
        moved = move(c, s) + move(s, c)
        if len(done) + len(failed) == 2 and not moved:
            break
    return done, failed


def handshake(c, s):
    done, failed = drive(c, s)
    assert not failed, failed
    assert set(done) == {"client", "server"}
    return done["client"], done["server"]


def events(conn, limit=10_000):
    """Every event up to (not including) NEED_DATA or the first ConnectionClosed."""
    out = []
    for _ in range(limit):
        ev = conn.next_event()
        if ev is d.NEED_DATA:
            return out
        out.append(ev)
        if isinstance(ev, d.ConnectionClosed):
            return out
    raise AssertionError("no NEED_DATA")


def app_data(conn) -> bytes:
    return b"".join(bytes(e.data) for e in events(conn) if isinstance(e, d.ApplicationData))


def next_error(conn):
    """The exception the next event raises (after an alert was delivered)."""
    with pytest.raises(Exception) as info:
        for _ in range(10):
            conn.next_event()
    return info.value


@pytest.fixture
def rsa(pki):
    return make_config(pki, "client"), make_config(pki, "server")


# ---- handshake per profile and data ----------------------------------------------------------
@pytest.mark.parametrize("profile,key,version,suite", [
    ("rfc8996", "rsa", V13, "TLS_AES_256_GCM_SHA384"),
    ("rfc8996", "ec", V13, "TLS_AES_256_GCM_SHA384"),
    ("rfc8996-mod", "ec", V13, "TLS_AES_256_GCM_SHA384"),
    ("bcp195-nd", "rsa", V13, "TLS_AES_256_GCM_SHA384"),
    ("bcp195", "rsa", V13, "TLS_AES_256_GCM_SHA384"),
    ("bcp195-ex", "rsa", V12, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ("bcp195-ex", "ec", V12, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
])
def test_profile_handshake(request, profile, key, version, suite):
    p = request.getfixturevalue("pki" if key == "rsa" else "pki_ec")
    cs, ss = handshake(*pair(make_config(p, "client", profile), make_config(p, "server", profile)))
    for info in (cs, ss):
        assert info.protocol == version and info.cipher_suite_name == suite
        assert info.peer_authenticated and info.engine == "libssl"
        assert info.authentication == ("RSA" if key == "rsa" else "ECDSA")
    assert cs.peer_certificate.subject == ss.peer_certificate.subject.replace(
        "dicomtls client", "localhost")


def test_data_both_ways_and_20mib(rsa):
    c, s = pair(*rsa)
    handshake(c, s)
    c.send(b"hello server")
    move(c, s)
    assert app_data(s) == b"hello server"
    s.send(memoryview(b"hello client"))
    move(s, c)
    assert app_data(c) == b"hello client"
    payload = bytes(range(256)) * (20 * 1024 * 4)  # 20 MiB in one send() call
    c.send(payload)
    wire = c.data_to_send()
    assert len(wire) > len(payload) and c.pending_output() == 0
    s.receive_data(wire)
    got = app_data(s)
    assert len(got) == len(payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_send_before_handshake(rsa):
    c, _ = pair(*rsa)
    with pytest.raises(d.LocalProtocolError):
        c.send(b"too early")


def test_close_notify_then_eof(rsa):
    c, s = pair(*rsa)
    handshake(c, s)
    c.close()
    with pytest.raises(d.LocalProtocolError):
        c.send(b"after close")
    move(c, s)
    assert events(s) == [d.CloseNotify()]
    s.receive_data(b"")
    assert s.next_event() == d.ConnectionClosed(clean=True)


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_data_and_close_notify_in_one_flight(pki, version):
    """The peer's last data and its close_notify arrive together (s_client -quiet does this, and
    so does a half-closed peer answering after our close()): both must be reported, without
    waiting for the transport EOF (regression: the ZERO_RETURN hit right after decrypting the
    data was lost and NEED_DATA returned, as nothing was buffered any more)."""
    c, s = pair(make_config(pki, "client", max_version=version), make_config(pki, "server"))
    handshake(c, s)
    c.close()
    move(c, s)
    assert events(s) == [d.CloseNotify()]
    s.send(b"reply after the client closed")   # half-close: the server may still answer
    s.close()
    move(s, c)
    assert events(c) == [d.ApplicationData(b"reply after the client closed"), d.CloseNotify()]


def test_eof_without_close_notify(rsa):
    c, s = pair(*rsa)
    handshake(c, s)
    s.receive_data(b"")
    assert s.next_event() == d.ConnectionClosed(clean=False)
    with pytest.raises(d.LocalProtocolError):
        s.receive_data(b"late bytes")


def test_one_byte_at_a_time(rsa):
    c, s = pair(*rsa)
    done = set()
    for _ in range(50):
        for x, y in ((c, s), (s, c)):
            if x not in done and isinstance(x.next_event(), d.HandshakeComplete):
                done.add(x)
            for byte in x.data_to_send():
                y.receive_data(bytes([byte]))
        if len(done) == 2:
            break
    assert len(done) == 2
    c.send(b"dribbled")
    for byte in c.data_to_send():
        s.receive_data(bytes([byte]))
    assert app_data(s) == b"dribbled"


def test_garbage_to_server_fails_and_stays_failed(rsa):
    s = d.new_connection(rsa[1], "server")
    s.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
    with pytest.raises(d.TLSError) as first:
        s.next_event()
    with pytest.raises(d.TLSError) as again:
        s.next_event()
    assert again.value is first.value
    with pytest.raises(d.TLSError):
        s.send(b"x")


def test_truncated_handshake_then_eof(rsa):
    c, s = pair(*rsa)
    assert c.next_event() is d.NEED_DATA
    hello = c.data_to_send()
    s.receive_data(hello[: len(hello) // 2])
    assert s.next_event() is d.NEED_DATA
    s.receive_data(b"")
    with pytest.raises(d.ConnectionClosedError):
        s.next_event()


# ---- SessionInfo for pinned suites -----------------------------------------------------------
@pytest.mark.parametrize("suite,min_v,max_v,kx,auth,mac,bits", [
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", None, None, "ECDHE", "RSA", "AEAD", 128),
    ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", None, None, "DHE", "RSA", "AEAD", 256),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", None, None, "RSA", "RSA", "SHA1", 128),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", "1.0", "1.0", "RSA", "RSA", "SHA1", 128),
    ("TLS_AES_128_GCM_SHA256", None, None, "ECDHE", "RSA", "AEAD", 128),
])
def test_session_info(pki, suite, min_v, max_v, kx, auth, mac, bits):
    kw = dict(ciphers=[suite], min_version=min_v, max_version=max_v)
    cs, ss = handshake(*pair(make_config(pki, "client", **kw), make_config(pki, "server", **kw)))
    expected_version = (V13 if suite.startswith("TLS_AES") else
                        TLSVersion.parse(max_v) if max_v else V12)
    for info in (cs, ss):
        assert info.protocol == expected_version
        assert info.cipher_suite_name == suite
        assert info.cipher_suite_id == d.lookup_suite(suite).code
        assert (info.key_exchange, info.authentication, info.mac) == (kx, auth, mac)
        assert info.encryption_bits == bits
        if kx == "RSA":
            assert info.key_exchange_group is None and info.key_exchange_bits is None
        assert info.peer_authenticated and len(info.peer_certificates) == 2
        assert info.to_dict()["cipher_suite"] == suite
    assert cs.peer_certificate.subject.startswith("CN=localhost")
    assert ss.peer_certificate.subject.startswith("CN=dicomtls client")
    assert cs.peer_certificate.key_type.upper() == "RSA"
    if kx != "RSA":
        assert cs.key_exchange_bits >= (2048 if kx == "DHE" else 253)


@pytest.mark.parametrize("suite", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                   "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"])
def test_server_reports_key_exchange_bits_on_tls12(pki, suite):
    """Both ends of one session must describe the same key exchange (regression: on TLS 1.2 the
    server reported None, as libssl frees its ephemeral key once the ClientKeyExchange is in)."""
    kw = dict(ciphers=[suite])
    cs, ss = handshake(*pair(make_config(pki, "client", **kw), make_config(pki, "server", **kw)))
    assert cs.key_exchange_bits is not None
    assert ss.key_exchange_bits == cs.key_exchange_bits


# ---- peer certificate policies ---------------------------------------------------------------
@pytest.mark.parametrize("version,alert", [("1.3", 116), ("1.2", 40)])
def test_require_without_client_cert(pki, version, alert):
    c, s = pair(make_config(pki, "client", cert=False, max_version=version),
                make_config(pki, "server", peer_cert="require"))
    done, failed = drive(c, s)
    server_err = failed["server"]
    assert isinstance(server_err, d.PeerCertificateRequiredError)
    assert server_err.alert_sent == alert
    client_err = failed.get("client") or next_error(c)
    assert isinstance(client_err, d.TLSAlertReceived)
    assert client_err.alert_received == alert
    assert lead.lead_code(client_err) == lead.lead_code_for_alert(alert)


def test_require_error_keeps_its_lead_code(pki):
    """PeerCertificateRequiredError is LEAD's CERTIFICATE_VERIFY_FAILED (127) by its class; the
    alert it sent must not replace that (other TLS errors take the alert's code)."""
    c, s = pair(make_config(pki, "client", cert=False), make_config(pki, "server"))
    _, failed = drive(c, s)
    assert lead.lead_code(failed["server"]) == lead.DICOM_ERROR_TLS_CERTIFICATE_VERIFY_FAILED


@pytest.mark.parametrize("policy", ["verify", "ignore"])
@pytest.mark.parametrize("client_cert", [False, True])
def test_optional_policies(pki, policy, client_cert):
    c, s = pair(make_config(pki, "client", cert=client_cert),
                make_config(pki, "server", peer_cert=policy))
    cs, ss = handshake(c, s)
    assert cs.peer_authenticated
    assert ss.peer_authenticated is (client_cert and policy == "verify")
    # "ignore" does not even request a client certificate.
    assert bool(ss.peer_certificates) is (client_cert and policy == "verify")


def test_client_ignore_accepts_untrusted_server(pki, pki_ec):
    cs, _ = handshake(*pair(make_config(pki, "client", peer_cert="ignore"),
                            make_config(pki_ec, "server", peer_cert="ignore")))
    assert not cs.peer_authenticated and cs.peer_certificate is not None


# ---- certificate verification failures (the client checks the server) --------------------------
@pytest.fixture(scope="module")
def issue(pki, tmp_path_factory):
    """issue(name, **issue_certificate kwargs) -> (cert path, key path), signed by pki's CA."""
    ca = (load_certificates(pki.ca_cert)[0], load_private_key(pki.ca_key))
    directory = tmp_path_factory.mktemp("issued")

    def _issue(name, **kw):
        key = PrivateKey.generate("ec")
        cert = issue_certificate(key, "localhost", issuer=ca, **kw)
        (directory / f"{name}.pem").write_bytes(cert.to_pem() + ca[0].to_pem())
        (directory / f"{name}.key").write_bytes(key.export())
        return directory / f"{name}.pem", directory / f"{name}.key"
    return _issue


def bad_server(issue, pki_ec, kind):
    if kind == "untrusted":
        return pki_ec.server_cert, pki_ec.server_key
    return issue(kind, **{
        "expired": dict(not_before=dt.timedelta(days=-30), not_after=dt.timedelta(days=-1)),
        "not_yet_valid": dict(not_before=dt.timedelta(days=1), not_after=dt.timedelta(days=30)),
        "wrong_purpose": dict(purposes=("clientAuth",)),
    }[kind])


@pytest.mark.parametrize("kind,code", [
    ("untrusted", 20), ("expired", 10), ("not_yet_valid", 9), ("wrong_purpose", 26)])
def test_certificate_failures(pki, pki_ec, issue, kind, code):
    cert, key = bad_server(issue, pki_ec, kind)
    c, s = pair(make_config(pki, "client"),
                make_config(pki, "server", cert_file=cert, key_file=key))
    _, failed = drive(c, s)
    err = failed["client"]
    assert isinstance(err, d.CertificateVerifyError)
    assert (err.verify_code, err.depth) == (code, 0)
    assert lead.lead_code(err) == 158 + code == lead.lead_code_for_x509(code)
    assert err.alert_sent is not None
    assert isinstance(failed.get("server") or next_error(s), d.TLSAlertReceived)


def test_callback_veto_of_good_chain(pki):
    c, s = pair(make_config(pki, "client", verify_callback=lambda ctx: False),
                make_config(pki, "server"))
    err = drive(c, s)[1]["client"]
    assert isinstance(err, d.CertificateVerifyError)
    assert err.verify_code == 50 and lead.lead_code(err) == 191


def test_callback_accepts_expired(pki, pki_ec, issue):
    seen = []

    def accept_all(ctx):
        seen.append((ctx.depth, ctx.ok, ctx.error))
        return True
    cert, key = bad_server(issue, pki_ec, "expired")
    cs, _ = handshake(*pair(make_config(pki, "client", verify_callback=accept_all),
                            make_config(pki, "server", cert_file=cert, key_file=key)))
    assert (0, False, 10) in seen
    assert cs.peer_certificate.not_after < dt.datetime.now(dt.timezone.utc)


def test_callback_sees_each_chain_certificate(pki):
    seen = []

    def record(ctx):
        assert isinstance(ctx, d.VerifyContext) and ctx.error_string
        seen.append((ctx.depth, ctx.ok, ctx.error, ctx.certificate.subject))
        return True
    handshake(*pair(make_config(pki, "client", verify_callback=record), make_config(pki, "server")))
    assert [(depth, ok, err) for depth, ok, err, _ in seen] == [(1, True, 0), (0, True, 0)]
    assert "dicomtls dev CA" in seen[0][3] and "localhost" in seen[1][3]


def test_callback_exception_is_reraised(pki):
    def boom(ctx):
        raise ValueError("callback bug")
    c, s = pair(make_config(pki, "client", verify_callback=boom), make_config(pki, "server"))
    err = drive(c, s)[1]["client"]
    assert isinstance(err, ValueError) and str(err) == "callback bug"
    with pytest.raises(ValueError):
        c.next_event()


# ---- private keys ----------------------------------------------------------------------------
@pytest.mark.parametrize("password", ["secret", b"secret", lambda size, rwflag: "secret"])
def test_encrypted_key(pki, password):
    server = make_config(pki, "server", key_file=pki.server_key_encrypted, key_password=password)
    handshake(*pair(make_config(pki, "client"), server))


@pytest.mark.parametrize("password,missing", [("wrong", False), (None, True),
                                              (lambda size, rwflag: None, True)])
def test_bad_key_password(pki, password, missing):
    server = make_config(pki, "server", key_file=pki.server_key_encrypted, key_password=password)
    with pytest.raises(d.KeyPasswordError) as info:
        d.new_connection(server, "server")
    assert info.value.missing is missing
    assert lead.lead_code(info.value) == lead.DICOM_ERROR_PRIVATE_KEY_LOAD_FAILED


def test_key_mismatch(pki):
    cfg = make_config(pki, "client", cert_file=pki.client_cert, key_file=pki.server_key)
    with pytest.raises(d.KeyMismatchError) as info:
        d.new_connection(cfg, "client")
    assert lead.lead_code(info.value) == lead.DICOM_ERROR_KEYS_MISMATCH


# ---- what libssl cannot run, and legacy warnings -----------------------------------------------
@pytest.mark.parametrize("kw", [dict(ciphers=["TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"]),
                                dict(profile="basic", engine="libssl")])
@pytest.mark.parametrize("role", ["client", "server"])
def test_engine_unavailable(pki, kw, role):
    cfg = make_config(pki, role, **kw)
    with pytest.raises(d.EngineUnavailableError,
                       match="TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256|TLS_RSA_WITH_3DES_EDE") as info:
        d.new_connection(cfg, role)
    assert lead.lead_code(info.value) == lead.DICOM_ERROR_TLS_DLL_NOT_LOADED


@pytest.mark.parametrize("kw,named", [
    (dict(min_version="1.0"), "TLSv1"),
    (dict(ciphers=["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]), "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (dict(profile="bcp195"), "TLSv1.1"),
])
def test_legacy_warning(pki, kw, named):
    profile = kw.pop("profile", "rfc8996")
    with pytest.warns(d.LegacyCryptoWarning, match=named):
        d.TLSConfig.from_profile(profile, certificate=str(pki.client_cert),
                                 private_key=str(pki.client_key), ca_file=str(pki.ca_cert), **kw)


def test_no_legacy_warning_for_modern_profiles(pki):
    with warnings.catch_warnings():
        warnings.simplefilter("error", d.LegacyCryptoWarning)
        for profile in ("rfc8996", "bcp195-nd", "bcp195-ex", "rfc8996-mod"):
            d.TLSConfig.from_profile(profile, certificate=str(pki.server_cert),
                                     private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
