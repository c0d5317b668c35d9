"""C-ECHO against pynetdicom, both roles, plain TCP and TLS with mutual authentication.

* our ``associate(...).echo()`` (SCU) -> a pynetdicom ``AE.start_server`` Verification SCP;
* pynetdicom ``ae.associate(...).send_c_echo()`` (SCU) -> our ``VerificationServer``;
* a pynetdicom SCU proposing only an abstract syntax we do not support: it must see the context
  rejected (abstract-syntax-not-supported).

Over TLS, pynetdicom runs on Python's ``ssl`` module with our dev PKI, requiring the peer's
certificate both ways; the version and suite pynetdicom's socket reports must be what our
SessionInfo says. TLS 1.2 is run as well as 1.3 because the two name suites differently
(OpenSSL names for 1.2, IANA names for 1.3).
"""

from __future__ import annotations

import ssl
import threading

import pytest

from conftest import REQUIRE_PEERS
from dicomtls.io.association_runner import VerificationServer, associate
from dicomtls.tls.config import TLSConfig
from dicomtls.tls.versions import TLSVersion

try:
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage, Verification
except ImportError:  # a peer like any other: skipped on a developer machine, required in CI
    if REQUIRE_PEERS:
        raise
    pytest.skip("pynetdicom is not installed", allow_module_level=True)

pytestmark = pytest.mark.interop

TIMEOUT = 10
PY_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


# ---- helpers ------------------------------------------------------------------------------------
def _ae(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    return ae


def _py_context(pki, side: str, version: str | None) -> ssl.SSLContext:
    """Python ssl for pynetdicom: our dev PKI, peer certificate required, optionally one version."""
    server = side == "server"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED  # as a client, also the server's name (SAN IP 127.0.0.1)
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.server_cert if server else pki.client_cert),
                        str(pki.server_key if server else pki.client_key))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = PY_VERSIONS[version]
    return ctx


def _our_config(pki, side: str) -> TLSConfig:
    server = side == "server"
    return TLSConfig.from_profile(certificate=str(pki.server_cert if server else pki.client_cert),
                                  private_key=str(pki.server_key if server else pki.client_key),
                                  ca_file=str(pki.ca_cert))


def _tls_seen_by_pynetdicom(assoc) -> dict:
    sock = assoc.dul.socket.socket
    if not isinstance(sock, ssl.SSLSocket):
        return {"version": None, "cipher": None, "peer_cert": None}
    return {"version": sock.version(), "cipher": sock.cipher()[0],
            "peer_cert": sock.getpeercert()}


def _common_name(peer_cert: dict) -> str:
    return dict(rdn[0] for rdn in peer_cert["subject"])["commonName"]


def _assert_same_session(session, seen: dict, version: str | None, our_name: str) -> None:
    """Our SessionInfo and pynetdicom's ssl socket agree on version and suite, and each side
    verified the other's certificate (``our_name``: the CN pynetdicom must have seen)."""
    assert session is not None and session.peer_authenticated
    assert seen["peer_cert"], "pynetdicom did not receive (or verify) our certificate"
    assert _common_name(seen["peer_cert"]) == our_name
    assert seen["version"] == session.protocol.name.replace("_", ".")
    if version is not None:
        assert session.protocol == TLSVersion.parse(f"TLSv{version}")
    # Python reports OpenSSL's suite name (IANA-style for TLS 1.3, OpenSSL-style before).
    assert seen["cipher"] == session.cipher_suite.openssl_name, (seen, session.cipher_suite)


class _PynetdicomSCP:
    """A pynetdicom Verification SCP on 127.0.0.1 (ephemeral port), recording what it sees."""

    def __init__(self, ssl_context=None):
        self.ae = _ae("PYNETDICOM")
        self.ae.add_supported_context(Verification)
        self.echoes: list[dict] = []
        self._lock = threading.Lock()
        self.ssl_context = ssl_context
        self.server = None

    def _on_echo(self, event):
        with self._lock:
            self.echoes.append({"calling_ae": event.assoc.requestor.ae_title,
                                **_tls_seen_by_pynetdicom(event.assoc)})
        return 0x0000

    def __enter__(self):
        self.server = self.ae.start_server(("127.0.0.1", 0), block=False,
                                           ssl_context=self.ssl_context,
                                           evt_handlers=[(evt.EVT_C_ECHO, self._on_echo)])
        return self

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __exit__(self, *exc):
        try:
            self.server.shutdown()
        finally:
            self.ae.shutdown()


# ---- our SCU -> pynetdicom SCP ------------------------------------------------------------------
def test_our_scu_vs_pynetdicom_plain():
    with _PynetdicomSCP() as scp:
        with associate("127.0.0.1", scp.port, called_ae="PYNETDICOM", calling_ae="OURSCU",
                       timeout=TIMEOUT) as assoc:
            assert assoc.session is None
            assert [assoc.echo() for _ in range(3)] == [0x0000] * 3
    assert len(scp.echoes) == 3
    assert all(e["calling_ae"] == "OURSCU" and e["version"] is None for e in scp.echoes)


@pytest.mark.parametrize("version", [None, "1.2", "1.3"], ids=["default", "tls1.2", "tls1.3"])
def test_our_scu_vs_pynetdicom_tls(pki, version):
    with _PynetdicomSCP(_py_context(pki, "server", version)) as scp:
        with associate("127.0.0.1", scp.port, tls_config=_our_config(pki, "client"),
                       called_ae="PYNETDICOM", calling_ae="OURSCU", timeout=TIMEOUT) as assoc:
            assert assoc.echo() == 0x0000
            session = assoc.session
    (seen,) = scp.echoes
    assert seen["calling_ae"] == "OURSCU"
    _assert_same_session(session, seen, version, our_name="dicomtls client")


# ---- pynetdicom SCU -> our SCP ------------------------------------------------------------------
def _pynetdicom_echo(port: int, *, ssl_context=None):
    """pynetdicom associates, sends two C-ECHOs, releases: (association, TLS seen, statuses)."""
    ae = _ae("PYSCU")
    ae.add_requested_context(Verification)
    tls_args = (ssl_context, "127.0.0.1") if ssl_context is not None else None
    try:
        assoc = ae.associate("127.0.0.1", port, ae_title="OURSCP", tls_args=tls_args)
        assert assoc.is_established
        try:
            seen = _tls_seen_by_pynetdicom(assoc)
            statuses = [assoc.send_c_echo() for _ in range(2)]
            assoc.release()
        finally:
            if assoc.is_established:  # something above failed: do not leave it open
                assoc.abort()
        return assoc, seen, statuses
    finally:
        ae.shutdown()


def test_pynetdicom_scu_vs_our_scp_plain():
    with VerificationServer(ae_title="OURSCP", timeout=TIMEOUT) as server:
        assoc, seen, statuses = _pynetdicom_echo(server.port)
        assert assoc.is_released
    assert [s.Status for s in statuses] == [0x0000, 0x0000]
    assert seen["version"] is None
    (result,) = server.results
    assert (result.outcome, result.echoes, result.calling_ae) == ("released", 2, "PYSCU")
    assert result.session is None


@pytest.mark.parametrize("version", [None, "1.2", "1.3"], ids=["default", "tls1.2", "tls1.3"])
def test_pynetdicom_scu_vs_our_scp_tls(pki, version):
    with VerificationServer(tls_config=_our_config(pki, "server"), ae_title="OURSCP",
                            timeout=TIMEOUT) as server:
        assoc, seen, statuses = _pynetdicom_echo(
            server.port, ssl_context=_py_context(pki, "client", version))
        assert assoc.is_released
    assert [s.Status for s in statuses] == [0x0000, 0x0000]
    (result,) = server.results
    assert (result.outcome, result.echoes) == ("released", 2)
    _assert_same_session(result.session, seen, version, our_name="localhost")


def test_pynetdicom_scu_without_certificate_is_refused_by_our_tls_scp(pki):
    """Mutual authentication is really required: a client with no certificate gets nowhere."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    with VerificationServer(tls_config=_our_config(pki, "server"), timeout=TIMEOUT) as server:
        ae = _ae("PYSCU")
        ae.add_requested_context(Verification)
        try:
            assoc = ae.associate("127.0.0.1", server.port, tls_args=(ctx, None))
            assert not assoc.is_established
        except (ssl.SSLError, OSError):
            pass  # TLS 1.2 fails in the handshake itself; TLS 1.3 after it, on first read
        finally:
            ae.shutdown()
    (result,) = server.results
    assert result.outcome == "error" and result.echoes == 0
    assert "no certificate" in result.error


def test_pynetdicom_sees_unsupported_abstract_syntax_rejected():
    with VerificationServer(timeout=TIMEOUT) as server:
        ae = _ae("PYSCU")
        ae.add_requested_context(CTImageStorage)
        try:
            assoc = ae.associate("127.0.0.1", server.port, ae_title="OURSCP")
            # Our SCP accepts the association with the context refused; pynetdicom, left with no
            # usable context, aborts it.
            assert not assoc.is_established
            assert assoc.accepted_contexts == []
            (rejected,) = assoc.rejected_contexts
            assert rejected.abstract_syntax == CTImageStorage
            assert rejected.result == 0x03  # abstract-syntax-not-supported
        finally:
            ae.shutdown()
    (result,) = server.results
    assert result.echoes == 0 and result.outcome == "aborted"
    assert [c.accepted for c in result.contexts.values()] == [False]
