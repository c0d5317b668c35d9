"""`dicomtls echo` (C-ECHO SCU, like DCMTK echoscu) and `dicomtls echo-server` (Verification SCP).

Plain TCP unless ``--tls`` is given; then the shared TLS options (--cert, --key, --ca, --profile,
...) configure the connection.
"""

from __future__ import annotations

import json
import sys

from ..dimse.status import status_name
from ..errors import DicomTLSError
from ..io.association_runner import VerificationServer, associate
from .tls_options import add_tls_options, config_from_args


def add_parsers(sub) -> None:
    p = sub.add_parser("echo", help="C-ECHO a DICOM peer (Verification SCU, like echoscu)")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--aet", default="DICOMTLS", help="our (calling) AE title")
    p.add_argument("--aec", default="ANY-SCP", help="the peer's (called) AE title")
    p.add_argument("--tls", action="store_true", help="use TLS with the TLS options below")
    p.add_argument("--server-name", help="SNI name (default: HOST)")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="send N C-ECHO requests")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0)
    add_tls_options(p)
    p.set_defaults(func=cmd_echo, role="client")

    p = sub.add_parser("echo-server", help="Verification SCP answering C-ECHO (for tests)")
    p.add_argument("port", type=int)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--aet", default=None,
                   help="our AE title; requests calling another one are rejected "
                        "(default: accept any)")
    p.add_argument("--tls", action="store_true", help="use TLS with the TLS options below")
    p.add_argument("--once", action="store_true", help="serve one association, then exit")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0)
    add_tls_options(p)
    p.set_defaults(func=cmd_echo_server, role="server")


def cmd_echo(args) -> int:
    config = config_from_args(args) if args.tls else None
    assoc = associate(args.host, args.port, tls_config=config, called_ae=args.aec,
                      calling_ae=args.aet, timeout=args.timeout, server_name=args.server_name)
    statuses = []
    try:
        for _ in range(max(1, args.repeat)):
            statuses.append(assoc.echo())
    except BaseException:
        assoc.abort()
        raise
    assoc.release()
    status = next((s for s in statuses if s != 0), statuses[-1])
    name = status_name(status)
    if args.json:
        record = {"session": assoc.session.to_dict() if assoc.session else None,
                  "status": status, "status_name": name, "echoes": len(statuses)}
        sys.stdout.write(json.dumps(record) + "\n")
    else:
        if assoc.session is not None:
            sys.stdout.write(assoc.session.summary() + "\n")
        sys.stdout.write(f"C-ECHO {args.aet} -> {args.aec}@{args.host}:{args.port}: "
                         f"status 0x{status:04X} ({name})\n")
    sys.stdout.flush()
    if status != 0:
        sys.stderr.write(f"dicomtls echo: C-ECHO status 0x{status:04X} ({name})\n")
        return 1
    return 0


def cmd_echo_server(args) -> int:
    config = config_from_args(args) if args.tls else None

    def report(result):
        if args.json:
            sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        else:
            if result.session is not None:
                sys.stdout.write(result.session.summary() + "\n")
            sys.stdout.write(f"association {result.calling_ae} -> {result.called_ae}: "
                             f"{result.outcome}, {result.echoes} C-ECHO"
                             + (f" ({result.error})" if result.error else "") + "\n")
        sys.stdout.flush()

    server = VerificationServer(args.bind, args.port, tls_config=config, ae_title=args.aet,
                                timeout=args.timeout, on_result=report)
    host, port = server.address
    # On stderr, so stdout stays pure JSON with --json; scripts wait for this line.
    sys.stderr.write(f"echo-server listening on {host}:{port}"
                     f"{' (TLS)' if config else ''}\n")
    sys.stderr.flush()
    try:
        if args.once:
            result = server.serve_one()
            return 0 if result.outcome == "released" else 1
        server.serve_forever()
        return 0
    except KeyboardInterrupt:
        return 0
    except DicomTLSError as exc:
        sys.stderr.write(f"dicomtls echo-server: {exc}\n")
        return 1
    finally:
        server.close()
