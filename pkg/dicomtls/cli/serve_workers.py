"""`dicomtls serve --workers N` (N > 1): the parent binds the port and loads the TLS
credentials, ``io.prefork.Prefork`` forks the workers, each serves the shared socket as a
single `serve` does (same signal handling, drain and abort), and the parent speaks for all:
one "listening" line and READY=1 once they run, one "not accepting" line and STOPPING=1 at the
first signal (passed on to every worker), and one "stopped (N finished, M aborted)" line with
the workers' totals, which each sends up a pipe as it ends."""

from __future__ import annotations

import json
import os
import sys
from typing import Callable

from ..io import tls_socket
from ..io.prefork import Prefork
from ..io.systemd import ServiceNotifier
from .serving import DRAIN_TIMEOUT, serve_and_drain, stopped_line

#: s a worker may take past the drain to abort, close and exit before it is killed
STOP_SLACK = 15.0


def run_workers(make_server: Callable, args, workers: int, port: int, detail: str) -> int:
    """``make_server(listener)``: a worker's AssociationServer over the shared socket. With
    ``args.metrics_port`` the workers count into ``prometheus_client`` multiprocess files in a
    private directory and the parent serves their sum (``io.metrics``)."""
    metrics_dir = None
    if getattr(args, "metrics_port", None) is not None:
        import tempfile
        # before prometheus_client is first imported anywhere: it picks its value store then
        metrics_dir = tempfile.mkdtemp(prefix="dicomtls-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    drain = getattr(args, "drain_timeout", DRAIN_TIMEOUT)
    listener = tls_socket.listen(args.bind, port)
    host, bound = listener.getsockname()[:2]
    tls = " (TLS)" if getattr(args, "tls", False) else ""
    listening = f"{args.command} listening on {host}:{bound}{tls}{detail}; {workers} workers"
    report_r, report_w = os.pipe()
    notifier: list = []

    def run_worker(index: int) -> int:
        os.close(report_r)
        server = make_server(listener)
        signalled, outcome = serve_and_drain(server, drain, lambda: None, lambda why: None)
        # one short line: a write under PIPE_BUF is atomic, whatever the others write
        os.write(report_w, (json.dumps(outcome) + "\n").encode())
        return 0 if signalled else 1

    def started() -> None:   # after the forks: the notifier's watchdog thread is the parent's
        if metrics_dir is not None:
            from ..io.metrics import serve_metrics
            serve_metrics(args.metrics_port, args.metrics_bind)
        sys.stderr.write(listening + "\n")
        sys.stderr.flush()
        notifier.append(ServiceNotifier())
        notifier[0].ready(listening)

    def stopping(signame: str) -> None:
        sys.stderr.write(f"dicomtls {args.command}: {signame}: not accepting; waiting up to "
                         f"{drain:g} s for the associations in flight ({workers} workers)\n")
        sys.stderr.flush()
        if notifier:
            notifier[0].stopping(f"{signame}: not accepting; draining")

    def worker_ended(pid: int) -> None:
        if metrics_dir is not None:   # its gauges no longer count; its counters still do
            from prometheus_client import multiprocess
            multiprocess.mark_process_dead(pid, metrics_dir)

    prefork = Prefork(workers, run_worker, stop_grace=drain + STOP_SLACK,
                      on_started=started, on_stopping=stopping, on_exit=worker_ended)
    try:
        code = prefork.run()
    finally:
        os.close(report_w)
        listener.close()
        if metrics_dir is not None:
            import shutil
            shutil.rmtree(metrics_dir, ignore_errors=True)
    totals = {"drained": 0, "aborted": 0, "stuck": 0}
    with os.fdopen(report_r) as reports:
        for line in reports:
            for key, value in json.loads(line).items():
                totals[key] = totals.get(key, 0) + value
    stopped = stopped_line(totals)
    sys.stderr.write(f"dicomtls {args.command}: {stopped}\n")
    sys.stderr.flush()
    if notifier:
        notifier[0].status(stopped)
        notifier[0].close()
    return code


__all__ = ["run_workers"]
