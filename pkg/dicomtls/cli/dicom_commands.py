"""`dicomtls echo` (C-ECHO SCU, like DCMTK echoscu), `dicomtls echo-server` (Verification SCP),
`dicomtls store` (C-STORE SCU, like storescu) and `dicomtls serve` (Storage + Verification SCP).

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


TLS_PORT = 2762     # DICOM over TLS (PS3.15 B.1, IANA "dicom-tls")
PLAIN_PORT = 11112  # DICOM (IANA "dicom")


#: store's default window (``storage.scu.ASYNC_WINDOW``, repeated here so building the parser
#: does not import the storage modules).
ASYNC_WINDOW = 8


def _window(text: str) -> int:
    import argparse
    value = int(text)
    if not 1 <= value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"must be 1-65535, not {value}")
    return value


def _port(args) -> int:
    return args.port if args.port is not None else (TLS_PORT if args.tls else PLAIN_PORT)


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

    p = sub.add_parser("store", help="C-STORE files and directories (recursive) on one "
                                     "association (Storage SCU, like storescu)")
    p.add_argument("host")
    p.add_argument("port", type=int,
                   help=f"the peer's port (DICOM: {TLS_PORT} with TLS, {PLAIN_PORT} without)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--aet", default="DICOMTLS", help="our (calling) AE title")
    p.add_argument("--aec", default="ANY-SCP", help="the peer's (called) AE title")
    p.add_argument("--tls", action="store_true", help="use TLS with the TLS options below")
    p.add_argument("--server-name", help="SNI name (default: HOST)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--async-window", type=_window, default=ASYNC_WINDOW, metavar="N",
                   help=f"C-STORE requests to keep outstanding if the peer agrees (PS3.7 "
                        f"asynchronous operations window; default {ASYNC_WINDOW}; 1: one at a "
                        f"time and nothing proposed, like storescu)")
    add_tls_options(p)
    p.set_defaults(func=cmd_store, role="client")

    p = sub.add_parser("serve", help="Verification + Storage + Query/Retrieve SCP over --out")
    p.add_argument("port", type=int, nargs="?",
                   help=f"default {TLS_PORT} with --tls, {PLAIN_PORT} without")
    p.add_argument("--out", required=True, metavar="DIR", help="where received files go")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--aet", default=None,
                   help="our AE title; requests calling another one are rejected "
                        "(default: accept any)")
    p.add_argument("--tls", action="store_true", help="use TLS with the TLS options below")
    p.add_argument("--once", action="store_true", help="serve one association, then exit")
    p.add_argument("--json", action="store_true", help="one JSON line per association")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--ae-table", metavar="FILE",
                   help='C-MOVE destinations, JSON {"AE": ["host", port]}')
    p.add_argument("--no-fsync", dest="fsync", action="store_false",
                   help="do not fsync received files and the directory (like storescp): "
                        "faster, but a system crash or power loss may lose or truncate files "
                        "already answered with success; by default each file is fsynced "
                        "before it is renamed and answered")
    add_tls_options(p)
    p.set_defaults(func=cmd_serve, role="server")


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
        elif result.handshake_failed:
            sys.stdout.write(result.summary() + "\n")
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
    return _run_server(server, args)


def _run_server(server, args) -> int:
    """Serve one association (--once: exit 0 only if it was released) or until interrupted."""
    try:
        if args.once:
            result = server.serve_one()
            return 0 if result.outcome == "released" else 1
        server.serve_forever()
        return 0
    except KeyboardInterrupt:
        return 0
    except DicomTLSError as exc:
        sys.stderr.write(f"dicomtls {args.command}: {exc}\n")
        return 1
    finally:
        server.close()


def cmd_store(args) -> int:
    from ..storage.scu import store  # lazily: start-up time counts for every store
    config = config_from_args(args) if args.tls else None
    port = args.port
    last = [0.0]

    def progress(p):
        now = p.seconds
        if args.quiet or (now - last[0] < 0.2 and p.objects_done < p.objects_total):
            return
        last[0] = now
        sys.stderr.write(f"\r{p.objects_done}/{p.objects_total} objects "
                         f"{p.bytes_done / 1e6:.1f}/{p.bytes_total / 1e6:.1f} MB "
                         f"{p.objects_per_second:.1f} obj/s {p.mb_per_second:.1f} MB/s   ")
        sys.stderr.flush()

    summary = store(args.host, port, args.paths, tls_config=config, called_ae=args.aec,
                    calling_ae=args.aet, timeout=args.timeout, server_name=args.server_name,
                    async_window=args.async_window, progress=progress)
    if not args.quiet and summary.results:
        sys.stderr.write("\n")
    record = summary.to_dict()
    if args.json:
        sys.stdout.write(json.dumps(record) + "\n")
    else:
        if summary.session is not None:
            sys.stdout.write(summary.session.summary() + "\n")
        for r in summary.results:
            if not r.ok:
                sys.stdout.write(f"FAILED {r.path}: {r.error}\n")
        sys.stdout.write(f"C-STORE {args.aet} -> {args.aec}@{args.host}:{port}: "
                         f"{record['sent']} sent, {record['failed']} failed, "
                         f"{record['bytes'] / 1e6:.1f} MB in {summary.seconds:.2f} s"
                         + (f" ({record['mb_per_second']} MB/s, "
                            f"{record['objects_per_second']} obj/s)"
                            if summary.seconds else "") + "\n")
    sys.stdout.flush()
    if not summary.results:
        sys.stderr.write("dicomtls store: no files found\n")
        return 1
    return 0 if summary.failed == 0 else 1


def load_ae_table(path) -> dict:
    """{AE title: (host, port)} from JSON ``{"AE": ["host", port]}``."""
    with open(path) as f:
        raw = json.load(f)
    return {str(ae): (str(hp[0]), int(hp[1])) for ae, hp in raw.items()}


def cmd_serve(args) -> int:
    from ..qr.scp import QRServer  # pydicom's UID tables: only the SCP needs them
    import os
    config = config_from_args(args) if args.tls else None
    os.makedirs(args.out, exist_ok=True)
    table = load_ae_table(args.ae_table) if args.ae_table else {}

    def report(result):
        if args.json:
            sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        else:
            sys.stdout.write(result.summary() + "\n")
        sys.stdout.flush()

    server = QRServer(args.out, args.bind, _port(args), tls_config=config, ae_table=table,
                      ae_title=args.aet, timeout=args.timeout, on_result=report,
                      fsync=args.fsync)
    host, port = server.address
    sys.stderr.write(f"serve listening on {host}:{port}{' (TLS)' if config else ''}, "
                     f"writing to {args.out}{'' if args.fsync else ' without fsync'}\n")
    sys.stderr.flush()
    return _run_server(server, args)
