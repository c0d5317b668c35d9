"""The scan report as one JSON document, versioned: ``schema`` names the format and
``schema_version`` counts its incompatible changes (a field removed or changing meaning);
fields are only added within a version. The fields are documented in docs/scan-report.md.
"""

from __future__ import annotations

import dataclasses

from ..errors import alert_name
from .probe import version_label

SCHEMA = "dicomtls-scan"
SCHEMA_VERSION = 1


def _probe_json(p) -> dict:
    s, tap = p.session, p.tap
    return {
        "version": p.version.label, "code": p.suite.code_hex, "suite": p.suite.name,
        "engine": p.engine, "result": p.status, "detail": p.detail,
        "alert": alert_name(p.alert) if p.alert is not None else None, "alert_code": p.alert,
        "alert_by": p.alert_by,
        "chosen_version": version_label(tap.version) if tap.version else None,
        "chosen_suite": None if tap.suite is None else f"0x{tap.suite:04X}",
        "server_extensions": list(tap.extensions),
        "key_exchange_group": s.key_exchange_group if s else None,
        "key_exchange_bits": s.key_exchange_bits if s else None,
        "seconds": round(p.seconds, 4),
    }


def report_json(report) -> dict:
    """The whole report as one JSON-ready document: versions and suites by name."""
    pref, cert = report.preference, report.certificate
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "host": report.host, "port": report.port, "address": report.address,
        "versions": [v.label for v in report.versions],
        "client_certificate": report.client_certificate, "seconds": round(report.seconds, 3),
        "accepted": [{"version": p.version.label, "suite": p.suite.name,
                      "code": p.suite.code_hex} for p in report.accepted()],
        "probes": [_probe_json(p) for p in report.probes],
        "not_probed": [{"version": v.label, "suite": s.name, "reason": reason}
                       for v, s, reason in report.not_probed],
        "certificate": {"chain": [c.to_dict() for c in cert.chain], "verified": cert.verified,
                        "detail": cert.detail},
        "preference": {"version": pref.version.label if pref.version else None,
                       "mode": pref.mode, "engine": pref.engine,
                       "server_order": [s.name for s in pref.server_order],
                       "complete": pref.complete, "detail": pref.detail},
        "extensions": dataclasses.asdict(report.extensions),
        "profiles": [{"profile": p.profile, "section": p.section, "state": p.state,
                      "accepted": [f"{v.label} {s.name}" for v, s in p.accepted]}
                     for p in report.profiles],
        "client_auth": {"state": report.client_auth, "detail": report.client_auth_detail},
        "dicom": [c.to_dict() for c in report.dicom],
        "verdicts": [v.to_dict() for v in report.verdicts],
        "findings": [f.to_dict() for f in report.findings],
        "robot": report.robot.to_dict() if report.robot is not None else None,
        "questions": {name: a.to_dict() for name, a in report.questions.items()},
    }
