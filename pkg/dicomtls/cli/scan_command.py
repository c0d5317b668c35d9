"""`dicomtls scan HOST PORT`: which TLS versions and ciphersuites a server accepts.

The probing is ``dicomtls.scan``; this module parses the options, builds the client side (the
shared TLS options: certificate, key, CAs, key log, engine) and prints a table and a summary, or
one JSON document with ``--json``. Exit 0 whenever the scan ran, whatever the server accepts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from ..errors import alert_name
from ..tls.versions import TLSVersion
from .options import bounded
from .tls_options import DEFAULT_PROFILE, add_tls_options, config_from_args

VERSION_NAMES = {v.short: v for v in TLSVersion}


def _profile_suites(name: str):
    from ..tls.profiles import get_profile   # the suite registry: only when a scan runs
    return get_profile(name).all_suites


def parse_versions(text: str) -> tuple[TLSVersion, ...]:
    """``1.2``, ``1.0-1.2``, ``1.2,1.3`` (ranges and lists combine): argparse type."""
    out = set()
    for part in text.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        try:
            lo, hi = TLSVersion.parse(low), TLSVersion.parse(high or low)
        except Exception:  # noqa: BLE001 - ConfigurationError, ValueError: all usage errors
            raise argparse.ArgumentTypeError(
                f"bad version range {part!r}: use 1.0 .. 1.3, e.g. 1.2 or 1.0-1.2") from None
        if lo > hi:
            raise argparse.ArgumentTypeError(f"bad version range {part!r}: {low} is above {high}")
        out.update(v for v in TLSVersion if lo <= v <= hi)
    return tuple(sorted(out))


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "scan", help="probe which TLS versions and ciphersuites a server accepts",
        description="One handshake per (version, suite) some engine of this build can offer "
                    "(libssl, or dicomtls' own engine for DES/3DES), then server preference, "
                    "encrypt-then-MAC, extended master secret, renegotiation_info and the PS3.15 "
                    "profiles the server can serve. Probes do not fail on an untrusted server "
                    "certificate (--peer-cert is not used); with --ca the chain is checked once. "
                    "--cipher or --profile limit the suites scanned.")
    p.add_argument("host")
    p.add_argument("port", type=bounded(int, 1, 65535))
    p.add_argument("--versions", type=parse_versions, default=tuple(TLSVersion), metavar="RANGE",
                   help="versions to probe: 1.0-1.3 (default), 1.2, 1.0-1.2, 1.2,1.3")
    p.add_argument("--timeout", type=bounded(float, 0.05, 600), default=5.0,
                   help="seconds per handshake (default 5)")
    p.add_argument("--max-time", type=bounded(float, 0.1, 86400), default=300.0,
                   help="seconds for the whole scan; later probes are skipped (default 300)")
    p.add_argument("--parallel", type=bounded(int, 1, 16), default=4,
                   help="handshakes at a time (default 4)")
    p.add_argument("--server-name", help="SNI name (default: HOST unless it is an address)")
    p.add_argument("--accepted-only", action="store_true",
                   help="table rows of accepted suites only")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_tls_options(p)
    # None = not given: the scan then covers the whole registry rather than one profile.
    p.set_defaults(func=cmd_scan, role="client", profile=None, _parser=p)


def _client_config(args):
    """The client side every probe starts from: credentials, trust, key log (the suites and
    versions are replaced per probe, so the default profile only has to be valid)."""
    shared = argparse.Namespace(**vars(args))
    shared.profile, shared.cipher, shared.engine = DEFAULT_PROFILE, [], "auto"
    shared.min_version = shared.max_version = None
    shared.peer_cert, shared.client_preference = "ignore", False
    return config_from_args(shared)


# The probing (``dicomtls.scan``) and the TLS configuration load when a scan runs, not when
# `dicomtls` builds this command's parser for every command.
def cmd_scan(args) -> int:
    from ..scan import scan
    from ..tls.config import parse_cipher_list
    versions = [v for v in args.versions
                if (args.min_version is None or v >= TLSVersion.parse(args.min_version))
                and (args.max_version is None or v <= TLSVersion.parse(args.max_version))]
    if not versions:
        args._parser.error("--versions and --min-version/--max-version leave no version to probe")
    suites = parse_cipher_list(args.cipher) or (
        _profile_suites(args.profile) if args.profile else None)
    report = scan(args.host, args.port, _client_config(args), versions, suites, args.timeout,
                  engine=args.engine, parallel=args.parallel, max_time=args.max_time,
                  server_name=args.server_name)
    if args.json:
        sys.stdout.write(json.dumps(report_json(report), indent=1) + "\n")
    else:
        print_report(report, accepted_only=args.accepted_only)
    return 0


def _probe_json(p) -> dict:
    from ..scan import version_label
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
    }


def _yes_no(value) -> str:
    return "not determined" if value is None else "yes" if value else "no"


def print_report(report, *, accepted_only: bool = False, out=None) -> None:
    from ..scan import ACCEPTED, NEEDS_CLIENT_CERT
    out = out or sys.stdout
    w = out.write
    low, high = min(report.versions), max(report.versions)
    w(f"scan of {report.host} port {report.port} ({report.address}): {len(report.probes)} "
      f"probes, {low.label}-{high.label}, {report.seconds:.1f} s, "
      f"{'with' if report.client_certificate else 'no'} client certificate\n\n")
    w(f"{'version':8} {'code':6}  {'IANA name':46} {'result':21} detail\n")
    for p in report.probes:
        if accepted_only and p.status != ACCEPTED:
            continue
        w(f"{p.version.label:8} {p.suite.code_hex:6}  {p.suite.name:46} "
          f"{p.status.replace('_', ' '):21} {p.detail}\n")
    w("\naccepted:\n")
    for version in report.versions[::-1]:
        names = [p.suite.name for p in report.accepted(version)]
        w(f"  {version.label:8} {', '.join(names) or '-'}\n")
    wants = [p for p in report.probes if p.status == NEEDS_CLIENT_CERT]
    if wants:
        w(f"needs a client certificate: {len(wants)} (version, suite) pairs the server chose "
          "(give --cert/--key to complete them)\n")
    if not any(p.tap.hello is not None or p.session for p in report.probes):
        w("no ServerHello came back at all: is TLS spoken on this port?\n")
    cert = report.certificate
    if cert.chain:
        leaf = cert.chain[0]
        w(f"server certificate: {leaf.subject} (issuer {leaf.issuer}, {leaf.key_type} "
          f"{leaf.key_bits}, until "
          f"{'an unreadable date' if leaf.not_after is None else f'{leaf.not_after:%Y-%m-%d}'}"
          f"), chain of {len(cert.chain)}; "
          f"verified: {_yes_no(cert.verified) if cert.verified is not None else cert.detail}\n")
        if cert.verified is False:
            w(f"  {cert.detail}\n")
    pref = report.preference
    if pref.mode == "server":
        order = " > ".join(s.name for s in pref.server_order)
        more = "" if pref.complete else " > ... (search bound reached)"
        w(f"preference ({pref.version.label}): the server's own order: {order}{more}\n")
    elif pref.mode:
        w(f"preference ({pref.version.label}): {pref.detail}\n")
    else:
        w(f"preference: not determined ({pref.detail})\n")
    ext = report.extensions
    w(f"encrypt-then-MAC: {_yes_no(ext.encrypt_then_mac)}, extended master secret: "
      f"{_yes_no(ext.extended_master_secret)}, secure renegotiation (renegotiation_info): "
      f"{_yes_no(ext.secure_renegotiation)}")
    w(f" [{ext.probe}]" if ext.probe else "")
    w(f" ({ext.detail})\n" if ext.detail else "\n")
    w("PS3.15 profiles this server can serve:\n")
    labels = {"yes": "yes", "with_client_cert": "yes, with a client certificate it accepts",
              "no": "no", "unknown": "unknown (not all its suites/versions were decided)"}
    for prof in report.profiles:
        example = f" ({prof.accepted[0][0].label} {prof.accepted[0][1].name})" \
            if prof.accepted else ""
        w(f"  {prof.profile:12} {prof.section or '-':12} {labels[prof.state]}{example}\n")
    if report.not_probed:
        w(f"not probed: {len(report.not_probed)} (version, suite) pairs no engine of this build "
          "can offer (--json lists them with the reason)\n")
    out.flush()
