"""Grading the SCUs that connect (``dicomtls scan-client``): a DICOM TLS SCP that records each
client's ClientHello and, one round per connection, presents a different server certificate:

- ``valid``: the operator's certificate; the client should associate;
- ``unknown_ca``: same names, from a CA made up at start; it should refuse;
- ``expired``: from the real issuer, expired yesterday (needs the issuer's key);
- ``wrong_name``: from the real issuer, naming wrong-name.invalid / 192.0.2.1 only;
- ``no_server_auth``: from the real issuer, extended key usage clientAuth only.

A client that completes the handshake on a bad certificate and then sends A-ASSOCIATE-RQ does
not validate the server (a finding); one that aborts the handshake with an alert, or closes
before associating, refused it. Rounds go in order per client address, so an operator
triggers one echo per round from the device and the report builds up; with ``--json-out`` it
is rewritten after every connection. A client certificate is requested, recorded, and checked
against the CAs given, never required (the device is graded, not refused).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..crypto.devpki import issue_certificate
from ..crypto.keys import PrivateKey, load_private_key
from ..crypto.x509 import load_certificates
from ..errors import CertificateVerifyError, DicomTLSError, alert_name
from ..tls.config import TLSConfig
from ..tls.own.cipherspec import allowed_at
from ..tls.suites import ALL_SUITES
from ..tls.versions import TLSVersion
from .client_hello import HelloTap
from .probe import engine_can

ROUNDS = ("valid", "unknown_ca", "expired", "wrong_name", "no_server_auth")
SCHEMA = "dicomtls-scan-client"
SCHEMA_VERSION = 1


@dataclass
class RoundResult:
    """One connection: which certificate it was shown and what the client did."""

    round: str
    # associated, refused_in_handshake, closed_after_handshake, client_certificate_invalid
    outcome: str = ""
    verdict: str = ""            # pass, fail (a bad certificate accepted), info
    detail: str = ""
    client_alert: Optional[str] = None
    version: Optional[str] = None
    suite: Optional[str] = None
    client_certificate: Optional[str] = None
    client_certificate_valid: Optional[bool] = None
    calling_ae: Optional[str] = None
    echoes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ClientRecord:
    """One client address: its first ClientHello and its rounds so far."""

    address: str
    hello: Optional[dict] = None
    rounds: list = field(default_factory=list)
    assigned: int = 0

    def grade(self) -> dict:
        done = {r.round: r for r in self.rounds}
        bad = [r.round for r in self.rounds if r.verdict == "fail"]
        return {"validates_server_certificate": (None if not any(
                    n != "valid" for n in done) else not bad),
                "accepted_bad_certificates": bad,
                "rounds_left": [n for n in ROUNDS if n not in done]}


def round_certificates(cert: str, key: str, directory: Path, *, issuer_cert: Optional[str] = None,
                       issuer_key: Optional[str] = None, password=None) -> dict:
    """{round: (cert path, key path)}: the valid pair, and the defective ones minted to mirror
    its names (the issuer's rounds only when its key is given)."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = load_certificates(cert)[0].info()
    common_name = next((part[3:] for part in leaf.subject.split(",") if part.startswith("CN=")),
                       "dicom-scp")
    dns = tuple(v for k, v in leaf.alt_names if k == "DNS")
    ips = tuple(v for k, v in leaf.alt_names if k == "IP")
    out = {"valid": (str(cert), str(key))}

    def mint(name, issuer, **kw):
        sub_key = PrivateKey.generate("rsa", bits=2048)
        c = issue_certificate(sub_key, kw.pop("cn", common_name), issuer=issuer, **kw)
        cp, kp = directory / f"{name}.pem", directory / f"{name}.key"
        cp.write_bytes(c.to_pem())
        kp.write_bytes(sub_key.export())
        kp.chmod(0o600)
        out[name] = (str(cp), str(kp))

    rogue_key = PrivateKey.generate("rsa", bits=2048)
    rogue = issue_certificate(rogue_key, "dicomtls scan-client untrusted CA", ca=True)
    mint("unknown_ca", (rogue, rogue_key), purposes=("serverAuth",), san_dns=dns, san_ip=ips)
    if issuer_cert and issuer_key:
        issuer = (load_certificates(issuer_cert)[0], load_private_key(issuer_key, password=password))
        mint("expired", issuer, purposes=("serverAuth",), san_dns=dns, san_ip=ips,
             not_before=dt.timedelta(days=-30), not_after=dt.timedelta(days=-1))
        mint("wrong_name", issuer, cn="wrong-name.invalid", purposes=("serverAuth",),
             san_dns=("wrong-name.invalid",), san_ip=("192.0.2.1",))
        mint("no_server_auth", issuer, purposes=("clientAuth",), san_dns=dns, san_ip=ips)
    return out


def _grading_config(cert, key, ca_file: Optional[str]) -> TLSConfig:
    """A server that lets any client in (every suite an engine of this build runs, TLS 1.0-1.3,
    weak keys and groups allowed) and asks for, but does not require, a client certificate."""
    tls13 = tuple(s for s in ALL_SUITES if s.is_tls13 and engine_can("libssl", s, TLSVersion.TLSv1_3))
    older = tuple(s for s in ALL_SUITES if not s.is_tls13 and any(
        engine_can("libssl", s, v) or allowed_at(s, v) for v in TLSVersion))
    return TLSConfig(certificate=cert, private_key=key, ca_file=ca_file,
                     peer_cert="verify" if ca_file else "ignore", cipher_suites=older,
                     tls13_suites=tls13, min_version=TLSVersion.TLSv1_0,
                     max_version=TLSVersion.TLSv1_3, security_level=0, min_dhe_bits=None,
                     _quiet=True)


class ClientGrader:
    """Serve connections one round each; ``report()`` is the JSON document."""

    def __init__(self, rounds: dict, *, ca_file: Optional[str] = None, timeout: float = 30.0,
                 on_change=None):
        self.rounds = rounds
        self.order = [n for n in ROUNDS if n in rounds]
        self.configs = {n: _grading_config(c, k, ca_file) for n, (c, k) in rounds.items()}
        self.verifies_clients = ca_file is not None
        self.timeout = timeout
        self.clients: dict = {}
        self.on_change = on_change
        self._lock = threading.Lock()

    def next_round(self, address: str) -> str:
        """The round the next connection from ``address`` gets: called in accept order (the
        connections are then handled in parallel)."""
        with self._lock:
            record = self.clients.setdefault(address, ClientRecord(address))
            name = self.order[record.assigned % len(self.order)]
            record.assigned += 1
            return name

    def handle(self, sock, address: str, name: Optional[str] = None) -> RoundResult:
        """One connection, one round (the socket is closed on return)."""
        from ..io.association_runner import serve_association
        from ..io.tls_socket import TLSSocket
        from ..tls.engines import new_connection
        name = name or self.next_round(address)
        record = self.clients[address]
        result = RoundResult(name)
        tap = HelloTap()
        started = time.monotonic()
        try:
            sock.settimeout(self.timeout)
            tls = TLSSocket(sock, new_connection(self.configs[name], "server"), tap=tap.feed)
            try:
                tls.do_handshake(deadline=started + self.timeout)
            except (DicomTLSError, OSError) as exc:
                received = getattr(exc, "alert_received", None)
                result.client_alert = alert_name(received) if received is not None else None
                result.detail = str(exc)
                if isinstance(exc, CertificateVerifyError):
                    # We refused the client's certificate: says nothing of its checks on ours.
                    result.outcome = "client_certificate_invalid"
                    result.client_certificate_valid = False
                    cert = getattr(exc, "peer_certificate", None)
                    result.client_certificate = cert.subject if cert is not None else None
                else:
                    result.outcome = "refused_in_handshake"
            else:
                self._after_handshake(tls, result, serve_association)
        finally:
            sock.close()
        result.verdict = _verdict(result)
        result.seconds = round(time.monotonic() - started, 3)
        with self._lock:
            if record.hello is None and tap.info is not None:
                record.hello = tap.info.to_dict()
            record.rounds.append(result)
        if self.on_change is not None:
            self.on_change(self)
        return result

    def _after_handshake(self, tls, result: RoundResult, serve_association) -> None:
        session = tls.session
        result.version = session.protocol.label
        result.suite = session.cipher_suite.name if session.cipher_suite else None
        if session.peer_certificates:
            result.client_certificate = session.peer_certificates[0].subject
            # With CAs given the server verified it (peer_cert "verify": a bad one fails the
            # handshake); without, nobody checked it.
            result.client_certificate_valid = True if self.verifies_clients else None
        served = serve_association(tls, timeout=self.timeout)
        result.calling_ae, result.echoes = served.calling_ae, served.echoes
        if served.calling_ae is not None:
            result.outcome = "associated"
            result.detail = f"{served.outcome}, {served.echoes} C-ECHO"
        else:
            result.outcome = "closed_after_handshake"
            result.detail = served.error or "no A-ASSOCIATE-RQ"

    def report(self) -> dict:
        with self._lock:
            return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
                    "rounds": self.order, "clients": [
                        {"address": r.address, "hello": r.hello,
                         "rounds": [x.to_dict() for x in r.rounds], "grade": r.grade()}
                        for r in self.clients.values()]}


def _verdict(result: RoundResult) -> str:
    """valid: pass when it associated. A bad certificate: fail when the client went on to
    associate, pass when it refused in the handshake; a handshake completed and then closed
    is info (refused after the handshake, or not a DICOM client at all)."""
    if result.round == "valid":
        return "pass" if result.outcome == "associated" else "info"
    return {"associated": "fail", "refused_in_handshake": "pass"}.get(result.outcome, "info")
