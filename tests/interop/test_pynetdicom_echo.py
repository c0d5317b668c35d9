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

from dicomtls.io.association_runner import associate
from dicomtls.io.server import VerificationServer

from pynetdicom_peer import (TIMEOUT, PynetdicomServer, assert_same_session, evt, make_ae,
                             our_config, py_context, tls_seen_by_pynetdicom)
from pynetdicom.sop_class import CTImageStorage, Verification  # noqa: E402

pytestmark = pytest.mark.interop



# ---- helpers ------------------------------------------------------------------------------------
class _PynetdicomSCP(PynetdicomServer):
    """A pynetdicom Verification SCP on 127.0.0.1 (ephemeral port), recording what it sees."""

    def __init__(self, ssl_context=None):
        self.ae = make_ae("PYNETDICOM")
        self.ae.add_supported_context(Verification)
        self.echoes: list[dict] = []
        self._lock = threading.Lock()
        self.ssl_context = ssl_context
        self.server = None

    def _on_echo(self, event):
        with self._lock:
            self.echoes.append({"calling_ae": event.assoc.requestor.ae_title,
                                **tls_seen_by_pynetdicom(event.assoc)})
        return 0x0000

    def handlers(self) -> list:
        return [(evt.EVT_C_ECHO, self._on_echo)]


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
    with _PynetdicomSCP(py_context(pki, "server", version)) as scp:
        with associate("127.0.0.1", scp.port, tls_config=our_config(pki, "client"),
                       called_ae="PYNETDICOM", calling_ae="OURSCU", timeout=TIMEOUT) as assoc:
            assert assoc.echo() == 0x0000
            session = assoc.session
    (seen,) = scp.echoes
    assert seen["calling_ae"] == "OURSCU"
    assert_same_session(session, seen, version, our_name="dicomtls client")


# ---- pynetdicom SCU -> our SCP ------------------------------------------------------------------
def _pynetdicom_echo(port: int, *, ssl_context=None):
    """pynetdicom associates, sends two C-ECHOs, releases: (association, TLS seen, statuses)."""
    ae = make_ae("PYSCU")
    ae.add_requested_context(Verification)
    tls_args = (ssl_context, "127.0.0.1") if ssl_context is not None else None
    try:
        assoc = ae.associate("127.0.0.1", port, ae_title="OURSCP", tls_args=tls_args)
        assert assoc.is_established
        try:
            seen = tls_seen_by_pynetdicom(assoc)
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
    with VerificationServer(tls_config=our_config(pki, "server"), ae_title="OURSCP",
                            timeout=TIMEOUT) as server:
        assoc, seen, statuses = _pynetdicom_echo(
            server.port, ssl_context=py_context(pki, "client", version))
        assert assoc.is_released
    assert [s.Status for s in statuses] == [0x0000, 0x0000]
    (result,) = server.results
    assert (result.outcome, result.echoes) == ("released", 2)
    assert_same_session(result.session, seen, version, our_name="localhost")


def test_pynetdicom_scu_without_certificate_is_refused_by_our_tls_scp(pki):
    """Mutual authentication is really required: a client with no certificate gets nowhere."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=str(pki.ca_cert))
    with VerificationServer(tls_config=our_config(pki, "server"), timeout=TIMEOUT) as server:
        ae = make_ae("PYSCU")
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
        ae = make_ae("PYSCU")
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
