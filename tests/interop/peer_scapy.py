#!/usr/bin/env python3
"""scapy 2.8's TLS automata as an independent TLS 1.0-1.2 peer (its own handshake and record
layer; ciphers from ``cryptography``; single DES is TripleDES with key K|K|K).

  python3 peer_scapy.py server --port 0 --cert C --key K --ca CA [options]
      Listens on 127.0.0.1 only, prints ``PORT n`` once listening, echoes each record back.
      Serves ONE client at a time (scapy's automaton is sequential). Prints one JSON line per
      connection: when its handshake completes, or when it ends without one.
  python3 peer_scapy.py client --port N --ca CA [--cert C --key K] [options]
      Offers exactly one version (``--versions 1.2``) and the ``--suites`` listed, sends ``--size``
      bytes of the shared pattern, checks the reply, prints one JSON line; exit 0 only on success.

Neither role negotiates Encrypt-then-MAC: scapy 2.8 has EtM code, but with it forced on, CBC
records fail the MAC check against tlslite-ng in both directions, so it is never offered or
accepted. Extended Master Secret (which scapy implements, but never offers itself) is added with
``--ems`` and interoperates with tlslite-ng in both roles.
scapy's server does not validate the client's chain: it is checked here against ``--ca`` before
the server's Finished goes out.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import threading
import time
import traceback

from legacy_peers import (check_peer_cert, emit, error_text, expected_reply, install_alarm,
                          keylog_append, parse_suites, parse_versions, payload, version_label)
from scapy.all import load_layer

load_layer("tls")
from scapy.layers.tls import automaton_srv  # noqa: E402
from scapy.layers.tls.automaton_cli import TLSClientAutomaton  # noqa: E402
from scapy.layers.tls.automaton_srv import TLSServerAutomaton  # noqa: E402
from scapy.layers.tls.crypto.suites import _tls_cipher_suites_cls  # noqa: E402
from scapy.layers.tls.extensions import (ServerName, TLS_Ext_ExtendedMasterSecret,  # noqa: E402
                                         TLS_Ext_RenegotiationInfo, TLS_Ext_ServerName,
                                         TLS_Ext_SignatureAlgorithms, TLS_Ext_SupportedGroups,
                                         TLS_Ext_SupportedPointFormat)
from scapy.layers.tls.handshake import (TLSCertificate, TLSCertificateRequest,  # noqa: E402
                                        TLSClientHello, TLSServerHello)
from scapy.layers.tls.record import TLSAlert  # noqa: E402

# scapy's echo server print()s every record it receives: our stdout is for PORT and JSON only.
STDOUT = sys.stdout


def report(record: dict) -> None:
    emit(record, STDOUT)


# TLS 1.2 CertificateVerify: scapy signs with rsa_pss_rsae_sha256 unless told otherwise, even when
# the server's CertificateRequest does not list it; pick from the server's list, PKCS#1 first.
CV_PREFERENCE = (0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806, 0x0201)


def session_record(role: str, s, started: float) -> dict:
    suite = s.wcs.ciphersuite.val if s.wcs and s.wcs.ciphersuite else None
    return {"role": role, "peer": "scapy", "version": version_label(s.tls_version or 0),
            "suite": suite, "suite_name": _tls_cipher_suites_cls[suite].__name__ if suite else "?",
            "etm": bool(s.encrypt_then_mac), "ems": bool(s.extms),
            "handshake_ms": round((time.monotonic() - started) * 1000)}


def peer_leaf(certs) -> bytes | None:
    return bytes(certs[0].der) if certs else None


def send_alert(automaton, description: int) -> None:
    automaton.add_record()
    automaton.add_msg(TLSAlert(level=2, descr=description))
    automaton.flush_records()


# ---- server --------------------------------------------------------------------------------
class EchoServer(TLSServerAutomaton):
    """scapy's echo server plus: version range, exact suite list, optional EMS, client chain
    check before our Finished, and one JSON line per connection."""

    def configure(self, args):
        self.args = args
        self.low, self.high = parse_versions(args.versions)
        self.record = None
        self.started = time.monotonic()

    def vprint(self, s=""):
        text = str(s)
        if text.startswith("Accepted connection from"):
            self.record = {"role": "server", "peer": "scapy", "ok": False, "log": []}
            self.started = time.monotonic()
        elif text.startswith("Waiting for a new client") and self.record is not None:
            self.record["error"] = "; ".join(self.record.pop("log")[-3:]) or "no handshake"
            report(self.record)  # the connection ended before its handshake completed
            self.record = None
        elif self.record is not None and text:
            self.record["log"].append(text)

    def get_next_msg(self, *a, **k):
        super().get_next_msg(*a, **k)
        s = self.cur_session
        for msg in self.buffer_in:
            if isinstance(msg, TLSClientHello) and s.tls_version is None:
                if s.advertised_tls_version < self.low:
                    self.vprint(f"client offers at most {s.advertised_tls_version:#06x}")
                    send_alert(self, 70)  # protocol_version
                    self.socket.close()
                    raise self.WAITING_CLIENT()
                # ServerHello takes the advertised version: cap it to our highest.
                s.advertised_tls_version = min(s.advertised_tls_version, self.high)
            if isinstance(msg, TLSCertificate) and self.args.require_client_cert:
                error = check_peer_cert(peer_leaf(s.client_certs), self.args.ca)
                if error:
                    self.record and self.record["log"].append(f"client certificate: {error}")
                    send_alert(self, 48 if s.client_certs else 42)  # unknown_ca/bad_certificate
                    self.socket.close()
                    raise self.WAITING_CLIENT()

    def add_msg(self, pkt):
        if isinstance(pkt, TLSServerHello):
            offered = {type(e) for m in self.cur_session.handshake_messages_parsed
                       if isinstance(m, TLSClientHello) for e in (m.ext or [])}
            if self.args.ems and TLS_Ext_ExtendedMasterSecret in offered:
                pkt.ext = list(pkt.ext or []) + [TLS_Ext_ExtendedMasterSecret()]
        super().add_msg(pkt)

    def vprint_sessioninfo(self):
        s = self.cur_session
        record = self.record or {"role": "server", "peer": "scapy"}
        record.pop("log", None)
        record.update(session_record("server", s, self.started), ok=True,
                      peer_cert=bool(s.client_certs))
        if self.args.keylog:
            keylog_append(self.args.keylog, s.client_random, s.master_secret)
        report(record)
        self.record = None


def server(args) -> int:
    sys.stdout = open(os.devnull, "w")
    allowed = list(args.suites)
    original = automaton_srv.get_usable_ciphersuites

    def only_listed(offered, kx):  # scapy's server would take any suite it knows
        return [c for c in original(offered, kx) if c in allowed]
    automaton_srv.get_usable_ciphersuites = only_listed
    srv = EchoServer(server="127.0.0.1", sport=args.port, mycert=args.cert, mykey=args.key,
                     preferred_ciphersuite=allowed[0], client_auth=args.require_client_cert,
                     is_echo_server=True, max_client_idle_time=args.timeout, verb=True)
    srv.configure(args)

    def run():  # in our own thread, so that an exception inside scapy ends this process
        try:
            srv.run()
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush()
        os._exit(3)
    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + 15
    while True:  # scapy binds and listens in its own thread: report the port once it listens
        sock = getattr(srv, "serversocket", None)
        port = sock.getsockname()[1] if sock is not None else 0
        if port and _listening(port):
            break
        if time.monotonic() > deadline:
            print("scapy server did not start listening", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.02)
    print(f"PORT {port}", file=STDOUT, flush=True)
    time.sleep(args.lifetime)  # the helper kills us much earlier; an orphan still goes away
    return 0


def _listening(port: int) -> bool:
    needle = f":{port:04X} 00000000:0000 0A"
    with open("/proc/net/tcp") as f:
        return needle in f.read()


# ---- client --------------------------------------------------------------------------------
class Script:
    """Stands in for the automaton's list of lines to send: the payload, then 'wait' until the
    whole reply is in (or the deadline passes), then 'quit' (close_notify)."""

    def __init__(self, client, chunks, want: int, deadline: float):
        self.client, self.chunks, self.want, self.deadline = client, list(chunks), want, deadline

    def __bool__(self):
        return True

    def pop(self):
        if self.chunks:
            return self.chunks.pop(0)
        if len(self.client.received) >= self.want or time.monotonic() > self.deadline:
            return b"quit"
        return b"wait"


class EchoClient(TLSClientAutomaton):
    def vprint(self, s=""):
        text = str(s)
        self.__dict__.setdefault("log", []).append(text)
        if text.startswith("Received: b"):  # application data, as scapy prints it
            self.__dict__.setdefault("received", bytearray()).extend(
                ast.literal_eval(text[len("Received: "):]))

    def get_next_msg(self, *a, **k):
        super().get_next_msg(*a, **k)
        for msg in self.buffer_in:
            if isinstance(msg, TLSAlert) and msg not in self.alerts:  # for the error message
                self.alerts.append(msg)
            if isinstance(msg, TLSCertificateRequest) and self.cur_session.tls_version == 0x0303:
                listed = list(msg.sig_algs or [])
                forced = self.cv_sigalg
                choice = forced or next((a for a in CV_PREFERENCE if a in listed), None)
                if choice:
                    self.cur_session.selected_sig_alg = choice


def client_hello(args, version: int) -> TLSClientHello:
    ext = [TLS_Ext_RenegotiationInfo()]
    if args.server_name:
        ext.append(TLS_Ext_ServerName(servernames=[ServerName(servername=args.server_name)]))
    if version == 0x0303:
        ext.append(TLS_Ext_SignatureAlgorithms(
            sig_algs=["sha256+rsa", "sha384+rsa", "sha512+rsa", "sha256+rsaepss", "sha1+rsa"]))
    if any("ECDHE" in _tls_cipher_suites_cls[c].__name__ for c in args.suites):
        ext += [TLS_Ext_SupportedGroups(groups=["secp256r1", "secp384r1"]),
                TLS_Ext_SupportedPointFormat(ecpl=[0])]
    if args.ems:
        ext.append(TLS_Ext_ExtendedMasterSecret())
    return TLSClientHello(version=version, ciphers=list(args.suites), ext=ext)


def client(args) -> int:
    low, high = parse_versions(args.versions)
    if low != high:
        raise SystemExit("scapy's client offers exactly one version: --versions 1.0|1.1|1.2")
    started = time.monotonic()
    record = {"role": "client", "peer": "scapy", "ok": False}
    try:
        kw = dict(mycert=args.cert, mykey=args.key) if args.cert else {}
        c = EchoClient(server=args.host, dport=args.port, server_name=args.server_name or None,
                       cafile=args.ca, version={0x0301: "tls10", 0x0302: "tls11",
                                                0x0303: "tls12"}[high],
                       client_hello=client_hello(args, high), verb=True, **kw)
        c.cv_sigalg = int(args.cv_sigalg, 16) if args.cv_sigalg else None
        c.received, c.alerts = bytearray(), []
        data = payload(args.size)
        want = expected_reply(data, args.expect)
        # One record per chunk: scapy does not fragment application data itself.
        chunks = [data[i:i + 16384] for i in range(0, len(data), 16384)]
        c.data_to_send = Script(c, chunks, len(want), time.monotonic() + args.timeout)
        c.run()
        s = c.cur_session
        log = c.__dict__.get("log", [])
        if not any("TLS handshake completed" in line for line in log):
            alerts = [a.sprintf("%descr%") for a in c.alerts]
            raise RuntimeError(f"handshake failed (alerts received: {alerts}): "
                               + " | ".join(x for x in log[-4:] if x))
        record.update(session_record("client", s, started), sent=len(data),
                      received=len(c.received))
        if args.keylog:
            keylog_append(args.keylog, s.client_random, s.master_secret)
        # scapy already verified the chain (cafile) and the name; the same check as the others:
        error = check_peer_cert(peer_leaf(s.server_certs), args.ca, server_name=args.server_name)
        if error:
            raise RuntimeError(f"server certificate refused: {error}")
        if bytes(c.received) != want:
            raise RuntimeError(f"reply differs from the expected {args.expect} "
                               f"({len(c.received)} of {len(want)} bytes; alerts received: "
                               f"{[a.sprintf('%descr%') for a in c.alerts]})")
        record["ok"] = True
    except Exception as exc:
        record["error"] = error_text(exc)
    emit(record)
    return 0 if record["ok"] else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca", required=True)
    p.add_argument("--versions", default=None,
                   help="client: one version (default 1.2); server: range (default 1.0-1.2)")
    p.add_argument("--suites", type=parse_suites, default="0x000A",
                   help="IANA codes; server: accept only these, prefer the first")
    p.add_argument("--ems", action="store_true", help="offer/accept Extended Master Secret")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--server-name", default="localhost")
    p.add_argument("--cv-sigalg", help="client, TLS 1.2: force this CertificateVerify scheme")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--expect", choices=["echo", "rev"], default="echo")
    p.add_argument("--keylog")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--lifetime", type=float, default=600.0)
    args = p.parse_args(argv)
    if args.mode == "server":
        args.versions = args.versions or "1.0-1.2"
        if not (args.cert and args.key):
            p.error("server needs --cert and --key")
        return server(args)
    args.versions = args.versions or "1.2"
    install_alarm(args.timeout * 2 + 10)
    return client(args)


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    os._exit(rc)  # scapy's automaton thread must not keep the process alive
