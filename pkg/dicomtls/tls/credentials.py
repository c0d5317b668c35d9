"""Loading an endpoint's own certificate chain and private key from a TLSConfig, for both engines,
and the one rule both engines use to tell an IP address from a host name."""

from __future__ import annotations

import ipaddress

from .._binding import drain_errors, lib
from ..crypto.keys import PrivateKey, load_private_key
from ..crypto.x509 import Certificate, load_certificates, locate_certificate_problem
from ..errors import CertificateLoadError, ConfigurationError, KeyMismatchError
from .config import TLSConfig


def load_own_credentials(config: TLSConfig, role: str) -> tuple[list[Certificate], PrivateKey | None]:
    """(chain leaf first, key) from the config; ([], None) for a client without a certificate.

    Read once per config and role and cached on it, so the key password (string or callback) is
    asked for once however many engines and checks use the key. A key that does not belong to
    the leaf certificate is a KeyMismatchError naming both files.
    """
    return config.compiled(("own-credentials", role), lambda: _read_own_credentials(config, role))


def _read_own_credentials(config: TLSConfig, role: str):
    if not config.certificate:
        if role == "server":
            raise ConfigurationError("a TLS server needs a certificate and private key")
        return [], None
    der = config.file_format == "der"
    chain = load_certificates(config.certificate, der=der)
    key = load_private_key(config.private_key or config.certificate, password=config.key_password,
                           der=der if config.private_key else None)
    if not lib.X509_check_private_key(chain[0].ptr, key.ptr):
        drain_errors()
        raise KeyMismatchError(
            f"private key {config.private_key or config.certificate} does not match certificate "
            f"{config.certificate} ({chain[0].subject})")
    return chain, key


def require_trust_source(config: TLSConfig) -> None:
    """A policy that checks peer certificates needs something to check them against."""
    if config.peer_cert != "ignore" and not (config.ca_file or config.ca_dir):
        raise ConfigurationError(
            f"peer_cert={config.peer_cert!r} needs trusted certificates (ca_file or ca_dir; "
            "--ca or --ca-dir on the command line)",
            setting="ca_file")


def trust_load_error(config: TLSConfig, errors) -> CertificateLoadError:
    """The error for a trust store OpenSSL refused, naming the file and the certificate in it
    that failed (OpenSSL's queue names neither)."""
    where = config.ca_file or config.ca_dir
    detail = locate_certificate_problem(config.ca_file) if config.ca_file else None
    if detail is None:
        detail = "; ".join(map(str, errors)) or "no certificate in it"
    return CertificateLoadError(f"cannot load trusted certificates from {where}: {detail}",
                                path=where)


def is_ip_address(name: str) -> bool:
    """SNI carries host names only, and peers are checked by IP or by name accordingly."""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
