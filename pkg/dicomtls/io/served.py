"""``ServedAssociation``: what a server did on one association (outcome, services, counts),
as one line (``summary``) or JSON (``to_dict``). Split out of ``association_runner``, which
re-exports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..dimse.status import category


@dataclass
class ServedAssociation:
    """What happened on one association a server handled.

    ``operations``: the other services served, one dict each with at least ``service`` and
    ``status`` (the final status answered): Query/Retrieve ("find", "move", "get", with
    ``matches`` or the sub-operation counts and ``destination``) and DIMSE-N ("n_get", "n_set",
    "n_action", "n_create", "n_delete", with ``sop_class`` and ``instance``; ``error`` when the
    handler failed). ``event_statuses``: the statuses of the N-EVENT-REPORT-RSPs we received."""

    calling_ae: Optional[str] = None
    called_ae: Optional[str] = None
    outcome: str = "closed"        # released | rejected | aborted | closed | error
    echoes: int = 0
    session: object = None
    error: Optional[str] = None
    rejected: Optional[tuple] = None
    contexts: dict = field(default_factory=dict)
    peer: Optional[str] = None     # "host:port" of the peer, when known
    stored: int = 0                # C-STORE: objects written
    failed: int = 0                # C-STORE: objects refused (status != 0)
    bytes_received: int = 0        # C-STORE: data set bytes received
    seconds: float = 0.0
    operations: list = field(default_factory=list)
    event_statuses: list = field(default_factory=list)
    #: The TLS handshake failed: no association was attempted (``error`` says why).
    handshake_failed: bool = False
    #: Subject of the certificate the peer presented, also when the handshake refused it.
    peer_certificate: Optional[str] = None

    def to_dict(self) -> dict:
        return {"calling_ae": self.calling_ae, "called_ae": self.called_ae, "peer": self.peer,
                "peer_certificate": self.peer_certificate_subject,
                "handshake_failed": self.handshake_failed, "outcome": self.outcome, "echoes": self.echoes, "error": self.error,
                "stored": self.stored, "failed": self.failed,
                "bytes_received": self.bytes_received, "seconds": round(self.seconds, 6),
                "operations": [dict(op) for op in self.operations],
                "event_statuses": list(self.event_statuses),
                "rejected": list(self.rejected) if self.rejected else None,
                "session": self.session.to_dict() if self.session is not None else None}

    @property
    def peer_certificate_subject(self) -> Optional[str]:
        if self.peer_certificate is not None:
            return self.peer_certificate
        cert = getattr(self.session, "peer_certificate", None)
        return cert.subject if cert is not None else None

    def summary(self) -> str:
        """One line: peer, AE titles, TLS suite, outcome and what was done."""
        if self.handshake_failed:
            who = self.peer or "?"
            if self.peer_certificate:
                who += f" ({self.peer_certificate})"
            return f"TLS connection from {who}: {self.error}"
        suite = "plain TCP"
        if self.session is not None:
            suite = f"{self.session.protocol.label} {self.session.cipher_suite.name}"
        what = [f"{self.echoes} C-ECHO"] if self.echoes else []
        if self.stored or self.failed or not (self.echoes or self.operations):
            what.append(f"{self.stored} objects received"
                        + (f", {self.failed} failed" if self.failed else ""))
        what.extend(_n_service_counts(self.operations, self.event_statuses))
        line = (f"association from {self.peer or '?'} {self.calling_ae} -> {self.called_ae} "
                f"[{suite}]: {self.outcome}, {', '.join(what)}"
                + (f" ({self.error})" if self.error else ""))
        return line + "".join(_qr_details(op) for op in self.operations
                              if op.get("service") in ("find", "move", "get"))


def _n_service_counts(operations, event_statuses) -> list:
    """["2 N-SET", "1 N-CREATE (1 failed)", "1 N-EVENT-REPORT"] in first-seen order."""
    counts: dict = {}
    for op in operations:
        service = op.get("service", "")
        if not service.startswith("n_"):
            continue
        name = service.upper().replace("_", "-")
        done, bad = counts.get(name, (0, 0))
        status = op.get("status")
        failed = "error" in op or status is None or category(status) == "Failure"
        counts[name] = (done + 1, bad + failed)
    out = [f"{n} {name}" + (f" ({bad} failed)" if bad else "")
           for name, (n, bad) in counts.items()]
    if event_statuses:
        out.append(f"{len(event_statuses)} N-EVENT-REPORT")
    return out


def _qr_details(op: dict) -> str:
    what = f"C-{op['service'].upper()}"
    if op.get("destination"):
        what += f" to {op['destination']}"
    if op["service"] == "find":
        what += f" {op.get('matches', 0)} matches"
    else:
        what += (f" {op.get('completed', 0)} completed, {op.get('failed', 0)} failed, "
                 f"{op.get('warning', 0)} warning")
    status = op.get("status")
    return f"; {what}: " + ("no final status" if status is None else f"status 0x{status:04X}")


__all__ = ["ServedAssociation"]
