"""Choices both roles of the own engine make the same way: versions, groups, signature schemes,
and the SessionInfo they report.
"""

from __future__ import annotations

import logging
from typing import Optional

from ...errors import TLSProtocolViolation
from ..config import TLSConfig
from ..connection import SessionInfo
from ..protocol import AlertDescription
from ..suites import CipherSuite
from ..versions import TLSVersion
from . import extensions as ext
from .cipherspec import ENGINE_NAME, VERSIONS, allowed_at

log = logging.getLogger("dicomtls.tls")

# RSA signature schemes in our order of preference (RFC 8446 names; TLS 1.2 uses the same codes).
# PSS first: OpenSSL and GnuTLS prefer it too; SHA-1 last, kept for old TLS 1.2 peers.
SCHEMES = (
    ext.RSA_PSS_RSAE_SHA256, ext.RSA_PKCS1_SHA256, ext.RSA_PSS_RSAE_SHA384, ext.RSA_PKCS1_SHA384,
    ext.RSA_PSS_RSAE_SHA512, ext.RSA_PKCS1_SHA512, ext.RSA_PKCS1_SHA1,
)
ECDHE_GROUPS = (ext.X25519, ext.SECP256R1, ext.SECP384R1)
FFDHE_GROUPS = (ext.FFDHE2048, ext.FFDHE3072, ext.FFDHE4096)
GROUP_REPORT_NAMES = ext.GROUP_IANA_NAMES   # libssl's names: both engines report alike
GROUP_BITS = ext.GROUP_BITS
MIN_DH_BITS = 1024       # refused below: Logjam-size groups
WARN_DH_BITS = 2048      # accepted with a warning below


def version_range(config: TLSConfig) -> tuple[TLSVersion, TLSVersion]:
    """The configured versions this engine can speak (it stops at TLS 1.2)."""
    low, high = config.effective_versions()
    high = min(high, VERSIONS[-1])
    return low, high


def engine_suites(config: TLSConfig, low: TLSVersion, high: TLSVersion) -> list[CipherSuite]:
    """Configured suites the engine can run at some version in [low, high], in config order."""
    return [s for s in config.cipher_suites
            if any(allowed_at(s, v) for v in VERSIONS if low <= v <= high)]


def scheme_allowed(scheme: int, config: TLSConfig) -> bool:
    # SHA-1 signatures in TLS 1.2 only when the configuration already accepts legacy crypto.
    return scheme in SCHEMES and (scheme != ext.RSA_PKCS1_SHA1 or bool(config.legacy_choices))


def our_schemes(config: TLSConfig) -> list[int]:
    return [s for s in SCHEMES if scheme_allowed(s, config)]


def choose_scheme(peer: Optional[list], config: TLSConfig) -> Optional[int]:
    """Our preferred scheme among the peer's. No list at all means rsa_pkcs1_sha1 (RFC 5246
    7.4.1.4.1); a peer listing nothing better than SHA-1 gets SHA-1, with a warning."""
    scheme = _pick_scheme(peer, config)
    if scheme == ext.RSA_PKCS1_SHA1 and peer is not None and not scheme_allowed(scheme, config):
        log.warning("the TLS 1.2 peer accepts only SHA-1 signatures: using rsa_pkcs1_sha1")
    return scheme


def can_sign_for(peer: Optional[list], config: TLSConfig) -> bool:
    """Whether choose_scheme() finds a scheme (without its warning: the server asks this while
    it is still choosing a suite, maybe for a suite that signs nothing)."""
    return _pick_scheme(peer, config) is not None


def _pick_scheme(peer: Optional[list], config: TLSConfig) -> Optional[int]:
    if peer is None:
        return ext.RSA_PKCS1_SHA1
    for scheme in our_schemes(config):
        if scheme in peer:
            return scheme
    return ext.RSA_PKCS1_SHA1 if ext.RSA_PKCS1_SHA1 in peer else None


def signature_params(version: TLSVersion, scheme: Optional[int]) -> tuple[str, bool]:
    """(digest, pss) for dt_sign/dt_verify: MD5+SHA-1 without DigestInfo before TLS 1.2."""
    if version < TLSVersion.TLSv1_2:
        return "MD5-SHA1", False
    return ext.SCHEME_INFO[scheme]


def check_dh_prime(p: bytes, config: TLSConfig) -> int:
    bits = int.from_bytes(p, "big").bit_length()
    needed = max(MIN_DH_BITS, config.min_dhe_bits or 0)
    if bits < needed:
        raise TLSProtocolViolation(
            f"the server's DH group has {bits} bits; at least {needed} are required",
            alert=AlertDescription.INSUFFICIENT_SECURITY)
    if bits < WARN_DH_BITS:
        log.warning("TLS server offers a %d-bit DH group (weak; 2048 bits or more expected)", bits)
    return bits


def build_session(conn, suite: CipherSuite, group: Optional[int], kx_bits: Optional[int],
                  peer_chain: list, peer_verified: bool) -> SessionInfo:
    kx = suite.key_exchange
    name = GROUP_REPORT_NAMES.get(group) if group is not None else None
    if kx == "RSA":
        name, kx_bits = None, None
    elif kx_bits is None and group is not None:
        kx_bits = GROUP_BITS.get(group)
    return SessionInfo(
        protocol=conn.version, cipher_suite=suite, key_exchange=kx, key_exchange_group=name,
        key_exchange_bits=kx_bits, authentication=suite.authentication,
        peer_certificates=tuple(c.info() for c in peer_chain),
        peer_authenticated=bool(peer_chain) and peer_verified
        and conn.config.peer_cert != "ignore",
        engine=ENGINE_NAME, resumed=False)
