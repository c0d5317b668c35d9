"""The ciphersuite scanner: which TLS versions and suites a server accepts, over libssl and
dicomtls' own engine (so DES, 3DES and NULL can be probed), with server preference, extensions,
certificate trust and the PS3.15 profiles the server can serve.

``scan(host, port, config)`` returns a ``ScanReport``; ``scanner`` holds the report and the
orchestration, ``probe`` one handshake per (version, suite) and its classification.
"""

from .probe import (ACCEPTED, CLIENT_CERT_REJECTED, FAILED, NEEDS_CLIENT_CERT, REFUSED,
                    SKIPPED, TIMEOUT, UNTRUSTED, ProbeResult, ScanTargetError, Target,
                    version_label)
from .scanner import (CertificateReport, Extensions, Preference, ProfileSupport, ScanReport,
                      profile_support, scan)

__all__ = ["ACCEPTED", "CLIENT_CERT_REJECTED", "CertificateReport", "Extensions", "FAILED",
           "NEEDS_CLIENT_CERT", "Preference", "ProbeResult", "ProfileSupport", "REFUSED",
           "SKIPPED", "ScanReport", "ScanTargetError", "TIMEOUT", "Target", "UNTRUSTED",
           "profile_support", "scan", "version_label"]
