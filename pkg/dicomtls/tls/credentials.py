"""Loading an endpoint's own certificate chain and private key from a TLSConfig, for both engines,
and the one rule both engines use to tell an IP address from a host name."""

from __future__ import annotations

import ipaddress

from .._binding import drain_errors, lib
from ..crypto.keys import PrivateKey, load_private_key
from ..crypto.x509 import Certificate, load_certificates
from ..errors import ConfigurationError, KeyMismatchError
from .config import TLSConfig


def load_own_credentials(config: TLSConfig, role: str) -> tuple[list[Certificate], PrivateKey | None]:
    """(chain leaf first, key) from the config; ([], None) for a client without a certificate.

    The key password (string or callback) is asked for here; a key that does not belong to the
    leaf certificate is a KeyMismatchError naming both files.
    """
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


def is_ip_address(name: str) -> bool:
    """SNI carries host names only, and peers are checked by IP or by name accordingly."""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
