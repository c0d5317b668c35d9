"""`dicomtls echo` (C-ECHO SCU, like DCMTK echoscu), `dicomtls echo-server` (Verification SCP),
`dicomtls store` (C-STORE SCU, like storescu) and `dicomtls serve` (the SCP of the services
named by --services: Verification, Storage, Query/Retrieve, MPPS, Storage Commitment).

Plain TCP unless ``--tls`` is given; then the shared TLS options (--cert, --key, --ca, --profile,
...) configure the connection.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import DicomTLSError
from .options import (add_client_arguments, add_server_arguments, bounded, limits_of,
                      tls_config_of)
from .serving import DRAIN_TIMEOUT, serve_and_drain, stopped_line


TLS_PORT = 2762     # DICOM over TLS (PS3.15 B.1, IANA "dicom-tls")
PLAIN_PORT = 11112  # DICOM (IANA "dicom")


#: store's default window (``storage.scu.ASYNC_WINDOW``, repeated here so building the parser
#: does not import the storage modules).
ASYNC_WINDOW = 8

#: What `serve --services` can offer, and its default.
SERVICES = ("echo", "store", "qr", "mpps", "commitment")
DEFAULT_SERVICES = "echo,store,qr"



def _services(text: str) -> tuple:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SERVICES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown) or 'nothing'}: choose from "
                                         f"{', '.join(SERVICES)}")
    return names


def _port(args) -> int:
    return args.port if args.port is not None else (TLS_PORT if args.tls else PLAIN_PORT)


def add_parsers(sub) -> None:
    p = sub.add_parser("echo", help="C-ECHO a DICOM peer (Verification SCU, like echoscu)")
    add_client_arguments(p, timeout=30.0)
    p.add_argument("--repeat", type=bounded(int, 1, 1 << 20), default=1, metavar="N",
                   help="send N C-ECHO requests")
    p.set_defaults(func=cmd_echo)

    p = sub.add_parser("echo-server", help="Verification SCP answering C-ECHO (for tests)")
    add_server_arguments(p, timeout=30.0)
    _add_drain_timeout(p)
    p.set_defaults(func=cmd_echo_server)

    p = sub.add_parser("store", help="C-STORE files and directories (recursive) on one "
                                     "association (Storage SCU, like storescu)")
    add_client_arguments(p, timeout=60.0, json_help="print the summary as JSON",
                         port_help=f"the peer's port (DICOM: {TLS_PORT} with TLS, {PLAIN_PORT} "
                                   f"without)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--async-window", type=bounded(int, 1, 0xFFFF), default=ASYNC_WINDOW,
                   metavar="N",
                   help=f"C-STORE requests to keep outstanding if the peer agrees (PS3.7 "
                        f"asynchronous operations window; default {ASYNC_WINDOW}; 1: one at a "
                        f"time and nothing proposed, like storescu)")
    p.set_defaults(func=cmd_store)

    p = sub.add_parser("serve", help="DICOM SCP over --out: Verification, Storage and "
                                     "Query/Retrieve by default; MPPS and Storage Commitment")
    add_server_arguments(p, timeout=60.0, json_help="one JSON line per association",
                         port_help=f"default {TLS_PORT} with --tls, {PLAIN_PORT} without")
    p.add_argument("--out", required=True, metavar="DIR", help="where received files go")
    p.add_argument("--services", type=_services, default=_services(DEFAULT_SERVICES),
                   metavar="LIST",
                   help=f"comma-separated, from {', '.join(SERVICES)} (default "
                        f"{DEFAULT_SERVICES}); MPPS instances are kept as DICOM JSON in "
                        f"DIR/mpps, Storage Commitment answers from what DIR holds")
    p.add_argument("--ae-table", metavar="FILE",
                   help='C-MOVE destinations, JSON {"AE": ["host", port]}')
    p.add_argument("--no-fsync", dest="fsync", action="store_false",
                   help="do not fsync received files and the directory (like storescp): "
                        "faster, but a system crash or power loss may lose or truncate files "
                        "already answered with success; by default each file is fsynced "
                        "before it is renamed and answered")
    p.add_argument("--ignore", action="store_true",
                   help="receive, check and answer C-STOREs but write nothing (as storescp "
                        "--ignore): measures the network path without the disk")
    p.add_argument("--validate", choices=("structure", "none"), default="structure",
                   help="structure (default): check each received data set's encoding as it "
                        "streams in (tags ascending, lengths within what arrived, sequences "
                        "and items closed, VRs known) and its SOP Class/Instance UIDs against "
                        "the C-STORE-RQ; a malformed object is answered 0xC000 (a UID "
                        "mismatch 0xA900) with the reason and not stored. none: store what "
                        "arrives")
    p.add_argument("--layout", choices=("flat", "patient", "study"), default="flat",
                   help="where received files go under DIR: flat (default) DIR/<SOP Instance "
                        "UID>.dcm; patient DIR/<PatientID>/<StudyInstanceUID>/"
                        "<SeriesInstanceUID>/...; study DIR/<StudyInstanceUID>/"
                        "<SeriesInstanceUID>/... (values made safe as path components; "
                        "absent ones are UNKNOWN)")
    _add_drain_timeout(p)
    p.add_argument("--config", metavar="FILE",
                   help="options from a TOML file (keys: these options' names, e.g. "
                        "max_associations, in any tables; the command line wins; see "
                        "dicomtls.cli.config_file)")
    p.add_argument("--metrics-port", type=bounded(int, 0, 65535), default=None, metavar="PORT",
                   help="serve Prometheus metrics on http://METRICS_BIND:PORT/metrics "
                        "(needs prometheus_client: pip install 'dicomtls[metrics]')")
    p.add_argument("--metrics-bind", default="127.0.0.1", metavar="ADDR",
                   help="address of --metrics-port (default 127.0.0.1)")
    p.add_argument("--workers", type=bounded(int, 1, 256), default=None, metavar="N",
                   help="worker processes sharing the port (default: one per core; --once: "
                        "1); each has the limits above, and the parent only supervises")
    p.set_defaults(func=cmd_serve)


def _add_drain_timeout(p) -> None:
    p.add_argument("--drain-timeout", type=bounded(float, 0, 86400), default=DRAIN_TIMEOUT,
                   metavar="SECONDS",
                   help=f"on SIGTERM or SIGINT: stop accepting at once, let the associations "
                        f"in flight finish for up to SECONDS (default {DRAIN_TIMEOUT:g}), then "
                        f"A-ABORT the rest (their partial objects are deleted) and exit 0; a "
                        f"second signal aborts at once")


# Each cmd_* imports what it runs: building the parser for one command must not load the DICOM
# layers, TLS, storage or pydicom for all of them (start-up time counts for every command).
def cmd_echo(args) -> int:
    from ..dimse.status import status_name
    from ..io.association_runner import associate
    config = tls_config_of(args)
    assoc = associate(args.host, args.port, tls_config=config, called_ae=args.aec,
                      calling_ae=args.aet, timeout=args.timeout, server_name=args.server_name)
    statuses = []
    try:
        for _ in range(args.repeat):
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


def _echo_lines(result) -> str:
    if result.handshake_failed:
        return result.summary()
    line = (f"association {result.calling_ae} -> {result.called_ae}: {result.outcome}, "
            f"{result.echoes} C-ECHO" + (f" ({result.error})" if result.error else ""))
    return line if result.session is None else f"{result.session.summary()}\n{line}"


def cmd_echo_server(args) -> int:
    from ..io.server import VerificationServer
    server = VerificationServer(args.bind, args.port, tls_config=tls_config_of(args),
                                ae_title=args.aet, timeout=args.timeout,
                                limits=limits_of(args), proxy_from=args.proxy_protocol,
                                on_result=_reporter(args, _echo_lines))
    return _run_server(server, args)


def _reporter(args, describe=lambda result: result.summary()):
    """``on_result`` of a server command: one JSON line per association with --json, else
    ``describe(result)``."""
    def report(result) -> None:
        sys.stdout.write((json.dumps(result.to_dict()) if args.json else describe(result))
                         + "\n")
        sys.stdout.flush()
    return report


def _run_server(server, args, detail: str = "") -> int:
    """Say where the server listens (and ``detail``) on stderr, then serve one association
    (--once: exit 0 only if it was released) or until SIGTERM/SIGINT (then a graceful
    shutdown, ``_serve_until_signalled``). On stderr, so stdout stays pure JSON with --json;
    scripts wait for this line. Under systemd (a ``Type=notify`` unit: ``$NOTIFY_SOCKET``) the
    same line goes out as READY=1's STATUS=, with watchdog pings if the unit sets WatchdogSec=
    (``io.systemd``; docs/systemd.md)."""
    from ..io.systemd import ServiceNotifier
    host, port = server.address
    listening = (f"{args.command} listening on {host}:{port}"
                 f"{' (TLS)' if server.tls_config else ''}{detail}")
    notifier = ServiceNotifier()

    def announce() -> None:
        sys.stderr.write(listening + "\n")
        sys.stderr.flush()
        notifier.ready(listening)   # bound and listening: connections queue from now on

    try:
        if args.once:
            announce()
            result = server.serve_one()
            return 0 if result.outcome == "released" else 1
        return _serve_until_signalled(server, args, announce, notifier)
    except KeyboardInterrupt:
        return 0
    except DicomTLSError as exc:
        sys.stderr.write(f"dicomtls {args.command}: {exc}\n")
        return 1
    finally:
        try:
            server.close()
        finally:
            notifier.close()   # the watchdog pings last as long as the server


def _serve_until_signalled(server, args, announce, notifier=None) -> int:
    """Serve until SIGTERM or SIGINT; then stop accepting at once, let the associations in
    flight finish for up to --drain-timeout seconds and abort the rest
    (``serving.serve_and_drain``). ``announce()`` runs once the handlers are in place (a script may
    signal once it saw it). ``notifier`` (an ``io.systemd.ServiceNotifier``) is told
    STOPPING=1 as the drain starts, then the drain's progress. The exit code: 0 after a
    signal, 1 if the listener failed (so systemd's Restart=on-failure restarts the service)."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        announce()
        server.serve_forever()  # signal handlers can only be set in the main thread
        return 0
    drain = getattr(args, "drain_timeout", DRAIN_TIMEOUT)

    def stopping(why: str) -> None:
        sys.stderr.write(f"dicomtls {args.command}: {why}: not accepting; waiting up to "
                         f"{drain:g} s for {server.active} association(s) in flight\n")
        sys.stderr.flush()
        if notifier is not None:
            notifier.stopping(f"{why}: not accepting; draining {server.active} association(s)",
                              lambda: f"draining {server.active} association(s)")

    signalled, outcome = serve_and_drain(server, drain, announce, stopping)
    stopped = stopped_line(outcome)
    sys.stderr.write(f"dicomtls {args.command}: {stopped}\n")
    sys.stderr.flush()
    if notifier is not None:
        notifier.status(stopped)
    return 0 if signalled else 1


def cmd_store(args) -> int:
    from ..storage.scu import store  # lazily: start-up time counts for every store
    config = tls_config_of(args)
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


def serve_services(names, out: str, *, tls_config=None, ae_table=None, ae_title=None,
                   timeout: float = 60.0, fsync: bool = True,
                   validate: str = "structure", layout: str = "flat",
                   ignore: bool = False) -> list:
    """The service factories of `serve --services NAMES` over the directory ``out``: what
    several services share (the directory's index, the MPPS store) is made once here."""
    import os
    from functools import partial
    from ..io.services import VerificationService
    factories: list = [VerificationService] if "echo" in names else []
    if "store" in names:
        from ..storage.scp import StorageService  # pydicom's UID tables: only the SCP needs them
        factories.append(partial(StorageService, out, fsync=fsync, validate=validate,
                                 layout=layout, ignore=ignore))
    index = None
    if "qr" in names or "commitment" in names:
        from ..qr.index import StorageIndex
        index = StorageIndex(out)
    if "qr" in names:
        from ..qr.scp import QueryRetrieveService
        qr = QueryRetrieveService(index, ae_table=ae_table, tls_config=tls_config,
                                  ae_title=ae_title or "DICOMTLS", timeout=timeout)
        factories.append(lambda: qr)
    if "mpps" in names or "commitment" in names:
        from ..nservices import (MPPS_SOP_CLASS, STORAGE_COMMITMENT_SOP_CLASS, MPPSService,
                                 NServices, StorageCommitmentService)
        handlers: dict = {}
        if "mpps" in names:
            handlers[MPPS_SOP_CLASS] = MPPSService(os.path.join(out, "mpps"), fsync=fsync)
        if "commitment" in names:
            handlers[STORAGE_COMMITMENT_SOP_CLASS] = StorageCommitmentService(
                index, retrieve_ae=ae_title)
        factories.append(partial(NServices, handlers))
    return factories


def cmd_serve(args) -> int:
    import os
    from ..io.prefork import default_workers
    from ..io.server import AssociationServer
    config = tls_config_of(args)
    os.makedirs(args.out, exist_ok=True)
    swept = 0
    if "store" in args.services:
        # Before the port is bound, so no association of ours is writing yet: what a crash
        # or power loss left of objects never answered.
        from ..storage.incoming import sweep_partials
        swept = sweep_partials(args.out)
    table = load_ae_table(args.ae_table) if args.ae_table else {}
    services = serve_services(args.services, args.out, tls_config=config, ae_table=table,
                              ae_title=args.aet, timeout=args.timeout, fsync=args.fsync,
                              validate=args.validate, layout=args.layout,
                              ignore=args.ignore)
    detail = ((", writing nothing (--ignore)" if args.ignore else
               f", writing to {args.out}{'' if args.fsync else ' without fsync'}") +
              "; services "
              f"{','.join(args.services)}"
              + (f"; removed {swept} stale .partial file(s)" if swept else ""))

    def make_server(listener=None):
        observer = None
        if args.metrics_port is not None:
            from ..io.metrics import ServerMetrics
            observer = ServerMetrics()
        return AssociationServer(args.bind, _port(args), services=services, tls_config=config,
                                 ae_title=args.aet, timeout=args.timeout,
                                 limits=limits_of(args), proxy_from=args.proxy_protocol,
                                 on_result=_reporter(args), listener=listener,
                                 observer=observer)

    workers = 1 if args.once else (args.workers or default_workers())
    if workers > 1:
        from .serve_workers import run_workers
        return run_workers(make_server, args, workers, _port(args), detail)
    server = make_server()
    if args.metrics_port is not None:
        from ..io.metrics import serve_metrics
        serve_metrics(args.metrics_port, args.metrics_bind)
    return _run_server(server, args, detail)
