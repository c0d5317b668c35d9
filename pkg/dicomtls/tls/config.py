"""TLSConfig: one immutable description of a TLS endpoint, shared by the client and server roles.

It is built from a PS3.15 profile plus overrides, validated once, and never changed afterwards;
engines compile it into their own state (an SSL_CTX for libssl) and cache that on the config.
Legacy choices (DES, 3DES, NULL, TLS 1.0/1.1) are only possible when named, and are logged with a
warning because a DICOM peer that needs them also needs its operator to know.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Optional, Sequence, Union

from ..crypto.keys import Password
from ..errors import ConfigurationError
from .profiles import DEFAULT_PROFILE, get_profile
from .suites import CipherSuite, lookup
from .versions import TLSVersion

log = logging.getLogger("dicomtls.tls")

PEER_CERT_POLICIES = ("require", "verify", "ignore")
ENGINE_CHOICES = ("auto", "libssl", "dicomtls")


class LegacyCryptoWarning(UserWarning):
    """A configuration enables a suite or protocol version that is kept only for old peers."""


@dataclass(frozen=True)
class VerifyContext:
    """What the verify callback sees for one certificate of the peer chain (LEAD ``OnVerify``).

    ``ok`` is OpenSSL's verdict so far, ``error`` the X509_V_ERR code (0 when ok), ``depth`` the
    position in the chain (0 = the peer's own certificate).
    """

    ok: bool
    error: int
    error_string: str
    depth: int
    certificate: object  # dicomtls.crypto.x509.Certificate, None if OpenSSL has none at hand

    @property
    def certificate_text(self) -> str:
        return self.certificate.info().describe() if self.certificate is not None else ""


VerifyCallback = Callable[[VerifyContext], bool]


@dataclass(frozen=True)
class TLSConfig:
    """Everything a TLS endpoint needs. Build with ``TLSConfig.from_profile(...)`` or directly."""

    certificate: Optional[str] = None          # own chain, leaf first (PEM or DER)
    private_key: Optional[str] = None          # None: the key is in the certificate file
    file_format: str = "pem"                   # "pem" or "der" (LEAD's PEM / ASN1 file types)
    key_password: Password = None              # str/bytes, or callback(size, rwflag) -> password
    ca_file: Optional[str] = None
    ca_dir: Optional[str] = None
    peer_cert: str = "require"                 # require / verify (if presented) / ignore
    verify_depth: Optional[int] = None
    verify_callback: Optional[VerifyCallback] = None
    verify_hostname: bool = False              # DICOM peers are usually not named by DNS
    min_version: TLSVersion = TLSVersion.TLSv1_2
    max_version: TLSVersion = TLSVersion.TLSv1_3
    cipher_suites: tuple = ()                  # TLS <= 1.2 suites, in proposal order
    tls13_suites: tuple = ()
    server_preference: bool = True             # a server picks by its own order
    keylog_file: Optional[str] = None
    profile: str = DEFAULT_PROFILE
    min_dhe_bits: Optional[int] = None
    engine: str = "auto"                       # auto / libssl / dicomtls (tls/engines.py)
    encrypt_then_mac: bool = True              # RFC 7366 (CBC suites, TLS <= 1.2)
    extended_master_secret: bool = True        # RFC 7627 (TLS <= 1.2)
    #: TLS session resumption, off (None) by default: a ``tls.session_cache.SessionCache``
    #: (libssl engine; see that module for why it is opt-in)
    session_cache: Optional[object] = field(default=None, compare=False)
    #: libssl's security level (0-5); None: 0 when legacy versions or suites are enabled (OpenSSL
    #: 3 refuses them above it), else 2 (keys and DH groups of 2048 bits and more). A scanner
    #: sets 0 to see, and report, what a server offers below that.
    security_level: Optional[int] = None
    #: Key exchange groups libssl offers, in order (libssl's names: "X25519", "P-256",
    #: "ffdhe2048", ...); empty: the defaults (a scanner offers one at a time).
    groups: tuple = ()
    _quiet: bool = field(default=False, compare=False, repr=False)  # derived copy: warned once
    _compiled: dict = field(default_factory=dict, compare=False, repr=False, hash=False)
    _compile_lock: threading.RLock = field(default_factory=threading.RLock, compare=False,
                                          repr=False, hash=False)

    def __post_init__(self):
        fix = object.__setattr__
        fix(self, "min_version", TLSVersion.parse(self.min_version))
        fix(self, "max_version", TLSVersion.parse(self.max_version))
        fix(self, "cipher_suites", tuple(lookup(s) for s in self.cipher_suites))
        fix(self, "tls13_suites", tuple(lookup(s) for s in self.tls13_suites))
        if self.file_format not in ("pem", "der"):
            raise ConfigurationError(f"file_format must be 'pem' or 'der', not {self.file_format!r}")
        if self.engine not in ENGINE_CHOICES:
            raise ConfigurationError(
                f"engine must be one of {', '.join(ENGINE_CHOICES)}, not {self.engine!r}")
        fix(self, "groups", tuple(self.groups))
        if self.security_level is not None and self.security_level not in range(6):
            raise ConfigurationError(f"security_level must be 0-5, not {self.security_level!r}")
        if self.peer_cert not in PEER_CERT_POLICIES:
            raise ConfigurationError(
                f"peer_cert must be one of {', '.join(PEER_CERT_POLICIES)}, not {self.peer_cert!r}")
        if self.min_version > self.max_version:
            raise ConfigurationError(
                f"minimum version {self.min_version.label} is above maximum {self.max_version.label}")
        if self.verify_depth is not None and self.verify_depth < 0:
            raise ConfigurationError("verify_depth must be >= 0")
        for suite in self.cipher_suites:
            if suite.is_tls13:
                raise ConfigurationError(f"{suite.name} is a TLS 1.3 suite; put it in tls13_suites")
        for suite in self.tls13_suites:
            if not suite.is_tls13:
                raise ConfigurationError(f"{suite.name} is not a TLS 1.3 suite")
        if not self.usable_suites():
            raise ConfigurationError(
                f"no ciphersuite is usable between {self.min_version.label} and "
                f"{self.max_version.label}: {', '.join(self.suite_names()) or 'none given'}")
        if self.private_key and not self.certificate:
            raise ConfigurationError("a private key was given without a certificate")
        for path in (self.certificate, self.private_key, self.ca_file):
            if path is not None and not os.path.isfile(path):
                raise ConfigurationError(f"no such file: {path}")
        if self.ca_dir is not None and not os.path.isdir(self.ca_dir):
            raise ConfigurationError(f"no such directory: {self.ca_dir}")
        self._warn_legacy()

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def from_profile(cls, profile: str = DEFAULT_PROFILE, *,
                     ciphers: Sequence[Union[str, int, CipherSuite]] = (),
                     min_version=None, max_version=None, **kwargs) -> "TLSConfig":
        """A profile's suites and versions, optionally overridden.

        ``ciphers`` replaces the profile's list exactly (TLS 1.3 suites among them go to the 1.3
        list), for conformance testing; without TLS 1.3 suites TLS 1.3 is then not offered unless
        ``max_version`` asks for it.
        """
        prof = get_profile(profile)
        suites = prof.suites
        tls13 = prof.tls13_suites
        max_v = prof.max_version
        if ciphers:
            named = [lookup(c) for c in ciphers]
            suites = tuple(s for s in named if not s.is_tls13)
            tls13 = tuple(s for s in named if s.is_tls13)
            if not tls13 and max_v >= TLSVersion.TLSv1_3 and max_version is None:
                max_v = TLSVersion.TLSv1_2
            if not suites and min_version is None:
                min_version = TLSVersion.TLSv1_3
        min_v = TLSVersion.parse(min_version) if min_version is not None else prof.min_version
        if max_version is not None:
            max_v = TLSVersion.parse(max_version)
        if min_version is not None and max_version is None and min_v > max_v:
            max_v = min_v
        if max_version is not None and min_version is None and max_v < min_v:
            min_v = max_v
        kwargs.setdefault("min_dhe_bits", prof.min_dhe_bits)
        return cls(cipher_suites=suites, tls13_suites=tls13, min_version=min_v,
                   max_version=max_v, profile=prof.name, **kwargs)

    def replace(self, **changes) -> "TLSConfig":
        """A copy with fields changed (and validated again)."""
        changes.setdefault("_compiled", {})
        changes.setdefault("_compile_lock", threading.RLock())
        return replace(self, **changes)

    # ---- derived views ----------------------------------------------------------------------
    def versions(self) -> tuple[TLSVersion, ...]:
        return tuple(v for v in TLSVersion if self.min_version <= v <= self.max_version)

    def effective_versions(self) -> tuple[TLSVersion, TLSVersion]:
        """The allowed range narrowed to versions some configured suite can run: a config with
        only TLS 1.3 suites never offers 1.2, one with no 1.3 suite never offers 1.3."""
        usable = [v for v in self.versions()
                  if any(s.min_version <= v <= s.max_version for s in self.usable_suites())]
        return usable[0], usable[-1]

    def usable_suites(self) -> tuple[CipherSuite, ...]:
        """The suites some allowed version can negotiate, in proposal order (1.3 suites first)."""
        out = []
        if self.max_version >= TLSVersion.TLSv1_3:
            out.extend(self.tls13_suites)
        if self.min_version <= TLSVersion.TLSv1_2:
            low = self.min_version
            high = min(self.max_version, TLSVersion.TLSv1_2)
            out.extend(s for s in self.cipher_suites
                       if s.min_version <= high and s.max_version >= low)
        return tuple(out)

    def suite_names(self) -> list[str]:
        return [s.name for s in self.tls13_suites + self.cipher_suites]

    @property
    def legacy_choices(self) -> list[str]:
        items = [s.name for s in self.cipher_suites if s.legacy]
        items += [v.label for v in self.versions() if v < TLSVersion.TLSv1_2]
        return items

    def _warn_legacy(self):
        legacy = self.legacy_choices
        if legacy and not self._quiet:
            text = ("legacy TLS enabled by configuration (profile %s): %s; use only with peers that "
                    "cannot do better" % (self.profile, ", ".join(legacy)))
            log.warning(text)
            warnings.warn(text, LegacyCryptoWarning, stacklevel=4)

    def compiled(self, key, build: Callable[[], object]):
        """Engine state built once per config and role (e.g. the SSL_CTX), thread-safe."""
        value = self._compiled.get(key)
        if value is None:
            with self._compile_lock:
                value = self._compiled.get(key)
                if value is None:
                    value = build()
                    self._compiled[key] = value
        return value


def parse_cipher_list(items: Iterable[str]) -> list[CipherSuite]:
    """Command-line cipher arguments: names, codes, or comma/colon-separated lists of them."""
    out = []
    for item in items:
        for part in item.replace(",", ":").split(":"):
            if part.strip():
                out.append(lookup(part.strip()))
    return out
