"""`dicomtls scan HOST PORT`: which TLS versions and ciphersuites a server accepts, whether DICOM
runs over them, and verdicts per PS3.15 profile and IHE ATNA option.

The probing is ``dicomtls.scan``; this module parses the options, builds the client side (the
shared TLS options: certificate, key, CAs, key log, engine) and prints a table and a summary, or
one JSON document with ``--json`` (schema: docs/scan-report.md). Exit 0 whenever the scan ran,
unless ``--policy`` names a policy the server does not meet (3) or that was not decided (4).
"""

from __future__ import annotations

import argparse
import json
import sys

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
    p.add_argument("host", nargs="?")
    p.add_argument("port", nargs="?", type=bounded(int, 1, 65535))
    p.add_argument("--targets", metavar="FILE",
                   help="scan every target of an inventory file instead of HOST PORT: lines "
                        "'HOST PORT' or 'HOST:PORT', optionally 'called_ae=AE server_name=NAME'; "
                        "# comments. One report for all; --max-time is the whole run's budget")
    p.add_argument("--target-parallel", type=bounded(int, 1, 32), default=2, metavar="N",
                   help="targets scanned at a time (default 2)")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown report")
    p.add_argument("--html", metavar="FILE",
                   help="also write a self-contained HTML report (verdict table, findings, "
                        "DICOM checks, per-suite details)")
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
    p.add_argument("--no-dicom", action="store_true",
                   help="skip the association (A-ASSOCIATE + C-ECHO) over each profile the "
                        "server can serve")
    p.add_argument("--no-robot", action="store_true",
                   help="skip the Bleichenbacher oracle check on RSA key transport")
    p.add_argument("--no-questions", action="store_true",
                   help="skip the extra handshakes (fallback SCSV, compression, curves, "
                        "resumption, renegotiation)")
    p.add_argument("--calling-ae", default=None, metavar="AE",
                   help="our AE title in those associations (default DICOMTLS-SCAN)")
    p.add_argument("--called-ae", default=None, metavar="AE",
                   help="the server's AE title in them (default ANY-SCP)")
    p.add_argument("--policy", action="append", default=[], metavar="NAME",
                   help="judge against this policy and exit 3 when the server is not "
                        "conformant, 4 when it could not be decided (repeatable): a PS3.15 "
                        "profile (basic, aes, bcp195, bcp195-nd, bcp195-ex, rfc8996, "
                        "rfc8996-mod) or an IHE ATNA option (atna-bcp195, atna-tls10-aes, "
                        "atna-aes-baseline); the report shows every verdict either way")
    add_tls_options(p)
    # None = not given: the scan then covers the whole registry rather than one profile.
    p.set_defaults(func=cmd_scan, role="client", profile=None, _parser=p)
    r = sub.add_parser("scan-report", help="render saved `scan --json` output as Markdown or HTML",
                       description="Render the JSON of `dicomtls scan --json` (one scan or a "
                                   "--targets inventory) or of `dicomtls scan-client --json` as "
                                   "Markdown (default) or a self-contained HTML page, on "
                                   "stdout.")
    r.add_argument("file")
    r.add_argument("--format", choices=("markdown", "html"), default="markdown")
    r.set_defaults(func=cmd_scan_report)


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
    from ..scan.dicom_check import DEFAULT_CALLED_AE, DEFAULT_CALLING_AE
    from ..scan.verdicts import POLICIES, CONFORMANT, NOT_CONFORMANT
    policies = [_policy_name(p, POLICIES, args._parser) for p in args.policy]
    if (args.targets is None) == (args.host is None or args.port is None):
        args._parser.error("give HOST PORT, or --targets FILE (not both)")
    config = _client_config(args)

    def scan_one(host, port, called_ae, server_name, max_time):
        return scan(host, port, config, versions, suites, args.timeout, engine=args.engine,
                    parallel=args.parallel, max_time=max_time, server_name=server_name,
                    dicom=not args.no_dicom, robot=not args.no_robot,
                    questions=not args.no_questions,
                    calling_ae=args.calling_ae or DEFAULT_CALLING_AE,
                    called_ae=called_ae or args.called_ae or DEFAULT_CALLED_AE)

    if args.targets:
        docs = _scan_targets(args, scan_one)
    else:
        report = scan_one(args.host, args.port, None, args.server_name, args.max_time)
        from ..scan.report_json import report_json
        docs = [report_json(report)]
        if args.json:
            sys.stdout.write(json.dumps(docs[0], indent=1) + "\n")
        else:
            print_report(report, accepted_only=args.accepted_only)
    _write_rendered(args, docs)
    results = [v["result"] for d in docs for v in d.get("verdicts", []) if v["policy"] in policies]
    if any(r == NOT_CONFORMANT for r in results):
        return 3
    unscanned = policies and any(d.get("error") for d in docs)
    return 4 if unscanned or any(r != CONFORMANT for r in results) else 0


def _scan_targets(args, scan_one) -> list:
    from ..scan.inventory import parse_targets, scan_inventory
    from pathlib import Path
    targets = parse_targets(Path(args.targets).read_text(encoding="utf-8"))
    inventory = scan_inventory(
        targets, lambda t, left: scan_one(t.host, t.port, t.called_ae, t.server_name,
                                          min(args.max_time, left)),
        parallel=args.target_parallel, max_time=args.max_time)
    if args.json:
        sys.stdout.write(json.dumps(inventory, indent=1) + "\n")
    else:
        from ..scan.report_render import render_markdown
        sys.stdout.write(render_markdown(inventory["targets"]))
    return inventory["targets"]


def _write_rendered(args, docs) -> None:
    from ..scan.report_render import render_html, render_markdown
    for path, render in ((args.markdown, render_markdown), (args.html, render_html)):
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(render(docs))


def cmd_scan_report(args) -> int:
    """Render saved ``--json`` output (one scan or an inventory) as Markdown or HTML."""
    from ..scan.report_render import render_html, render_markdown
    with open(args.file, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("schema") == "dicomtls-scan-client":
        docs = doc
    else:
        docs = doc["targets"] if "targets" in doc else [doc]
    sys.stdout.write((render_html if args.format == "html" else render_markdown)(docs))
    return 0


def _policy_name(name: str, known, parser) -> str:
    """A policy by name, or by a profile alias (B.12, +pg, ...)."""
    if name in known:
        return name
    from ..errors import UnknownProfileError
    from ..tls.profiles import get_profile
    try:
        profile = get_profile(name).name
    except UnknownProfileError:
        profile = None
    if profile in known:
        return profile
    parser.error(f"unknown policy {name!r}; known: {', '.join(known)}")


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
    w(f"client certificate: {report.client_auth or 'not decided'} "
      f"({report.client_auth_detail})\n")
    if report.robot is not None:
        r = report.robot
        over = f" over {r.version} {r.suite}" if r.suite else ""
        w(f"Bleichenbacher oracle (ROBOT){over}: {r.state.replace('_', ' ')} ({r.detail})"
          f"{'; timing: ' + r.timing if r.timing else ''}\n")
    for name, answer in report.questions.items():
        values = f" [{', '.join(answer.values)}]" if answer.values else ""
        w(f"{name.replace('_', ' ')}: {answer.state.replace('_', ' ')}{values} "
          f"({answer.detail})\n")
    _print_dicom(report, w)
    _print_verdicts(report, w)
    _print_findings(report, w)
    out.flush()


def _print_dicom(report, w) -> None:
    if not report.dicom:
        return
    w("DICOM over each profile (A-ASSOCIATE-RQ Verification, C-ECHO):\n")
    for c in report.dicom:
        flag = "  FINDING" if c.finding else ""
        over = f" over {c.version.label} {c.suite.name}" if c.suite else ""
        w(f"  {c.profile:12} {c.outcome:12}{over}: {c.detail}{flag}\n")
        if c.implementation_class_uid:
            w(f"  {'':12} peer max PDU {c.peer_max_pdu}, implementation "
              f"{c.implementation_class_uid} {c.implementation_version_name or ''}\n")


def _print_findings(report, w) -> None:
    w(f"findings: {len(report.findings) or 'none'}\n")
    for f in report.findings:
        w(f"  {f.severity:6} {f.id:26} {f.title}: {f.detail}\n")
        for item in f.evidence[:6]:
            w(f"  {'':33} {item}\n")
        if len(f.evidence) > 6:
            w(f"  {'':33} ... {len(f.evidence) - 6} more (--json lists all)\n")


def _print_verdicts(report, w) -> None:
    w("verdicts:\n")
    for v in report.verdicts:
        w(f"  {v.policy:18} {v.result.replace('_', ' '):15} {v.title} ({v.reference})\n")
        for r in v.reasons:
            w(f"  {'':18} {r.severity}: {r.text}\n")
