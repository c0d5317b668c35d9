"""The legacy peer drivers (legacy_peers.py, peer_tlslite.py, peer_scapy.py) proven against
independent modern peers, before dicomtls' own TLS 1.0-1.2 engine exists to use them.

Each driver talks to ``openssl s_server``/``s_client`` (or GnuTLS) over a suite both implement,
with mutual authentication, and both ends must agree on version and suite. The legacy suites
(3DES, DES) are exercised stack against stack where libssl cannot take part: tlslite-ng and scapy
against GnuTLS and each other, and each against itself for the driver paths.
"""

from __future__ import annotations

import re
import time

import pytest

from conftest import free_port, require_binary
from legacy_peers import (Child, expected_reply, gnutls_priority, gnutls_server, payload,
                          run_gnutls_client, run_scapy_client, run_tlslite_client, scapy_server,
                          tlslite_server)

pytestmark = pytest.mark.interop

OPENSSL_VERSION = {"1.0": "-tls1", "1.1": "-tls1_1", "1.2": "-tls1_2"}
OPENSSL_LABEL = {"1.0": "TLSv1", "1.1": "TLSv1.1", "1.2": "TLSv1.2"}
CBC = {0x000A, 0x0009, 0x002F, 0xC013}


def assert_ok(result: dict) -> dict:
    assert result["ok"], result
    return result


# ---- openssl as the independent modern peer ---------------------------------------------------
def _wait_listening(child: Child, port: int, timeout: float = 10.0) -> None:
    """LISTEN state in /proc/net/tcp: no probe connection (s_server -naccept 1 would count it)."""
    needle = f":{port:04X} 00000000:0000 0A"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.proc.poll() is None, child.out + child.err
        with open("/proc/net/tcp") as f:
            if needle in f.read():
                return
        time.sleep(0.02)
    raise TimeoutError(f"openssl is not listening on {port}: {child.out}{child.err}")


def s_server(pki, cipher: str, version: str) -> tuple[Child, int]:
    """One-connection ``s_server -rev`` (sends each line back reversed), client cert required.
    @SECLEVEL=0 lets OpenSSL 3 speak TLS 1.0/1.1 at all."""
    port = free_port()
    child = Child([require_binary("openssl"), "s_server", "-accept", f"127.0.0.1:{port}",
                   "-cert", pki.server_cert, "-key", pki.server_key, "-CAfile", pki.ca_cert,
                   "-Verify", "2", "-verify_return_error", "-naccept", "1", "-rev",
                   "-cipher", f"{cipher}@SECLEVEL=0", OPENSSL_VERSION[version]])
    try:
        _wait_listening(child, port)
    except BaseException:
        child.stop()
        raise
    return child, port


def openssl_summary(text: str) -> tuple[str, str]:
    """(protocol, cipher) from openssl's -brief lines."""
    proto = re.search(r"Protocol version: (\S+)", text)
    suite = re.search(r"Ciphersuite: (\S+)", text)
    assert proto and suite, text
    return proto.group(1), suite.group(1)


def s_client_echo(pki, port: int, cipher: str, version: str, size: int = 2000):
    """``openssl s_client`` with a client certificate: sends the pattern, waits for the echo,
    then closes (close_notify). Returns (protocol, cipher) as openssl reports them."""
    data = payload(size)
    with Child([require_binary("openssl"), "s_client", "-connect", f"127.0.0.1:{port}",
                "-cert", pki.client_cert, "-key", pki.client_key, "-CAfile", pki.ca_cert,
                "-verify_return_error", "-brief", "-cipher", f"{cipher}@SECLEVEL=0",
                OPENSSL_VERSION[version]]) as child:
        assert child.wait_for(lambda c: "CONNECTION ESTABLISHED" in c.err, 30), child.err
        child.write(data)
        echoed = child.wait_for(lambda c: data in c.out_bytes, 60)
        child.close_stdin()
        child.wait(10)
    assert echoed, (child.out[-500:], child.err)
    assert "Verification: OK" in child.err, child.err
    return openssl_summary(child.err)


# ---- tlslite-ng <-> openssl -------------------------------------------------------------------
@pytest.mark.parametrize("cipher,code,version,etm,ems", [
    ("AES128-SHA", 0x002F, "1.2", True, True),
    ("AES128-SHA", 0x002F, "1.0", True, True),
    ("AES128-SHA", 0x002F, "1.2", False, False),
    ("ECDHE-RSA-AES128-SHA", 0xC013, "1.0", True, True),
    ("ECDHE-RSA-AES128-GCM-SHA256", 0xC02F, "1.2", True, True),
])
def test_tlslite_client_vs_openssl_server(pki, cipher, code, version, etm, ems):
    server, port = s_server(pki, cipher, version)
    with server:
        result = assert_ok(run_tlslite_client(port, pki, suites=[code], versions="1.0-1.2",
                                              etm=etm, ems=ems, size=1500, expect="rev"))
        server.wait(10)
    assert (result["version"], result["suite"]) == (version, code)
    assert openssl_summary(server.err) == (OPENSSL_LABEL[version], cipher)
    # OpenSSL implements both extensions: tlslite reports what was really negotiated.
    assert result["etm"] == (etm and code in CBC) and result["ems"] == ems


@pytest.mark.parametrize("cipher,code,version", [
    ("AES128-SHA", 0x002F, "1.2"), ("AES128-SHA", 0x002F, "1.0"),
    ("ECDHE-RSA-AES128-GCM-SHA256", 0xC02F, "1.2"),
])
def test_openssl_client_vs_tlslite_server(pki, cipher, code, version):
    with tlslite_server(pki, suites=[0x000A, 0x002F, 0xC02F], versions="1.0-1.2") as server:
        assert s_client_echo(pki, server, cipher, version) == (OPENSSL_LABEL[version], cipher)
        (report,) = server.wait_handshakes(1)
    assert report["ok"], report
    assert (report["version"], report["suite"], report["ems"]) == (version, code, True)
    assert report["etm"] == (code in CBC) and report["echoed"] == 2000


# ---- scapy <-> openssl -------------------------------------------------------------------------
@pytest.mark.parametrize("version,ems", [("1.2", False), ("1.0", False), ("1.2", True)])
def test_scapy_client_vs_openssl_server(pki, version, ems):
    server, port = s_server(pki, "AES128-SHA", version)
    with server:
        result = assert_ok(run_scapy_client(port, pki, suites=[0x002F], version=version,
                                            ems=ems, size=1500, expect="rev"))
        server.wait(10)
    assert (result["version"], result["suite"]) == (version, 0x002F)
    assert openssl_summary(server.err) == (OPENSSL_LABEL[version], "AES128-SHA")
    assert (result["etm"], result["ems"]) == (False, ems)


@pytest.mark.parametrize("version", ["1.2", "1.0"])
def test_openssl_client_vs_scapy_server(pki, version):
    with scapy_server(pki, suites=[0x002F, 0x000A], versions="1.0-1.2") as server:
        assert s_client_echo(pki, server, "AES128-SHA", version) == (OPENSSL_LABEL[version],
                                                                       "AES128-SHA")
        (report,) = server.wait_handshakes(1)
    assert report["ok"] and report["peer_cert"], report
    assert (report["version"], report["suite"], report["etm"], report["ems"]) == \
        (version, 0x002F, False, False)


# ---- GnuTLS ------------------------------------------------------------------------------------
def test_gnutls_priority_strings():
    assert gnutls_priority([0x000A]) == ("NONE:+VERS-TLS1.2:+VERS-TLS1.1:+VERS-TLS1.0:+3DES-CBC:"
                                         "+RSA:+SHA1:+COMP-NULL:+SIGN-ALL")
    assert gnutls_priority([0xC02F, 0x0033], versions="1.2", etm=False, ems=False) == (
        "NONE:+VERS-TLS1.2:+AES-128-GCM:+AES-128-CBC:+ECDHE-RSA:+DHE-RSA:+AEAD:+SHA1:"
        "+COMP-NULL:+SIGN-ALL:+GROUP-ALL:%NO_ETM:%NO_SESSION_HASH")
    with pytest.raises(ValueError, match="0x0009"):
        gnutls_priority([0x0009])


@pytest.mark.parametrize("version,etm,ems", [("1.2", True, True), ("1.0", True, True),
                                             ("1.1", False, False)])
def test_gnutls_client_vs_gnutls_server_3des(pki, netns, tmp_path, version, etm, ems):
    prio = gnutls_priority([0x000A], versions=version, etm=etm, ems=ems)
    keys = tmp_path / "client.keys", tmp_path / "server.keys"
    with gnutls_server(pki, prio, netns, keylog=keys[1]) as server:
        result = assert_ok(run_gnutls_client(server, pki, prio, size=3000, keylog=keys[0]))
        (report,) = server.wait_handshakes(1)
    expected = {"version": version, "suite": 0x000A, "etm": etm, "ems": ems}
    assert {k: result[k] for k in expected} == expected
    assert report["ok"] and {k: report[k] for k in expected} == expected, report
    client_keys = keys[0].read_text().split()
    assert client_keys[0] == "CLIENT_RANDOM" and client_keys == keys[1].read_text().split()


def test_gnutls_client_vs_openssl_server(pki):
    server, port = s_server(pki, "AES128-SHA", "1.2")
    with server:
        result = assert_ok(run_gnutls_client(port, pki, gnutls_priority([0x002F]), size=3000,
                                             expect="rev"))
        server.wait(10)
    assert (result["version"], result["suite"], result["etm"], result["ems"]) == \
        ("1.2", 0x002F, True, True)
    assert openssl_summary(server.err) == ("TLSv1.2", "AES128-SHA")


# ---- the legacy suites, stack against stack ------------------------------------------------------
def test_tlslite_3des_client_vs_tlslite_server(pki, tmp_path):
    keys = tmp_path / "client.keys", tmp_path / "server.keys"
    with tlslite_server(pki, suites=[0x000A], keylog=keys[1]) as server:
        results = [assert_ok(run_tlslite_client(server, pki, suites=[0x000A], versions=version,
                                                etm=version != "1.1", keylog=keys[0]))
                   for version in ("1.0", "1.1", "1.2")]
        reports = server.wait_handshakes(3)
    assert [(r["version"], r["suite"], r["etm"], r["ems"]) for r in results] == [
        ("1.0", 0x000A, True, True), ("1.1", 0x000A, False, True), ("1.2", 0x000A, True, True)]
    assert [(r["ok"], r["version"], r["etm"], r["peer_cert"]) for r in reports] == [
        (True, "1.0", True, True), (True, "1.1", False, True), (True, "1.2", True, True)]
    assert keys[0].read_text() == keys[1].read_text() and len(keys[0].read_text().split()) == 9


def test_scapy_des_client_vs_scapy_server(pki, tmp_path):
    keys = tmp_path / "client.keys", tmp_path / "server.keys"
    with scapy_server(pki, suites=[0x0009], keylog=keys[1]) as server:
        results = [assert_ok(run_scapy_client(server, pki, suites=[0x0009], version=version,
                                              keylog=keys[0]))
                   for version in ("1.0", "1.1", "1.2")]  # scapy allows DES on TLS 1.2 too
        reports = server.wait_handshakes(3)
    assert [(r["version"], r["suite"], r["etm"], r["ems"]) for r in results] == [
        (v, 0x0009, False, False) for v in ("1.0", "1.1", "1.2")]
    assert [(r["ok"], r["version"], r["suite"]) for r in reports] == [
        (True, v, 0x0009) for v in ("1.0", "1.1", "1.2")]
    assert keys[0].read_text() == keys[1].read_text() and len(keys[0].read_text().split()) == 9


def test_3des_across_the_three_stacks(pki, netns):
    """3DES between independent stacks, which libssl cannot check: tlslite and scapy clients
    against gnutls-serv, gnutls-cli against the tlslite and scapy servers."""
    prio = gnutls_priority([0x000A])
    with gnutls_server(pki, prio, netns) as server:
        for result in (run_tlslite_client(server, pki, suites=[0x000A], versions="1.0-1.2"),
                       run_scapy_client(server, pki, suites=[0x000A], version="1.1")):
            assert_ok(result)
        reports = server.wait_handshakes(2)
    assert [(r["version"], r["suite"], r["etm"], r["ems"]) for r in reports] == [
        ("1.2", 0x000A, True, True), ("1.1", 0x000A, False, False)]
    with tlslite_server(pki, suites=[0x000A]) as server:
        assert_ok(run_gnutls_client(server, pki, prio, size=2000))
    with scapy_server(pki, suites=[0x000A]) as server:
        result = assert_ok(run_gnutls_client(server, pki, prio, size=2000))
    assert (result["version"], result["etm"], result["ems"]) == ("1.2", False, False)


# ---- the drivers fail when they should -----------------------------------------------------------
def test_drivers_refuse_missing_client_certificate(pki):
    with tlslite_server(pki, suites=[0x000A]) as server:
        result = run_tlslite_client(server, pki, suites=[0x000A], client_cert=False)
        (report,) = server.wait_handshakes(1)
    assert not result["ok"] and result["rc"] == 1 and "bad_certificate" in result["error"]
    assert not report["ok"] and "no certificate" in report["error"]
    with scapy_server(pki, suites=[0x000A]) as server:
        result = run_scapy_client(server, pki, suites=[0x000A], client_cert=False, timeout=5)
        (report,) = server.wait_handshakes(1)
    assert not result["ok"] and result["rc"] == 1
    assert not report["ok"] and "no certificate" in report["error"]


def test_drivers_refuse_a_server_from_another_ca(pki, tmp_path):
    """Every client checks the chain: a server certificate from another CA is refused."""
    from dicomtls.crypto.devpki import create_dev_pki
    other = create_dev_pki(tmp_path / "other-ca")
    with tlslite_server(other, suites=[0x000A], require_client_cert=False) as server:
        results = [run_tlslite_client(server, pki, suites=[0x000A]),
                   run_scapy_client(server, pki, suites=[0x000A], timeout=5),
                   run_gnutls_client(server, pki, gnutls_priority([0x000A]), timeout=10)]
    assert [r["ok"] for r in results] == [False, False, False], results
    assert "not issued by the test CA" in results[0]["error"]
    assert "handshake failed" in results[1]["error"] and not results[2]["trusted"]


def test_payload_pattern():
    data = payload(200)
    assert len(data) == 200 and data[63:64] == b"\n" and data.endswith(b"\n")
    assert expected_reply(b"abc\nde\n", "rev") == b"cba\ned\n"
