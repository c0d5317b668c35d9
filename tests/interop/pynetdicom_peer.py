"""pynetdicom as a test peer: shared by the pynetdicom interop modules.

Importing this module skips the importing test module when pynetdicom is missing on a developer
machine, and fails it in CI (REQUIRE_PEERS), like every other peer.
"""

from __future__ import annotations

import ssl

import pytest

from conftest import REQUIRE_PEERS
from dicomtls.tls.config import TLSConfig
from dicomtls.tls.versions import TLSVersion

try:
    from pynetdicom import AE, evt  # noqa: F401  (re-exported for the test modules)
except ImportError:
    if REQUIRE_PEERS:
        raise
    pytest.skip("pynetdicom is not installed", allow_module_level=True)

TIMEOUT = 10
PY_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def make_ae(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    return ae


def py_context(pki, side: str, version: str | None = None) -> ssl.SSLContext:
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


def our_config(pki, side: str) -> TLSConfig:
    server = side == "server"
    return TLSConfig.from_profile(certificate=str(pki.server_cert if server else pki.client_cert),
                                  private_key=str(pki.server_key if server else pki.client_key),
                                  ca_file=str(pki.ca_cert))


def tls_seen_by_pynetdicom(assoc) -> dict:
    sock = assoc.dul.socket.socket
    if not isinstance(sock, ssl.SSLSocket):
        return {"version": None, "cipher": None, "peer_cert": None}
    return {"version": sock.version(), "cipher": sock.cipher()[0],
            "peer_cert": sock.getpeercert()}


def common_name(peer_cert: dict) -> str:
    return dict(rdn[0] for rdn in peer_cert["subject"])["commonName"]


def assert_same_session(session, seen: dict, version: str | None, our_name: str) -> None:
    """Our SessionInfo and pynetdicom's ssl socket agree on version and suite, and each side
    verified the other's certificate (``our_name``: the CN pynetdicom must have seen)."""
    assert session is not None and session.peer_authenticated
    assert seen["peer_cert"], "pynetdicom did not receive (or verify) our certificate"
    assert common_name(seen["peer_cert"]) == our_name
    assert seen["version"] == session.protocol.name.replace("_", ".")
    if version is not None:
        assert session.protocol == TLSVersion.parse(f"TLSv{version}")
    # Python reports OpenSSL's suite name (IANA-style for TLS 1.3, OpenSSL-style before).
    assert seen["cipher"] == session.cipher_suite.openssl_name, (seen, session.cipher_suite)


class PynetdicomServer:
    """A pynetdicom SCP on 127.0.0.1 (ephemeral port) as a context manager. Subclasses set
    ``self.ae`` (with its supported contexts) and list their ``handlers()``."""

    ae: AE
    ssl_context = None
    server = None

    def handlers(self) -> list:
        raise TypeError(f"{type(self).__name__} must list its event handlers")

    def __enter__(self):
        self.server = self.ae.start_server(("127.0.0.1", 0), block=False,
                                           ssl_context=self.ssl_context,
                                           evt_handlers=self.handlers())
        return self

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __exit__(self, *exc):
        try:
            self.server.shutdown()
        finally:
            self.ae.shutdown()
