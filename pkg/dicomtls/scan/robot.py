"""A Bleichenbacher oracle check on RSA key transport, in the manner of ROBOT (Boeck, Somorovsky,
Young, 2017): does the server answer a malformed PKCS#1 premaster differently from a correct one?

Over one RSA key transport suite the server accepted, the own engine's client sends five
ClientKeyExchange messages: a correctly padded premaster and four broken ones (csrc/
dt_hscrypto.c: wrong first bytes, a zero inside the padding, no separator, wrong version).
Each goes in two flights: with ChangeCipherSpec and a Finished that cannot verify (so even the
correct premaster must fail), and without them. A server that does not leak answers every
variant of a flight the same way; one whose answer (alert, close, silence) depends on the
padding is an oracle that lets an attacker decrypt recorded RSA sessions or sign with the
server's key. Each variant runs ``repeat`` times: answers that change between repeats make the
result "inconsistent" rather than an oracle, and the median times per variant are reported as
timing classes (a timing-only difference is reported, not called an oracle).
"""

from __future__ import annotations

import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from ..errors import ConnectionClosedError, DicomTLSError, alert_name
from ..tls.own.client import OwnClientConnection
from ..tls.own.cipherspec import prf_digest
from ..tls.own import messages as m
from ..tls.versions import TLSVersion
from .probe import Target, probe_config

VARIANTS = ("correct", "wrong first bytes", "0x00 in the padding", "no 0x00 separator",
            "wrong premaster version")
FLIGHTS = ("with CCS and Finished", "ClientKeyExchange only")
TIMING_FACTOR, TIMING_MIN_MS = 3.0, 20.0   # a variant this much slower (and by this many ms)
# Without CCS/Finished a server that does not react to the key exchange itself waits for them:
# its silence is the answer, so waiting long for it only costs time.
SHORT_FLIGHT_WAIT = 1.5


class RobotClient(OwnClientConnection):
    """The own engine's client with its key exchange replaced by one premaster probe."""

    variant = 0
    short_flight = False

    def _send_client_flight(self):
        if self.cert_request is not None:
            self._send_handshake(m.Certificate([]))   # none: the premaster is what is tested
        enc = self.secrets.rsa_client_probe(self.server_key, int(self.high), self.variant)
        self._send_handshake(m.ClientKeyExchange("RSA", enc))
        if self.short_flight:
            return
        prf_md = prf_digest(self.suite, self.version)
        session_hash = self.transcript.digest(prf_md) if self.ems else None
        self.secrets.master(self.client_random, self.server_random, session_hash)
        self._send_change_cipher_spec()
        self._pending_read = self._record_state(encrypt=False)
        verify_data = self.secrets.finished(False, self.transcript.digest(prf_md))
        self._send_handshake(m.Finished(bytes(b ^ 0xFF for b in verify_data)))


@dataclass
class RobotResult:
    """The oracle check's verdict, the server's answers per flight and variant, and timing."""

    state: str = "not_tested"      # not_vulnerable, oracle, inconsistent, not_tested
    detail: str = ""
    suite: Optional[str] = None
    version: Optional[str] = None
    # flight -> variant -> answers (one per repeat) and median milliseconds
    answers: dict = field(default_factory=dict)
    millis: dict = field(default_factory=dict)
    timing: str = ""

    def to_dict(self) -> dict:
        return {"state": self.state, "detail": self.detail, "suite": self.suite,
                "version": self.version, "answers": self.answers, "millis": self.millis,
                "timing": self.timing}


def _answer(target: Target, version: TLSVersion, suite, variant: int, short: bool,
            limit: float) -> tuple[str, float]:
    """One handshake with one premaster probe: the server's answer and the milliseconds from
    connecting to it."""
    from ..io.tls_socket import TLSSocket
    config = probe_config(target.base, (suite,), version, "dicomtls", "ignore")
    conn = RobotClient(config, "client", server_name=target.server_name)
    conn.variant, conn.short_flight = variant, short
    with socket.socket(target.family, socket.SOCK_STREAM) as sock:
        started = time.monotonic()
        try:
            sock.settimeout(limit)
            sock.connect(target.address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.monotonic()
            TLSSocket(sock, conn).do_handshake(deadline=started + limit)
            answer = "handshake completed"   # the server took a Finished it cannot have verified
        except TimeoutError:
            answer = "no answer (timeout)"
        except ConnectionClosedError:
            answer = "connection closed"
        except DicomTLSError as exc:
            received = getattr(exc, "alert_received", None)
            answer = (f"alert {alert_name(received)}" if received is not None
                      else f"error: {type(exc).__name__}")
        except OSError as exc:
            answer = f"socket error: {exc.strerror or type(exc).__name__}"
        return answer, (time.monotonic() - started) * 1000


def check_robot(target: Target, report, *, repeat: int = 2, timeout: float = 3.0) -> RobotResult:
    """The oracle check over the best RSA key transport pair the server accepted (none: not
    tested)."""
    from ..tls.own.cipherspec import allowed_at
    pairs = sorted((p for p in report.probes if p.selected and p.suite.key_exchange == "RSA"
                    and allowed_at(p.suite, p.version)),
                   key=lambda p: (-p.version, p.suite.code))
    out = RobotResult()
    if not pairs:
        out.detail = "no RSA key transport suite accepted"
        return out
    best = pairs[0]
    out.suite, out.version = best.suite.name, best.version.label
    differing = []
    for short in (False, True):
        flight = FLIGHTS[short]
        limit = min(timeout, target.timeout, SHORT_FLIGHT_WAIT if short else timeout)
        if time.monotonic() + limit * repeat > target.deadline:
            out.detail = "total time limit reached"
            return out
        # The variants' handshakes run side by side: one flight takes about one wait.
        jobs = [(variant, i) for variant in range(len(VARIANTS)) for i in range(repeat)]
        with ThreadPoolExecutor(max_workers=len(VARIANTS),
                                thread_name_prefix="dicomtls-robot") as pool:
            runs = list(pool.map(lambda job: _answer(target, best.version, best.suite, job[0],
                                                     short, limit), jobs))
        answers, millis = {}, {}
        for variant, name in enumerate(VARIANTS):
            mine = runs[variant * repeat:(variant + 1) * repeat]
            answers[name] = [a for a, _ in mine]
            millis[name] = round(statistics.median(ms for _, ms in mine), 1)
        out.answers[flight], out.millis[flight] = answers, millis
        if any(len(set(a)) > 1 for a in answers.values()):
            out.state = "inconsistent"
        elif len({a[0] for a in answers.values()}) > 1:
            differing.append(flight)
        times = sorted(millis.values())
        if times[-1] > TIMING_FACTOR * max(times[0], 0.1) and times[-1] - times[0] > TIMING_MIN_MS:
            out.timing += f"{flight}: medians {times[0]}-{times[-1]} ms differ. "
    if differing:
        out.state = "oracle"
        out.detail = ("the server answers malformed premasters differently (" +
                      "; ".join(differing) + "): a Bleichenbacher oracle (ROBOT)")
    elif out.state == "inconsistent":
        out.detail = "answers changed between repeats; run again on a quiet network"
    else:
        out.state = "not_vulnerable"
        out.detail = "every premaster variant got the same answer"
    out.timing = out.timing.strip() or "no timing difference between variants"
    return out


__all__ = ["RobotClient", "RobotResult", "VARIANTS", "check_robot"]
