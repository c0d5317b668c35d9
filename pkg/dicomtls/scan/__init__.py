"""The conformance scanner: which TLS versions and suites a server accepts, over libssl and
dicomtls' own engine (so DES, 3DES and NULL can be probed), with server preference, extensions,
certificate trust, client authentication, the PS3.15 profiles the server can serve, a DICOM
association over each, and verdicts per PS3.15 profile and IHE ATNA option.

``scan(host, port, config)`` returns a ``ScanReport``; ``scanner`` holds the report and the
orchestration, ``probe`` one handshake per (version, suite) and its classification,
``dicom_check`` the associations, ``assess`` client authentication and the evidence that
``verdicts`` judges, ``report_json`` the versioned JSON document.
"""

from .probe import (ACCEPTED, CLIENT_CERT_REJECTED, FAILED, NEEDS_CLIENT_CERT, REFUSED,
                    SKIPPED, TIMEOUT, UNTRUSTED, ProbeResult, ScanTargetError, Target,
                    version_label)
from .dicom_check import DicomCheck
from .report_json import SCHEMA_VERSION, report_json
from .scanner import (CertificateReport, Extensions, Preference, ProfileSupport, ScanReport,
                      profile_support, scan)
from .verdicts import POLICIES, Reason, Verdict

__all__ = ["ACCEPTED", "CLIENT_CERT_REJECTED", "CertificateReport", "DicomCheck", "Extensions",
           "FAILED", "NEEDS_CLIENT_CERT", "POLICIES", "Preference", "ProbeResult",
           "ProfileSupport", "REFUSED", "Reason", "SCHEMA_VERSION", "SKIPPED", "ScanReport",
           "ScanTargetError", "TIMEOUT", "Target", "UNTRUSTED", "Verdict", "profile_support",
           "report_json", "scan", "version_label"]
