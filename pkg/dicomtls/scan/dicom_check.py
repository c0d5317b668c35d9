"""DICOM over what was negotiated: for each PS3.15 profile the server can serve, one TLS
handshake on a (version, suite) pair of that profile the server accepted, then an
A-ASSOCIATE-RQ proposing Verification and a C-ECHO on it.

A TLS port that completes the handshake but does not answer the association (closes, aborts,
sends something else, or stays silent) is a finding: the TLS layer works, DICOM does not over
that suite. Several profiles often share a pair; each pair is associated once.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from dataclasses import dataclass
from typing import Optional

from ..errors import (AssociationAborted, AssociationRejected, DicomTLSError, PDUError,
                      RemoteProtocolError)
from ..tls.suites import CipherSuite
from ..tls.versions import TLSVersion
from .probe import Target, probe_config

# Outcomes of one check.
ASSOCIATED = "associated"       # A-ASSOCIATE-AC, then the C-ECHO (its status is reported)
REJECTED = "rejected"           # A-ASSOCIATE-RJ (result, source, reason reported)
ABORTED = "aborted"             # A-ABORT / A-P-ABORT in answer to the request
NO_DICOM = "no_dicom"           # TLS up, then no DICOM answer: closed, silent, not a PDU
TLS_FAILED = "tls_failed"       # the handshake itself failed this time
NOT_CHECKED = "not_checked"     # no accepted pair for the profile, or out of time
FINDINGS = frozenset({NO_DICOM, ABORTED})

DEFAULT_CALLING_AE = "DICOMTLS-SCAN"
DEFAULT_CALLED_AE = "ANY-SCP"


@dataclass
class DicomCheck:
    """What one profile's association attempt found."""

    profile: str
    section: str
    outcome: str = NOT_CHECKED
    detail: str = ""
    version: Optional[TLSVersion] = None
    suite: Optional[CipherSuite] = None
    engine: Optional[str] = None
    peer_max_pdu: Optional[int] = None            # 0 = no limit announced
    implementation_class_uid: Optional[str] = None
    implementation_version_name: Optional[str] = None
    echo_status: Optional[int] = None
    reject: Optional[dict] = None                  # result, source, reason, reason_name
    abort: Optional[dict] = None                   # source, reason
    seconds: float = 0.0

    @property
    def finding(self) -> bool:
        """Associated without a successful C-ECHO, aborted, or no DICOM at all over TLS."""
        return self.outcome in FINDINGS or (self.outcome == ASSOCIATED and self.echo_status != 0)

    def to_dict(self) -> dict:
        return {
            "profile": self.profile, "section": self.section, "outcome": self.outcome,
            "detail": self.detail, "finding": self.finding,
            "version": self.version.label if self.version else None,
            "suite": self.suite.name if self.suite else None, "engine": self.engine,
            "peer_max_pdu": self.peer_max_pdu,
            "implementation_class_uid": self.implementation_class_uid,
            "implementation_version_name": self.implementation_version_name,
            "echo_status": self.echo_status, "reject": self.reject, "abort": self.abort,
            "seconds": round(self.seconds, 4),
        }


def check_profiles(target: Target, probes, profiles, *, calling_ae: str = DEFAULT_CALLING_AE,
                   called_ae: str = DEFAULT_CALLED_AE) -> list:
    """One DicomCheck per profile of ``profiles`` (``ProfileSupport`` items): associated over
    the best (version, suite) the server accepted for it; profiles it cannot serve are
    ``not_checked``. ``probes`` are the scan's, for the engine that completed each pair."""
    engine_of = {(p.version, p.suite.code): p.engine for p in probes}
    done: dict = {}
    out = []
    for prof in profiles:
        check = DicomCheck(prof.profile, prof.section)
        if prof.state != "yes" or not prof.accepted:
            check.detail = ("the server cannot serve this profile" if prof.state == "no" else
                            "needs a client certificate the server accepts"
                            if prof.state == "with_client_cert" else
                            "the profile's suites were not all decided")
            out.append(check)
            continue
        version, suite = prof.accepted[0]
        key = (version, suite.code)
        if key not in done:
            done[key] = associate_once(target, version, suite, engine_of.get(key, "libssl"),
                                       calling_ae, called_ae)
        out.append(dataclasses.replace(done[key], profile=prof.profile, section=prof.section))
    return out


def associate_once(target: Target, version: TLSVersion, suite: CipherSuite, engine: str,
                   calling_ae: str, called_ae: str) -> DicomCheck:
    """Handshake offering exactly ``suite`` at ``version``, then A-ASSOCIATE-RQ + C-ECHO."""
    from ..io.association_runner import associate_over   # sockets: only when a check runs
    from ..io.tls_socket import TLSSocket
    from ..tls.engines import new_connection

    check = DicomCheck("", "", version=version, suite=suite, engine=engine)
    limit = min(target.timeout, target.deadline - time.monotonic())
    if limit <= 0:
        check.detail = "total time limit reached"
        return check
    started = time.monotonic()
    config = probe_config(target.base, (suite,), version, engine, "ignore")
    sock = None
    try:
        conn = new_connection(config, "client", server_name=target.server_name)
        sock = socket.socket(target.family, socket.SOCK_STREAM)
        sock.settimeout(limit)
        sock.connect(target.address)
        tls = TLSSocket(sock, conn)
        tls.do_handshake(deadline=started + limit)
    except (DicomTLSError, OSError) as exc:
        if sock is not None:
            sock.close()
        check.outcome, check.detail = TLS_FAILED, f"TLS handshake: {exc}"
        check.seconds = time.monotonic() - started
        return check
    try:
        assoc = associate_over(tls, called_ae=called_ae, calling_ae=calling_ae, timeout=limit)
    except AssociationRejected as exc:
        from ..ul.pdu import RJ_REASONS
        check.outcome, check.detail = REJECTED, str(exc)
        check.reject = {"result": exc.result, "source": exc.source, "reason": exc.reason,
                        "reason_name": RJ_REASONS.get(exc.source, {}).get(exc.reason)}
    except AssociationAborted as exc:
        text = str(exc)
        if "closed the connection" in text or "transport closed" in text:
            check.outcome = NO_DICOM
            check.detail = f"TLS is up but the server closed the connection: {exc}"
        elif "we aborted" in text:   # its answer was not a PDU we could take
            check.outcome = NO_DICOM
            check.detail = f"TLS is up but the answer to A-ASSOCIATE-RQ is not DICOM: {exc}"
        else:
            check.outcome = ABORTED
            check.detail = f"TLS is up but the server aborted in answer to A-ASSOCIATE-RQ: {exc}"
            check.abort = {"source": exc.source, "reason": exc.reason}
    except (TimeoutError, PDUError, RemoteProtocolError, OSError) as exc:
        check.outcome = NO_DICOM
        what = ("no answer" if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}")
        check.detail = f"TLS is up but no DICOM answer to A-ASSOCIATE-RQ ({what})"
        tls.close(force=True)
    else:
        check.outcome = ASSOCIATED
        ac = assoc.assoc.accept_pdu.user_information
        check.peer_max_pdu = assoc.assoc.peer_max_pdu_length
        check.implementation_class_uid = ac.implementation_class_uid if ac else None
        check.implementation_version_name = ac.implementation_version_name if ac else None
        try:
            check.echo_status = assoc.echo()
            check.detail = f"C-ECHO status 0x{check.echo_status:04X}"
        except (DicomTLSError, OSError) as exc:
            check.detail = f"associated, but the C-ECHO failed: {exc}"
            assoc.abort()
        else:
            try:
                assoc.release()
            except (DicomTLSError, OSError) as exc:
                check.detail += f"; the release failed: {exc}"
    check.seconds = time.monotonic() - started
    return check
