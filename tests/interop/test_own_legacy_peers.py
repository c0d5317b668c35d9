"""dicomtls' own engine against independent legacy-capable TLS stacks: GnuTLS (3DES, with and
without EtM/EMS, TLS 1.0-1.2), tlslite-ng (3DES and AES, its TLS 1.0 1/n-1 record splitting) and
scapy (single DES and 3DES), both roles, client certificates; key logs compared with the peer's.
"""

from __future__ import annotations

import threading
import warnings

import pytest

import dicomtls as d
from legacy_peers import (gnutls_priority, gnutls_server, payload, run_gnutls_client,
                          run_scapy_client, run_tlslite_client, scapy_server, tlslite_server)

pytestmark = pytest.mark.interop

LABEL = {"1.0": "TLSv1", "1.1": "TLSv1.1", "1.2": "TLSv1.2"}


def config(pki, role, codes, low="1.0", high="1.2", **kw):
    kw.setdefault("engine", "dicomtls")  # AES suites too: libssl would take them otherwise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        return d.TLSConfig.from_profile(
            "rfc8996", ciphers=list(codes), min_version=low, max_version=high,
            certificate=str(getattr(pki, f"{role}_cert")),
            private_key=str(getattr(pki, f"{role}_key")), ca_file=str(pki.ca_cert), **kw)


class EchoServer(threading.Thread):
    """Our server for ``count`` connections on 127.0.0.1, echoing until each peer closes."""

    def __init__(self, cfg, count=1):
        super().__init__(daemon=True)
        self.listener = d.listen("127.0.0.1", 0)
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.cfg, self.count = cfg, count
        self.sessions, self.errors, self.echoed = [], [], []

    def run(self):
        try:
            for _ in range(self.count):
                try:
                    with d.accept(self.listener, self.cfg, timeout=30) as tls:
                        self.sessions.append(tls.session)
                        total = 0
                        while True:
                            data = tls.recv()
                            if not data:
                                break
                            total += len(data)
                            tls.sendall(data)
                        self.echoed.append(total)
                except Exception as exc:  # noqa: BLE001 - reported by outcome()
                    self.errors.append(exc)
        finally:
            self.listener.close()

    def outcome(self):
        self.join(90)
        assert not self.is_alive(), "our server did not finish"
        return self.sessions, self.errors


def our_client(port, cfg, size=5000):
    data = payload(size)
    with d.connect("127.0.0.1", int(port), cfg, timeout=30) as tls:
        tls.sendall(data)
        assert tls.recv_exactly(len(data)) == data
        return tls.session


def assert_ok(result):
    assert result.get("ok"), result
    return result


def check_session(session, version, code):
    assert session.engine == "dicomtls"
    assert session.protocol.label == LABEL[version]
    assert session.cipher_suite_id == code
    assert session.peer_authenticated


# ---- GnuTLS: 3DES ---------------------------------------------------------------------------------
GNUTLS_CASES = [("1.2", True, True), ("1.2", False, False), ("1.1", True, False),
                ("1.0", False, True), ("1.0", True, True)]


@pytest.mark.parametrize("code", [0x000A, 0x0016])
@pytest.mark.parametrize("version,etm,ems", GNUTLS_CASES)
def test_own_client_vs_gnutls_server(pki, netns, tmp_path, code, version, etm, ems):
    prio = gnutls_priority([code], versions=version, etm=etm, ems=ems)
    keys = tmp_path / "gnutls.keys", tmp_path / "ours.keys"
    with gnutls_server(pki, prio, netns, keylog=keys[0]) as server:
        session = our_client(server, config(pki, "client", [code], version, version,
                                            keylog_file=str(keys[1])))
        (report,) = server.wait_handshakes(1)
    check_session(session, version, code)
    assert report["ok"] and (report["version"], report["suite"], report["etm"], report["ems"]) \
        == (version, code, etm, ems), report
    assert keys[1].read_text().split() == keys[0].read_text().split()


@pytest.mark.parametrize("code", [0x000A, 0x0016])
@pytest.mark.parametrize("version,etm,ems", GNUTLS_CASES)
def test_gnutls_client_vs_own_server(pki, tmp_path, code, version, etm, ems):
    prio = gnutls_priority([code], versions=version, etm=etm, ems=ems)
    keys = tmp_path / "gnutls.keys", tmp_path / "ours.keys"
    server = EchoServer(config(pki, "server", [code], keylog_file=str(keys[1])))
    server.start()
    result = assert_ok(run_gnutls_client(server.port, pki, prio, size=40000, keylog=keys[0]))
    (session,), errors = server.outcome()
    assert not errors, errors
    check_session(session, version, code)
    assert (result["version"], result["suite"], result["etm"], result["ems"]) == \
        (version, code, etm, ems)
    assert keys[1].read_text().split() == keys[0].read_text().split()


# ---- tlslite-ng ----------------------------------------------------------------------------------
TLSLITE_CASES = [(0x000A, "1.0", True, True), (0x000A, "1.1", False, False),
                 (0x000A, "1.2", True, False), (0x002F, "1.0", False, True),
                 (0x0033, "1.1", True, True), (0xC013, "1.2", True, True),
                 (0x009C, "1.2", True, True), (0xC030, "1.2", False, False)]


@pytest.mark.parametrize("code,version,etm,ems", TLSLITE_CASES)
def test_tlslite_client_vs_own_server(pki, code, version, etm, ems):
    """tlslite-ng splits TLS 1.0 CBC application data 1/n-1: a 1-byte record, then the rest."""
    server = EchoServer(config(pki, "server", [code]))
    server.start()
    result = assert_ok(run_tlslite_client(server.port, pki, suites=[code], versions=version,
                                          etm=etm, ems=ems, size=50000))
    (session,), errors = server.outcome()
    assert not errors, errors
    check_session(session, version, code)
    block = code not in (0x009C, 0xC030)
    assert (result["version"], result["suite"], result["etm"], result["ems"]) == \
        (version, code, etm and block, ems)


@pytest.mark.parametrize("code,version,etm,ems", TLSLITE_CASES)
def test_own_client_vs_tlslite_server(pki, tmp_path, code, version, etm, ems):
    keys = tmp_path / "tlslite.keys", tmp_path / "ours.keys"
    with tlslite_server(pki, suites=[code], versions=version, etm=etm, ems=ems,
                        keylog=keys[0]) as server:
        session = our_client(server, config(pki, "client", [code], version, version,
                                            keylog_file=str(keys[1])), size=50000)
        (report,) = server.wait_handshakes(1)
    check_session(session, version, code)
    assert report["ok"] and (report["version"], report["suite"]) == (version, code), report
    assert keys[1].read_text().split() == keys[0].read_text().split()


# ---- scapy: single DES and 3DES --------------------------------------------------------------------
@pytest.mark.parametrize("code,version", [(0x0009, "1.0"), (0x0009, "1.1"), (0x000A, "1.2")])
def test_scapy_client_vs_own_server(pki, code, version):
    server = EchoServer(config(pki, "server", [code]))
    server.start()
    result = assert_ok(run_scapy_client(server.port, pki, suites=[code], version=version,
                                        size=3000))
    (session,), errors = server.outcome()
    assert not errors, errors
    check_session(session, version, code)
    assert (result["version"], result["suite"], result["etm"], result["ems"]) == \
        (version, code, False, False)


@pytest.mark.parametrize("code,version", [(0x0009, "1.0"), (0x0009, "1.1"), (0x000A, "1.1")])
def test_own_client_vs_scapy_server(pki, code, version):
    with scapy_server(pki, suites=[code], versions=version) as server:
        session = our_client(server, config(pki, "client", [code], version, version), size=3000)
        (report,) = server.wait_handshakes(1)
    check_session(session, version, code)
    assert report["ok"] and (report["version"], report["suite"]) == (version, code), report


def test_des_client_offering_tls12_gets_tls11(pki):
    """RFC 5246 removed single DES from TLS 1.2: our server answers a DES-only client that offers
    TLS 1.2 with TLS 1.1 (scapy accepts the lower version, as RFC 5246 E.1 allows)."""
    server = EchoServer(config(pki, "server", [0x0009]))
    server.start()
    result = assert_ok(run_scapy_client(server.port, pki, suites=[0x0009], version="1.2",
                                        size=100))
    (session,), errors = server.outcome()
    assert not errors, errors
    check_session(session, "1.1", 0x0009)
    assert (result["version"], result["suite"]) == ("1.1", 0x0009)


# ---- one server, both engines ---------------------------------------------------------------------
def test_mixed_server_gives_a_3des_client_to_the_own_engine(pki):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        cfg = d.TLSConfig.from_profile(
            "rfc8996", ciphers=["TLS_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
            min_version="1.0", max_version="1.3", certificate=str(pki.server_cert),
            private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
    server = EchoServer(cfg, count=2)
    server.start()
    assert_ok(run_tlslite_client(server.port, pki, suites=[0x000A], versions="1.0-1.2"))
    assert_ok(run_tlslite_client(server.port, pki, suites=[0xC02F], versions="1.2"))
    sessions, errors = server.outcome()
    assert not errors, errors
    assert [(s.engine, s.cipher_suite_id) for s in sessions] == [("dicomtls", 0x000A),
                                                                  ("libssl", 0xC02F)]
