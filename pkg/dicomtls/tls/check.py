"""Checking a TLSConfig before it is used: what a server runs before it binds, a client before it
connects, and an integrator at deploy time (``dicomtls check-tls``).

The check builds the state the engines will use (``engines.prepare``), so it fails exactly where
the first handshake would have: an unreadable or garbled file, a wrong key password, a key that
does not belong to its certificate, a trust store OpenSSL cannot load, a policy that needs trusted
certificates without any. It raises the typed error (``KeyPasswordError``, ``KeyMismatchError``,
``CertificateLoadError``, ``ConfigurationError``...) whose message names the file and the cause.
What is usable but worth a look (an own certificate that expired or soon will) comes back as
warnings in the report.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass
from typing import Optional

from ..crypto.x509 import CertificateInfo, load_certificates
from .config import TLSConfig
from .credentials import load_own_credentials
from .engines import prepare

log = logging.getLogger("dicomtls.tls")

#: An own certificate closer than this to its end is reported (renewal takes a change window).
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class ConfigCheck:
    """What a passed check found: the engine, the own certificate and the trust anchors."""

    role: str
    engine: str                                   # libssl / dicomtls / select
    certificate: Optional[CertificateInfo]        # own leaf; None for a client without one
    trusted_certificates: Optional[int]           # in ca_file (None without a ca_file)
    warnings: tuple = ()

    def to_dict(self) -> dict:
        return {"role": self.role, "engine": self.engine,
                "certificate": self.certificate.to_dict() if self.certificate else None,
                "trusted_certificates": self.trusted_certificates,
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        own = (f"certificate {self.certificate.subject} valid until "
               f"{_day(self.certificate.not_after)}" if self.certificate else "no certificate")
        trust = ("" if self.trusted_certificates is None
                 else f", {self.trusted_certificates} trusted CA certificate(s)")
        return f"TLS {self.role} configuration usable on engine {self.engine}: {own}{trust}"


def check_config(config: TLSConfig, role: str = "server", *,
                 now: Optional[_dt.datetime] = None) -> ConfigCheck:
    """Load and check everything ``config`` names for ``role`` ("server" or "client").

    Raises the error the first connection would have met; returns a ``ConfigCheck`` otherwise
    (its warnings are also logged on ``dicomtls.tls``).
    The engines' state built here is cached on ``config``: connections reuse it (a password
    callback is not asked again)."""
    if role not in ("server", "client"):
        raise ValueError(f"role must be 'server' or 'client', not {role!r}")
    engine = prepare(config, role)
    chain, _key = load_own_credentials(config, role) if config.certificate else ([], None)
    leaf = chain[0].info() if chain else None
    warnings = []
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if leaf is not None:
        warnings.extend(_validity_warnings(f"certificate {config.certificate}", leaf, now))
    trusted = None
    if config.ca_file:
        anchors = load_certificates(config.ca_file, der=False)
        trusted = len(anchors)
        # An unreadable notAfter (None) fails OpenSSL's verification as surely as a past one.
        if all(a.not_after is None or a.not_after < now for a in anchors):
            unreadable = any(a.not_after is None for a in anchors)
            warnings.append(f"every certificate in {config.ca_file} has expired"
                            f"{' or has an unreadable validity date' if unreadable else ''}: "
                            "no peer chain can verify")
    for text in warnings:
        log.warning("%s", text)
    return ConfigCheck(role=role, engine=engine, certificate=leaf, trusted_certificates=trusted,
                       warnings=tuple(warnings))


def _day(when: Optional[_dt.datetime]) -> str:
    return "(unreadable date)" if when is None else f"{when:%Y-%m-%d}"


def _validity_warnings(what: str, info: CertificateInfo, now: _dt.datetime) -> list[str]:
    if info.not_before is None or info.not_after is None:
        # CertificateInfo keeps an unreadable time as None; OpenSSL's verification refuses it.
        return [f"{what} ({info.subject}) has an unreadable validity date: peers that check it "
                "will refuse the connection"]
    if info.not_after < now:
        return [f"{what} ({info.subject}) expired on {info.not_after:%Y-%m-%d}: peers that "
                "check it will refuse the connection"]
    if info.not_before > now:
        return [f"{what} ({info.subject}) is not valid before {info.not_before:%Y-%m-%d}"]
    left = info.not_after - now
    if left < _dt.timedelta(days=EXPIRY_WARNING_DAYS):
        return [f"{what} ({info.subject}) expires in {left.days} day(s), on "
                f"{info.not_after:%Y-%m-%d}"]
    return []


__all__ = ["ConfigCheck", "EXPIRY_WARNING_DAYS", "check_config"]
