"""Certificates for the own engine: the trust store, our chain and key, and peer-chain checks.

The policy is the libssl engine's: the same files, the same `peer_cert` rules, the same X509
purpose per role, the same depth limit and the same verify callback (it is called through the
`dt_py_verify` hook the libssl engine registers, with this engine's connection as the handle).
"""

from __future__ import annotations

from typing import Optional

from ..._binding import drain_errors, ffi, lib, libctx
from ...crypto.x509 import Certificate, certificates_from_bytes
from ...errors import (CertificateLoadError, CertificateVerifyError, ConfigurationError,
                      TLSProtocolViolation)
from .. import libssl_engine  # noqa: F401  (registers the dt_py_verify callback)
from ..config import TLSConfig
from ..credentials import (is_ip_address, load_own_credentials, require_trust_source,
                           trust_load_error)
from ..protocol import AlertDescription

# X509_V_ERR -> alert, as libssl maps them (ssl_verify_alarm_type).
_ALERT_FOR_VERIFY = {
    2: AlertDescription.UNKNOWN_CA, 3: AlertDescription.UNKNOWN_CA,
    19: AlertDescription.UNKNOWN_CA, 20: AlertDescription.UNKNOWN_CA,
    21: AlertDescription.UNKNOWN_CA, 22: AlertDescription.UNKNOWN_CA,
    7: AlertDescription.BAD_CERTIFICATE, 9: AlertDescription.BAD_CERTIFICATE,
    13: AlertDescription.BAD_CERTIFICATE, 14: AlertDescription.BAD_CERTIFICATE,
    15: AlertDescription.BAD_CERTIFICATE, 16: AlertDescription.BAD_CERTIFICATE,
    18: AlertDescription.BAD_CERTIFICATE,
    10: AlertDescription.CERTIFICATE_EXPIRED,
    26: AlertDescription.UNSUPPORTED_CERTIFICATE,
    50: AlertDescription.HANDSHAKE_FAILURE,
}


class OwnCredentials:
    """Trust store, own chain and private key of one (config, role), built once and shared."""

    def __init__(self, config: TLSConfig, role: str):
        self.config = config
        self.role = role
        self.store = None
        self.chain: list[Certificate] = []
        self.key = None
        self._load_trust()
        self._load_own_chain()

    def _load_trust(self):
        cfg = self.config
        require_trust_source(cfg)
        ca_file = cfg.ca_file.encode() if cfg.ca_file else ffi.NULL
        ca_dir = cfg.ca_dir.encode() if cfg.ca_dir else ffi.NULL
        store = lib.dt_store_new(libctx(), ca_file, ca_dir)
        if store == ffi.NULL:
            raise trust_load_error(cfg, drain_errors())
        self.store = ffi.gc(store, lib.X509_STORE_free)

    def _load_own_chain(self):
        chain, key = load_own_credentials(self.config, self.role)
        if chain and chain[0].public_key_type.upper() not in ("RSA", "RSA-PSS"):
            raise ConfigurationError(
                f"dicomtls' own TLS engine authenticates with RSA keys only; "
                f"{self.config.certificate} holds a {chain[0].public_key_type} key")
        self.chain = chain
        self.key = key

    @property
    def chain_der(self) -> list[bytes]:
        return [c.to_der() for c in self.chain]


def credentials(config: TLSConfig, role: str) -> OwnCredentials:
    return config.compiled(("own", role), lambda: OwnCredentials(config, role))


def parse_peer_chain(der_certs: list[bytes]) -> list[Certificate]:
    """The peer's Certificate message as X509 objects; an unparsable one is bad_certificate."""
    out = []
    for i, der in enumerate(der_certs):
        try:
            out.extend(certificates_from_bytes(bytes(der), der=True, source=f"peer certificate {i}"))
        except CertificateLoadError as exc:
            raise TLSProtocolViolation(f"the peer sent an unreadable certificate: {exc}",
                                       alert=AlertDescription.BAD_CERTIFICATE) from exc
    return out


def verify_peer_chain(conn, creds: OwnCredentials, chain: list[Certificate], *,
                      server_name: Optional[str] = None) -> bool:
    """Check the peer chain against the policy. True when it verified; raises on rejection.

    ``conn`` is the engine connection: the verify callback receives it through dt_py_verify
    (which reads ``conn.config`` and stores exceptions in ``conn._callback_error``).
    """
    cfg = creds.config
    if cfg.peer_cert == "ignore":
        return False
    peer_role_is_server = creds.role == "client"
    purpose = lib.X509_PURPOSE_SSL_SERVER if peer_role_is_server else lib.X509_PURPOSE_SSL_CLIENT
    host = ip = ffi.NULL
    if peer_role_is_server and cfg.verify_hostname:
        if not server_name:
            raise ConfigurationError("verify_hostname needs the server's name or address")
        if is_ip_address(server_name):
            ip = server_name.encode()
        else:
            host = server_name.encode()
    ptrs = ffi.new("X509 *[]", [c.ptr for c in chain])
    # dt_py_verify's handle: C calls back only inside dt_verify_chain, so the handle (and with it
    # ``conn``) needs to live just as long as this call.
    handle = ffi.new_handle(conn)
    err, depth = ffi.new("int *"), ffi.new("int *")
    depth_limit = cfg.verify_depth if cfg.verify_depth is not None else -1
    rc = lib.dt_verify_chain(creds.store, ptrs, len(chain), depth_limit, purpose, host, ip,
                             handle, int(cfg.verify_callback is not None), err, depth)
    errors = drain_errors()
    if conn._callback_error is not None:
        raise conn._callback_error
    if rc == 1:
        return True
    if rc < 0:
        raise CertificateVerifyError(
            "peer certificate check failed: " + ("; ".join(map(str, errors)) or "internal error"),
            verify_code=1, depth=0, alert_sent=AlertDescription.CERTIFICATE_UNKNOWN,
            openssl_errors=errors)
    code = err[0]
    text = ffi.string(lib.X509_verify_cert_error_string(code)).decode()
    raise CertificateVerifyError(
        f"peer certificate rejected at depth {depth[0]}: {text} (X509_V_ERR {code})",
        verify_code=code, depth=depth[0], openssl_errors=errors,
        alert_sent=_ALERT_FOR_VERIFY.get(code, AlertDescription.BAD_CERTIFICATE))
