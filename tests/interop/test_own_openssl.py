"""dicomtls' own TLS 1.0-1.2 engine against libssl (``openssl s_server``/``s_client``), both roles,
every suite both can run, at every version the suite allows, with client certificates; with and
without encrypt-then-MAC; key log lines compared; renegotiation refused.
"""

from __future__ import annotations

import os

import pytest

import dicomtls as d
from dicomtls.tls.own.cipherspec import allowed_at, engine_supports
from dicomtls.tls.suites import ALL_SUITES
from dicomtls.tls.versions import TLSVersion
from test_openssl_cli import (LABEL, VERSION_FLAG, OurServer, check, our_config,
                              read_line, s_client, s_server)

pytestmark = pytest.mark.interop

SHARED = [s for s in ALL_SUITES
          if engine_supports(s) and s.code in d.features().libssl_suite_codes]
VERSION_OF = {TLSVersion.TLSv1_0: "1.0", TLSVersion.TLSv1_1: "1.1", TLSVersion.TLSv1_2: "1.2"}
CASES = [pytest.param(s, VERSION_OF[v], id=f"{LABEL[VERSION_OF[v]]}-{s.openssl_name}")
         for s in SHARED for v in VERSION_OF if allowed_at(s, v)]


def own(p, role, suite, version, **kw):
    return our_config(p, role, ciphers=[suite.name], min_version=version, max_version=version,
                      engine="dicomtls", **kw)


def theirs(suite, version):
    seclevel = ":@SECLEVEL=0" if version in ("1.0", "1.1") or suite.legacy else ""
    return [VERSION_FLAG[version], "-cipher", suite.openssl_name + seclevel]


def test_shared_suites_cover_the_issue_list():
    codes = {s.code for s in SHARED}
    assert {0x002F, 0x0035, 0x0033, 0x0039, 0x003C, 0x003D, 0x0067, 0x006B, 0x009C, 0x009D,
            0x009E, 0x009F, 0xC013, 0xC014, 0xC027, 0xC028, 0xC02F, 0xC030} <= codes


@pytest.mark.parametrize("suite,version", CASES)
def test_own_client_vs_s_server(pki, port, suite, version):
    with s_server(pki, port, "-rev", "-brief", *theirs(suite, version)) as server:
        with d.connect("127.0.0.1", port, own(pki, "client", suite, version), timeout=10) as tls:
            assert tls.session.engine == "dicomtls"
            tls.sendall(b"hello openssl\n")
            assert read_line(tls) == b"lssnepo olleh\n"
            session = tls.session
        text = server.finish()
    check(session, text, version, suite.name, "localhost")


@pytest.mark.parametrize("suite,version", CASES)
def test_s_client_vs_own_server(pki, suite, version):
    def reverse(tls):
        line = read_line(tls)
        tls.sendall(line[:-1][::-1] + b"\n")

    server = OurServer(own(pki, "server", suite, version), reverse)
    server.start()
    with s_client(pki, server.port, "-brief", *theirs(suite, version)) as client:
        client.write(b"hello dicomtls\n")
        session, _ = server.outcome()
        text = client.finish()
    assert "sltmocid olleh" in text
    assert session.engine == "dicomtls"
    check(session, text, version, suite.name, "dicomtls client")


@pytest.mark.parametrize("no_etm_side", ["client", "server"])
def test_without_encrypt_then_mac(pki, port, no_etm_side):
    suite = d.lookup_suite("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA")
    if no_etm_side == "server":
        with s_server(pki, port, "-rev", "-brief", "-no_etm", *theirs(suite, "1.2")) as server:
            with d.connect("127.0.0.1", port, own(pki, "client", suite, "1.2"), timeout=10) as tls:
                tls.sendall(os.urandom(6000).hex().encode() + b"\n")
                assert len(read_line(tls)) == 12001
            server.finish()
        return

    def handler(tls):
        data = read_line(tls)
        tls.sendall(data)
        return data

    server = OurServer(own(pki, "server", suite, "1.2"), handler)
    server.start()
    with s_client(pki, server.port, "-brief", "-no_etm", *theirs(suite, "1.2")) as client:
        client.wait_for("Ciphersuite")
        client.write(b"x" * 50000 + b"\n")
        client.wait_for("x" * 50000)
        client.proc.stdin.close()
        client.finish()
    _session, data = server.outcome()
    assert data == b"x" * 50000 + b"\n"


def test_keylog_matches_openssl(pki, port, tmp_path):
    ours, theirs_log = tmp_path / "ours.log", tmp_path / "theirs.log"
    suite = d.lookup_suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256")
    with s_server(pki, port, "-rev", "-brief", "-keylogfile", str(theirs_log),
                  *theirs(suite, "1.2")) as server:
        with d.connect("127.0.0.1", port, own(pki, "client", suite, "1.2", keylog_file=str(ours)),
                       timeout=10) as tls:
            tls.sendall(b"k\n")
            read_line(tls)
        server.finish()
    mine = [ln for ln in ours.read_text().splitlines() if ln.startswith("CLIENT_RANDOM")]
    assert len(mine) == 1
    assert mine[0] in theirs_log.read_text().splitlines()


def test_renegotiation_from_s_client_is_refused(pki):
    suite = d.lookup_suite("TLS_RSA_WITH_AES_128_CBC_SHA")

    def handler(tls):
        try:
            return tls.recv(100)
        except d.DicomTLSError as exc:
            return exc

    server = OurServer(own(pki, "server", suite, "1.2"), handler)
    server.start()
    with s_client(pki, server.port, *theirs(suite, "1.2")) as client:
        client.wait_for("Verify return code: 0")
        client.write(b"R\n")
        client.finish(timeout=10)
    _session, outcome = server.outcome()
    # OpenSSL treats our no_renegotiation warning as fatal and answers handshake_failure.
    assert isinstance(outcome, d.TLSAlertReceived) and outcome.alert_received == 40 \
        or outcome == b""
    assert "RENEGOTIATING" in client.text


@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("version", ["1.0", "1.2"])
def test_without_ems_and_etm_on_our_side(pki, port, role, version):
    """openssl's CLI cannot turn EMS off, our side can: the classic master secret and
    MAC-then-encrypt against libssl, both roles."""
    suite = d.lookup_suite("TLS_DHE_RSA_WITH_AES_128_CBC_SHA")
    ours = own(pki, role, suite, version, encrypt_then_mac=False, extended_master_secret=False)
    if role == "client":
        with s_server(pki, port, "-rev", "-brief", *theirs(suite, version)) as server:
            with d.connect("127.0.0.1", port, ours, timeout=10) as tls:
                tls.sendall(b"classic master secret\n")
                assert read_line(tls) == b"terces retsam cissalc\n"
                assert not (tls.conn.ems or tls.conn.etm)
                session = tls.session
            text = server.finish()
        check(session, text, version, suite.name, "localhost")
        return

    def reverse(tls):
        line = read_line(tls)
        tls.sendall(line[:-1][::-1] + b"\n")

    server = OurServer(ours, reverse)
    server.start()
    with s_client(pki, server.port, "-brief", *theirs(suite, version)) as client:
        client.write(b"hello dicomtls\n")
        session, _ = server.outcome()
        text = client.finish()
    assert "sltmocid olleh" in text
    check(session, text, version, suite.name, "dicomtls client")
