"""The ciphersuite scanner (dicomtls.scan) against real servers on 127.0.0.1: ``openssl
s_server`` with known cipher lists, and our own server (own engine, DES/3DES) serving many
connections. Each scan asserts the exact accepted (version, suite) set.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import warnings

import pytest

import dicomtls as d
from conftest import free_port, require_binary, wait_for_port
from dicomtls.io.tls_socket import TLSSocket
from dicomtls.tls.engines import new_connection
from dicomtls.scan import (ACCEPTED, NEEDS_CLIENT_CERT, SKIPPED, TIMEOUT, ScanTargetError,
                           scan as scan_with_dicom)


def scan(*args, **kwargs):
    """These tests are about the TLS probing. The DICOM checks, the oracle check and the extra
    handshakes have their own tests (test_scan_dicom.py, test_scan_robot.py,
    test_scan_hello_probes.py); against these non-DICOM, one-connection-at-a-time servers they
    would mostly wait out their timeouts."""
    kwargs.setdefault("dicom", False)
    kwargs.setdefault("robot", False)
    kwargs.setdefault("questions", False)
    return scan_with_dicom(*args, **kwargs)


pytestmark = pytest.mark.interop

TLS12_PAIR = {("1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"),
              ("1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")}


class SServer:
    """``openssl s_server`` serving any number of connections until the block ends."""

    def __init__(self, pki, tmp_path, *args):
        self.port = free_port()
        self.log = open(tmp_path / f"s_server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [require_binary("openssl"), "s_server", "-accept", f"127.0.0.1:{self.port}",
             "-cert", str(pki.server_cert), "-key", str(pki.server_key), "-rev", "-quiet", *args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, self.proc)
        except BaseException:
            self.__exit__()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(5)
        self.log.close()


class OurServer:
    """Our server (engine chosen by the config) in threads: one per connection, bounded."""

    def __init__(self, config, max_connections=2000):
        self.config = config
        self.listener = d.listen("127.0.0.1", 0)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(max_connections,), daemon=True)
        self._thread.start()

    def _serve(self, max_connections):
        for _ in range(max_connections):
            while not self._stop.is_set():
                try:
                    sock, _addr = self.listener.accept()
                    break
                except socket.timeout:
                    continue
            else:
                return
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock):
        try:
            sock.settimeout(10)
            tls = TLSSocket(sock, new_connection(self.config, "server"))
            tls.do_handshake()
            self.handshakes += 1
            for _ in range(100):
                if not tls.recv():
                    break
            tls.close()
        except Exception:  # noqa: BLE001 - refused probes end here, as they should
            sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.listener.close()


def server_config(pki, ciphers, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        kw.setdefault("peer_cert", "ignore")
        return d.TLSConfig.from_profile(ciphers=ciphers, certificate=str(pki.server_cert),
                                        private_key=str(pki.server_key), ca_file=str(pki.ca_cert),
                                        **kw)


def client_base(pki, cert=False, ca=False):
    extra = dict(certificate=str(pki.client_cert), private_key=str(pki.client_key)) if cert else {}
    return d.TLSConfig.from_profile(peer_cert="ignore", ca_file=str(pki.ca_cert) if ca else None,
                                    **extra)


def pairs(report, status=ACCEPTED):
    return {(p.version.short, p.suite.name) for p in report.probes if p.status == status}


# ---- openssl s_server ----------------------------------------------------------------------------
def test_s_server_known_list_tls12_and_13(pki, tmp_path):
    with SServer(pki, tmp_path, "-cipher", "AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384",
                 "-ciphersuites", "TLS_AES_128_GCM_SHA256") as server:
        report = scan("127.0.0.1", server.port, client_base(pki, ca=True), versions=("1.2", "1.3"))
    assert report.accepted_pairs() == TLS12_PAIR | {("1.3", "TLS_AES_128_GCM_SHA256")}
    # Every suite the build can offer at 1.2/1.3 was probed; the rest are listed, not dropped.
    assert len(report.probes) > 50 and report.not_probed
    refused = [p for p in report.probes if p.status != ACCEPTED]
    assert all(p.status == "refused" and p.alert_by == "server" for p in refused)
    assert {p.detail for p in refused} == {"alert handshake_failure before ServerHello"}
    accepted = {p.suite.name: p for p in report.accepted()}
    assert accepted["TLS_AES_128_GCM_SHA256"].engine == "libssl"
    assert accepted["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"].session.key_exchange == "ECDHE"
    assert report.certificate.verified is True
    assert report.certificate.chain[0].subject.startswith("CN=localhost")
    states = {p.profile: p.state for p in report.profiles}
    assert states["rfc8996"] == "yes" and states["aes"] == "yes"
    assert states["basic"] == "unknown"  # its 3DES at TLS 1.0/1.1 was not scanned


def test_s_server_tls12_only_refuses_tls13(pki, tmp_path):
    with SServer(pki, tmp_path, "-tls1_2", "-cipher", "AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384",
                 "-ciphersuites", "TLS_AES_128_GCM_SHA256") as server:
        report = scan("127.0.0.1", server.port, versions=("1.2", "1.3"))
    assert report.accepted_pairs() == TLS12_PAIR
    tls13 = [p for p in report.probes if p.version.short == "1.3"]
    assert tls13 and all(p.status == "refused" for p in tls13)
    assert report.preference.version.short == "1.2" and report.preference.mode == "client"
    assert report.certificate.verified is None  # no --ca: not checked, probes ignore trust


def test_s_server_tls10_at_seclevel0(pki, tmp_path):
    with SServer(pki, tmp_path, "-tls1", "-cipher",
                 "AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0") as server:
        report = scan("127.0.0.1", server.port, versions=("1.0", "1.1", "1.2"))
    assert report.accepted_pairs() == {("1.0", "TLS_RSA_WITH_AES_128_CBC_SHA"),
                                       ("1.0", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")}
    # 3DES/DES were probed through our own engine (libssl cannot offer them) and refused.
    des = [p for p in report.probes if "DES" in p.suite.name]
    assert des and {p.engine for p in des} == {"dicomtls"}
    assert all(p.status == "refused" for p in des)
    states = {p.profile: p.state for p in report.profiles}
    assert states["aes"] == "yes" and states["basic"] == "no" and states["bcp195-ex"] == "no"
    assert states["rfc8996"] == "unknown"  # TLS 1.3 was not scanned


def test_s_server_wanting_a_client_certificate(pki, tmp_path):
    with SServer(pki, tmp_path, "-CAfile", str(pki.ca_cert), "-Verify", "1", "-cipher",
                 "AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384", "-ciphersuites",
                 "TLS_AES_128_GCM_SHA256") as server:
        without = scan("127.0.0.1", server.port, versions=("1.2", "1.3"))
        with_cert = scan("127.0.0.1", server.port, client_base(pki, cert=True),
                         versions=("1.2", "1.3"))
    expected = TLS12_PAIR | {("1.3", "TLS_AES_128_GCM_SHA256")}
    assert without.accepted_pairs() == set()
    assert pairs(without, NEEDS_CLIENT_CERT) == expected
    details = {p.version.short: p.detail for p in without.probes if p.status == NEEDS_CLIENT_CERT}
    assert details["1.2"] == "alert handshake_failure after CertificateRequest"
    assert details["1.3"] == "alert certificate_required after the handshake"
    # The server's choice is read from its ServerHello: preference and EtM/EMS still work.
    assert without.preference.mode == "client"
    assert without.extensions.encrypt_then_mac is True
    assert {p.profile: p.state for p in without.profiles}["rfc8996"] == "with_client_cert"
    assert with_cert.accepted_pairs() == expected
    assert without.client_auth == with_cert.client_auth == "required"


def test_s_server_preference_order(pki, tmp_path):
    order = ["AES256-SHA", "ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA", "DHE-RSA-AES256-SHA"]
    with SServer(pki, tmp_path, "-tls1_2", "-serverpref", "-cipher", ":".join(order)) as server:
        report = scan("127.0.0.1", server.port, versions=("1.2",))
    assert report.preference.mode == "server" and report.preference.complete
    assert [s.openssl_name for s in report.preference.server_order] == order


@pytest.mark.parametrize("etm", [True, False])
def test_s_server_encrypt_then_mac(pki, tmp_path, etm):
    extra = [] if etm else ["-no_etm"]
    with SServer(pki, tmp_path, "-tls1_2", "-cipher", "AES128-SHA", *extra) as server:
        report = scan("127.0.0.1", server.port, versions=("1.2",))
    ext = report.extensions
    assert (ext.encrypt_then_mac, ext.extended_master_secret, ext.secure_renegotiation) == (
        etm, True, True)
    assert "dicomtls" in ext.probe  # measured on an own-engine client (conn.etm / conn.ems)


# ---- our own server: the own engine on both sides ------------------------------------------------
LEGACY = ["DES-CBC-SHA", "AES256-SHA", "DES-CBC3-SHA", "AES128-SHA"]


@pytest.mark.parametrize("engine", ["auto", "dicomtls"])
def test_own_legacy_server_des_3des_aes(pki, engine):
    config = server_config(pki, LEGACY, min_version="1.0", max_version="1.2")
    with OurServer(config) as server:
        started = time.monotonic()
        report = scan("127.0.0.1", server.port, engine=engine)
        seconds = time.monotonic() - started
    aes = {"TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA"}
    expected = ({(v, "TLS_RSA_WITH_DES_CBC_SHA") for v in ("1.0", "1.1")}
                | {(v, "TLS_RSA_WITH_3DES_EDE_CBC_SHA") for v in ("1.0", "1.1", "1.2")}
                | {(v, s) for v in ("1.0", "1.1", "1.2") for s in aes})
    assert report.accepted_pairs() == expected
    by_pair = {(p.version.short, p.suite.name): p for p in report.probes}
    assert by_pair[("1.0", "TLS_RSA_WITH_DES_CBC_SHA")].engine == "dicomtls"
    assert by_pair[("1.2", "TLS_RSA_WITH_AES_128_CBC_SHA")].engine == (
        "libssl" if engine == "auto" else "dicomtls")
    assert ("1.2", "TLS_RSA_WITH_DES_CBC_SHA") not in by_pair  # never offered at 1.2
    assert any(v.short == "1.2" and s.name == "TLS_RSA_WITH_DES_CBC_SHA"
               for v, s, _reason in report.not_probed)
    assert report.preference.mode == "server"
    assert [s.openssl_name for s in report.preference.server_order] == [
        "AES256-SHA", "DES-CBC3-SHA", "AES128-SHA"]
    assert (report.extensions.encrypt_then_mac, report.extensions.extended_master_secret) == (
        True, True)
    states = {p.profile: p.state for p in report.profiles}
    assert states["basic"] == states["aes"] == "yes" and states["rfc8996"] == "no"
    assert seconds < 30


def test_engine_forced_to_libssl_lists_what_it_cannot_offer(pki):
    config = server_config(pki, LEGACY, min_version="1.0", max_version="1.2")
    with OurServer(config) as server:
        report = scan("127.0.0.1", server.port, engine="libssl", versions=("1.2",))
    assert report.accepted_pairs() == {("1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"),
                                       ("1.2", "TLS_RSA_WITH_AES_256_CBC_SHA")}
    reasons = {s.name: r for _v, s, r in report.not_probed}
    assert reasons["TLS_RSA_WITH_3DES_EDE_CBC_SHA"] == (
        "only dicomtls' own engine offers it (engine forced to libssl)")
    assert {p.engine for p in report.probes} == {"libssl"}
    # EtM/EMS then come from the ServerHello a libssl probe saw.
    assert report.extensions.encrypt_then_mac is True and "libssl" in report.extensions.probe


def test_own_server_client_preference_and_no_ems(pki):
    config = server_config(pki, LEGACY, min_version="1.0", max_version="1.2",
                           server_preference=False, extended_master_secret=False)
    with OurServer(config) as server:
        report = scan("127.0.0.1", server.port, versions=("1.2",))
    assert report.preference.mode == "client" and report.preference.server_order == []
    assert report.extensions.extended_master_secret is False
    assert report.extensions.encrypt_then_mac is True


def test_own_server_wanting_a_client_certificate(pki):
    config = server_config(pki, ["DES-CBC3-SHA"], min_version="1.0", max_version="1.2",
                           peer_cert="require")
    with OurServer(config) as server:
        without = scan("127.0.0.1", server.port, versions=("1.0", "1.2"),
                       suites=["DES-CBC3-SHA", "AES128-SHA"])
        with_cert = scan("127.0.0.1", server.port, client_base(pki, cert=True),
                         versions=("1.0", "1.2"), suites=["DES-CBC3-SHA", "AES128-SHA"])
    both = {("1.0", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"), ("1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA")}
    assert pairs(without, NEEDS_CLIENT_CERT) == both and not without.accepted_pairs()
    assert with_cert.accepted_pairs() == both
    assert without.client_auth == with_cert.client_auth == "required"


def test_untrusted_server_certificate_is_reported_not_fatal(pki, pki_ec):
    config = server_config(pki, ["AES128-SHA"])
    with OurServer(config) as server:
        wrong_ca = d.TLSConfig.from_profile(peer_cert="ignore", ca_file=str(pki_ec.ca_cert))
        report = scan("127.0.0.1", server.port, wrong_ca, versions=("1.2",))
    assert report.accepted_pairs() == {("1.2", "TLS_RSA_WITH_AES_128_CBC_SHA")}
    assert report.certificate.verified is False
    assert "unable to get local issuer" in report.certificate.detail


# ---- bounds and errors ---------------------------------------------------------------------------
def test_unreachable_port():
    with pytest.raises(ScanTargetError, match="cannot connect to 127.0.0.1 port .*refused"):
        scan("127.0.0.1", free_port())


def test_silent_server_times_out_within_bounds():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes TCP handshakes; nothing ever answers
    try:
        started = time.monotonic()
        report = scan("127.0.0.1", listener.getsockname()[1], versions=("1.2",),
                      suites=["AES128-SHA", "AES256-SHA", "DES-CBC3-SHA", "AES128-SHA256"],
                      timeout=0.3, max_time=0.5, parallel=1)
        seconds = time.monotonic() - started
    finally:
        listener.close()
    statuses = [p.status for p in report.probes]
    assert statuses[0] == TIMEOUT and statuses[-1] == SKIPPED
    assert set(statuses) <= {TIMEOUT, SKIPPED}
    assert report.preference.mode is None and report.extensions.encrypt_then_mac is None
    assert seconds < 2.0
