"""`dicomtls scan-client [PORT]`: grade the DICOM TLS clients (SCUs, modalities) that connect.

A TLS SCP (Verification) that records each client's ClientHello and, one round per connection,
presents a valid certificate, then one from an unknown CA, an expired one, one for another
name and one without serverAuth (scan/client_grading.py). Without --cert/--key it uses the
local dev PKI (dicomtls certs), whose CA also mints the defective certificates. Each
connection prints one line; the report (text, or --json) comes at the end, and --json-out
rewrites a JSON file after every connection so a long session can be watched or stopped.
"""

from __future__ import annotations

import json
import os
import sys
import threading

from .options import bounded


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "scan-client", help="grade the TLS clients (SCUs) that connect: their hello, and "
                            "whether they validate our certificate",
        description="A DICOM TLS SCP answering C-ECHO that grades each client: its ClientHello "
                    "(versions, suites, extensions, curves, signature algorithms, SNI, ALPN, "
                    "the PS3.15 profiles it fits), its client certificate, and, one round per "
                    "connection, whether it refuses a certificate from an unknown CA, an "
                    "expired one, one for another name and one without serverAuth. Trigger one "
                    "echo per round from the device; rounds go in order per client address.")
    p.add_argument("port", nargs="?", type=bounded(int, 1, 65535), default=2762)
    p.add_argument("--bind", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; '*' every interface)")
    p.add_argument("--cert", help="our valid certificate (PEM; default: the dev PKI's)")
    p.add_argument("--key", help="its private key")
    p.add_argument("--key-password", help="the key's password")
    p.add_argument("--issuer-cert", help="the CA that issued --cert: with --issuer-key the "
                                         "expired, wrong-name and no-serverAuth rounds are "
                                         "issued by it (else only valid and unknown-CA run)")
    p.add_argument("--issuer-key")
    p.add_argument("--ca", help="CAs to check client certificates against (requested, never "
                                "required)")
    p.add_argument("--max-connections", type=bounded(int, 1, 100000), default=None,
                   metavar="N", help="stop after N connections (default: run until Ctrl-C)")
    p.add_argument("--timeout", type=bounded(float, 0.1, 3600), default=30.0,
                   help="seconds per connection phase (default 30)")
    p.add_argument("--json", action="store_true", help="print the report as JSON at the end")
    p.add_argument("--json-out", metavar="FILE",
                   help="rewrite this JSON report after every connection")
    p.set_defaults(func=cmd_scan_client, _parser=p)


def _credentials(args):
    if args.cert or args.key:
        if not (args.cert and args.key):
            args._parser.error("--cert and --key go together")
        return args.cert, args.key, args.issuer_cert, args.issuer_key, args.ca
    from ..crypto.devpki import ensure_dev_pki
    pki = ensure_dev_pki()
    return (str(pki.server_cert), str(pki.server_key), str(pki.ca_cert), str(pki.ca_key),
            args.ca or str(pki.ca_cert))


def cmd_scan_client(args) -> int:
    from ..io.tls_socket import listen
    from ..scan.client_grading import ClientGrader, round_certificates
    cert, key, issuer_cert, issuer_key, ca = _credentials(args)
    import tempfile
    from pathlib import Path
    work = tempfile.mkdtemp(prefix="dicomtls-scan-client-")
    rounds = round_certificates(cert, key, Path(work),
                                issuer_cert=issuer_cert, issuer_key=issuer_key,
                                password=args.key_password)

    def saved(grader):
        if args.json_out:
            tmp = f"{args.json_out}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(grader.report(), f, indent=1)
            os.replace(tmp, args.json_out)

    grader = ClientGrader(rounds, ca_file=ca, timeout=args.timeout, on_change=saved)
    listener = listen(args.bind, args.port)
    print(f"scan-client listening on {args.bind}:{listener.getsockname()[1]}; rounds "
          f"{', '.join(grader.order)}", file=sys.stderr, flush=True)
    slots = threading.BoundedSemaphore(8)
    workers = []
    served = 0
    try:
        while args.max_connections is None or served < args.max_connections:
            sock, addr = listener.accept()
            served += 1
            slots.acquire()

            def run(sock=sock, address=addr[0], name=grader.next_round(addr[0])):
                try:
                    r = grader.handle(sock, address, name)
                    print(f"{address} round {r.round}: {r.outcome} ({r.verdict}) "
                          f"{r.client_alert or ''} {r.detail}".rstrip(), file=sys.stderr,
                          flush=True)
                finally:
                    slots.release()

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            workers.append(worker)
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        for worker in workers:
            worker.join(args.timeout * 3)
    report = grader.report()
    if args.json:
        sys.stdout.write(json.dumps(report, indent=1) + "\n")
    else:
        print_client_report(report)
    return 0


def print_client_report(report, out=None) -> None:
    w = (out or sys.stdout).write
    for client in report["clients"]:
        grade = client["grade"]
        w(f"client {client['address']}:\n")
        hello = client["hello"] or {}
        if hello:
            w(f"  versions: {', '.join(hello['versions'])}\n")
            w(f"  suites ({len(hello['suites'])}): {', '.join(hello['suites'])}\n")
            w(f"  extensions: {', '.join(hello['extensions'])}\n")
            w(f"  curves: {', '.join(hello['groups']) or '-'}; SNI: {hello['server_name']}; "
              f"ALPN: {', '.join(hello['alpn']) or '-'}\n")
            fits = [n for n, p in hello["profiles"].items() if p["served"] and p["within"]]
            w(f"  PS3.15 profiles its hello keeps within: {', '.join(fits) or 'none'}\n")
        for r in client["rounds"]:
            cert = r["client_certificate"] or "no client certificate"
            w(f"  round {r['round']:15} {r['outcome']:24} {r['verdict']:5} "
              f"{r['client_alert'] or ''} [{cert}]\n")
        validates = grade["validates_server_certificate"]
        bad = grade["accepted_bad_certificates"]
        w(f"  validates our certificate: "
          f"{'not decided yet' if validates is None else 'yes' if validates else 'NO'}"
          f"{' (accepted: ' + ', '.join(bad) + ')' if bad else ''}"
          f"; rounds left: {', '.join(grade['rounds_left']) or 'none'}\n")


__all__ = ["add_parsers", "cmd_scan_client", "print_client_report"]
