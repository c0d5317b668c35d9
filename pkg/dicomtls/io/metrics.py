"""Prometheus metrics of a server (`dicomtls serve --metrics-port PORT`), with the
``prometheus_client`` package (``pip install dicomtls[metrics]``; imported only when asked for).

``ServerMetrics`` is the server's observer (``AssociationServer(observer=...)``): the gate and
the server call it as connections open and close, associations start and end and connections
are refused, so every figure is counted where it happens, never sampled:

====================================================  ==================================
``dicomtls_connections_open``                         gauge: connections held (gate and
                                                      associations)
``dicomtls_connections_waiting``                      gauge: of those, not associations
                                                      yet (the gate's queue: handshakes,
                                                      requests not complete)
``dicomtls_associations_active``                      gauge: associations being served
``dicomtls_connections_refused_total{cap}``           at accept, over max-connections /
                                                      max-per-peer
``dicomtls_associations_total{outcome}``              released, rejected, aborted, error
``dicomtls_handshake_failures_total{reason}``         the alert's name, timeout, closed,
                                                      reset or other
``dicomtls_objects_total{result}``                    C-STORE: stored / failed
``dicomtls_received_bytes_total``                     C-STORE data set bytes
``dicomtls_association_seconds``                      histogram of association durations
====================================================  ==================================

With `serve --workers N` the workers count into ``prometheus_client``'s multiprocess files
(``PROMETHEUS_MULTIPROC_DIR``, a private directory the parent makes before it forks), and the
parent alone serves the port, summing them (gauges: the live workers' sum).
"""

from __future__ import annotations

import os
import re
from typing import Optional

from ..errors import DicomTLSError

_ALERT = re.compile(r"alert ([a-z_]+)")
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)


class MetricsUnavailable(DicomTLSError):
    """--metrics-port was asked for but ``prometheus_client`` is not installed."""


def _prometheus():
    try:
        import prometheus_client
    except ImportError as exc:
        raise MetricsUnavailable("--metrics-port needs the prometheus_client package "
                                 "(pip install 'dicomtls[metrics]')") from exc
    return prometheus_client


def handshake_failure_reason(error: Optional[str]) -> str:
    """A small, bounded label for why a handshake failed (a label per message text would make
    the series unbounded): the TLS alert's name, or timeout / closed / reset / other."""
    text = error or ""
    match = _ALERT.search(text)
    if match:
        return match.group(1)
    if "not complete within" in text:
        return "timeout"
    if "closed the connection" in text or "server stopped" in text:
        return "closed"
    if "reset" in text:
        return "reset"
    if "certificate" in text:
        return "certificate"
    return "other"


class ServerMetrics:
    """The metrics above in ``registry`` (default: the process-wide one)."""

    def __init__(self, registry=None):
        p = _prometheus()
        kw = {} if registry is None else {"registry": registry}
        live = {"multiprocess_mode": "livesum"}
        self.open = p.Gauge("dicomtls_connections_open", "Connections held", **live, **kw)
        self.waiting = p.Gauge("dicomtls_connections_waiting",
                               "Connections not yet associations (TLS handshake, "
                               "A-ASSOCIATE-RQ)", **live, **kw)
        self.active = p.Gauge("dicomtls_associations_active", "Associations being served",
                              **live, **kw)
        self.refused = p.Counter("dicomtls_connections_refused",
                                 "Connections reset at accept, by the cap they were over",
                                 ["cap"], **kw)
        self.associations = p.Counter("dicomtls_associations", "Associations by outcome",
                                      ["outcome"], **kw)
        self.handshake_failures = p.Counter("dicomtls_handshake_failures",
                                            "TLS handshakes that failed, by reason",
                                            ["reason"], **kw)
        self.objects = p.Counter("dicomtls_objects", "C-STORE objects, stored or failed",
                                 ["result"], **kw)
        self.received = p.Counter("dicomtls_received_bytes", "C-STORE data set bytes", **kw)
        self.duration = p.Histogram("dicomtls_association_seconds",
                                    "Association duration", buckets=DURATION_BUCKETS, **kw)

    # ---- the observer interface (io.gate, io.server) ---------------------------------------
    def connection_opened(self) -> None:
        self.open.inc()
        self.waiting.inc()

    def connection_closed(self, was_association: bool) -> None:
        self.open.dec()
        if not was_association:
            self.waiting.dec()

    def connection_refused(self, cap: str) -> None:
        self.refused.labels(cap=cap.split(" ")[0]).inc()

    def association_started(self) -> None:
        self.waiting.dec()
        self.active.inc()

    def association_ended(self) -> None:
        self.active.dec()

    def result(self, result) -> None:
        """Every ``ServedAssociation`` the server records, the gate's too."""
        if result.handshake_failed:
            self.handshake_failures.labels(
                reason=handshake_failure_reason(result.error)).inc()
        self.associations.labels(outcome=result.outcome).inc()
        if result.stored:
            self.objects.labels(result="stored").inc(result.stored)
        if result.failed:
            self.objects.labels(result="failed").inc(result.failed)
        if result.bytes_received:
            self.received.inc(result.bytes_received)
        self.duration.observe(result.seconds)


def serve_metrics(port: int, host: str = "127.0.0.1", registry=None):
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns (server, thread).
    With ``PROMETHEUS_MULTIPROC_DIR`` set, the registry sums every worker's files."""
    p = _prometheus()
    if registry is None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        registry = p.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    kw = {} if registry is None else {"registry": registry}
    return p.start_http_server(port, addr=host, **kw)


__all__ = ["MetricsUnavailable", "ServerMetrics", "handshake_failure_reason", "serve_metrics"]
