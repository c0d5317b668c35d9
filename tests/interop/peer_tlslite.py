#!/usr/bin/env python3
"""tlslite-ng 0.8 as an independent TLS 1.0-1.2 peer (pure Python: its own record layer, PRF,
key exchange and handshake; only the CA check below uses ``cryptography``).

  python3 peer_tlslite.py server --port 0 --cert C --key K --ca CA [options]
      Listens on 127.0.0.1 only, prints ``PORT n`` once listening, echoes every connection
      (one thread each) and prints one JSON line per connection when it ends.
  python3 peer_tlslite.py client --port N --ca CA [--cert C --key K] [options]
      Connects to 127.0.0.1, checks the server chain, sends ``--size`` bytes of the shared pattern,
      reads the reply (``--expect echo`` or ``rev`` for ``openssl s_server -rev``) and prints one
      JSON line; exit status 0 only if everything matched.

``--suites`` takes IANA codes (``0x000A,0x002F``): tlslite can only be configured by cipher, MAC
and key-exchange names, which would also enable every other combination of those names, so the
suite filter is narrowed to exactly the listed codes. tlslite validates no certificate chain
itself: both roles check the peer's leaf against ``--ca`` (issuer, signature, validity) here.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from contextlib import suppress

from legacy_peers import (check_peer_cert, emit, error_text, expected_reply, install_alarm,
                          keylog_append, parse_suites, parse_versions, payload, version_label)
from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey
from tlslite.constants import AlertDescription, CipherSuite
from tlslite.errors import TLSAbruptCloseError, TLSLocalAlert

def _names_for(suites: list[int]) -> tuple[list[str], list[str], list[str]]:
    """tlslite's cipher/MAC/key-exchange names covering ``suites`` (from tlslite's own tables)."""
    groups = (
        ("cipher", [("3des", CipherSuite.tripleDESSuites), ("aes128", CipherSuite.aes128Suites),
                    ("aes256", CipherSuite.aes256Suites), ("aes128gcm", CipherSuite.aes128GcmSuites),
                    ("aes256gcm", CipherSuite.aes256GcmSuites)]),
        ("mac", [("sha", CipherSuite.shaSuites), ("sha256", CipherSuite.sha256Suites),
                 ("sha384", CipherSuite.sha384Suites), ("aead", CipherSuite.aeadSuites)]),
        ("kx", [("rsa", CipherSuite.certSuites), ("dhe_rsa", CipherSuite.dheCertSuites),
                ("ecdhe_rsa", CipherSuite.ecdheCertSuites)]),
    )
    found: dict[str, list[str]] = {"cipher": [], "mac": [], "kx": []}
    for code in suites:
        for kind, table in groups:
            name = next((n for n, members in table if code in members), None)
            if name is None:
                raise SystemExit(f"tlslite-ng 0.8.2 does not implement suite 0x{code:04X}")
            if name not in found[kind]:
                found[kind].append(name)
    return found["cipher"], found["mac"], found["kx"]


def restrict_suites(suites: list[int]) -> None:
    """Make tlslite offer/accept only ``suites`` (this process only): its filter is by names."""
    original = CipherSuite._filterSuites
    allowed = set(suites)

    def only_listed(candidates, settings, version=None):
        return [s for s in original(candidates, settings, version) if s in allowed]
    CipherSuite._filterSuites = staticmethod(only_listed)


def settings_from(args) -> HandshakeSettings:
    s = HandshakeSettings()
    low, high = parse_versions(args.versions)
    s.minVersion, s.maxVersion = (3, low & 0xFF), (3, high & 0xFF)
    s.cipherNames, s.macNames, s.keyExchangeNames = _names_for(args.suites)
    s.useEncryptThenMAC = not args.no_etm
    s.useExtendedMasterSecret = not args.no_ems
    return s


def load_pair(cert: str, key: str):
    chain = X509CertChain()
    with open(cert) as f:
        chain.parsePemList(f.read())
    with open(key) as f:
        return chain, parsePEMKey(f.read(), private=True)


def leaf_der(chain) -> bytes | None:
    if chain is None or chain.getNumCerts() == 0:
        return None
    return bytes(chain.x509List[0].bytes)


def describe(conn, role: str, peer_chain, started: float) -> dict:
    """What tlslite itself reports about the session (EtM: record layer; EMS: connection)."""
    session = conn.session
    return {"role": role, "peer": "tlslite", "version": version_label(0x0300 | conn.version[1]),
            "suite": session.cipherSuite,
            "suite_name": CipherSuite.ietfNames.get(session.cipherSuite, "?"),
            "etm": bool(conn.encryptThenMAC), "ems": bool(conn.extendedMasterSecret),
            "peer_cert": leaf_der(peer_chain) is not None,
            "handshake_ms": round((time.monotonic() - started) * 1000)}


def write_keylog(conn, path: str | None) -> None:
    if path:
        keylog_append(path, bytes(conn._clientRandom), bytes(conn.session.masterSecret))


def reject(conn, why: str) -> None:
    """Fatal bad_certificate alert after the handshake: tlslite accepts an empty client
    Certificate and has no hook before its Finished, so this is the earliest place to refuse."""
    try:
        for _ in conn._sendError(AlertDescription.bad_certificate, why):
            pass
    except (TLSLocalAlert, OSError):
        pass


# ---- server --------------------------------------------------------------------------------
def serve_one(sock, args, chain, key, lock) -> None:
    sock.settimeout(args.timeout)
    conn = TLSConnection(sock)
    started = time.monotonic()
    record = {"role": "server", "peer": "tlslite", "ok": False}
    try:
        conn.handshakeServer(certChain=chain, privateKey=key, reqCert=args.require_client_cert,
                             settings=settings_from(args))
        record.update(describe(conn, "server", conn.session.clientCertChain, started))
        write_keylog(conn, args.keylog)
        if args.require_client_cert:
            error = check_peer_cert(leaf_der(conn.session.clientCertChain), args.ca)
            if error:
                reject(conn, error)
                raise RuntimeError(f"client certificate refused: {error}")
        record.update(echoed=0, closed="close_notify")
        try:
            while data := conn.recv(16384):  # b"": close_notify from the client
                conn.sendall(data)
                record["echoed"] += len(data)
        except TLSAbruptCloseError:  # TCP closed without close_notify: noted, not an error
            record["closed"] = "abrupt"
        record["ok"] = True
    except Exception as exc:  # one bad client must not stop the server
        record["error"] = error_text(exc)
    with suppress(Exception):
        conn.close()
    sock.close()
    with lock:
        emit(record)


def server(args) -> int:
    chain, key = load_pair(args.cert, args.key)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))  # loopback only, never the wildcard address
    listener.listen(16)
    listener.settimeout(0.5)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    lock = threading.Lock()
    deadline = time.monotonic() + args.lifetime  # an orphaned server still goes away
    served = 0
    while time.monotonic() < deadline and (args.max_conns == 0 or served < args.max_conns):
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            continue
        served += 1
        threading.Thread(target=serve_one, args=(sock, args, chain, key, lock),
                         daemon=True).start()
    listener.close()
    return 0


# ---- client --------------------------------------------------------------------------------
def client(args) -> int:
    started = time.monotonic()
    record = {"role": "client", "peer": "tlslite", "ok": False}
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        conn = TLSConnection(sock)
        chain, key = load_pair(args.cert, args.key) if args.cert else (None, None)
        conn.handshakeClientCert(certChain=chain, privateKey=key, settings=settings_from(args),
                                 serverName=args.server_name or None)
        record.update(describe(conn, "client", conn.session.serverCertChain, started))
        write_keylog(conn, args.keylog)
        error = check_peer_cert(leaf_der(conn.session.serverCertChain), args.ca,
                                server_name=args.server_name)
        if error:
            raise RuntimeError(f"server certificate refused: {error}")
        data = payload(args.size)
        want = expected_reply(data, args.expect)
        conn.sendall(data)
        got = bytearray()
        while len(got) < len(want):
            chunk = conn.recv(16384)
            if not chunk:
                break
            got += chunk
        record.update(sent=len(data), received=len(got))
        if bytes(got) != want:
            raise RuntimeError(f"reply differs from the expected {args.expect} "
                               f"({len(got)} of {len(want)} bytes)")
        record["ok"] = True
        try:  # the exchange succeeded; how the peer answers our close_notify is only noted
            conn.close()
            record["closed"] = "close_notify"
        except Exception as exc:
            record["closed"] = error_text(exc)
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
    p.add_argument("--versions", default="1.0-1.2", help="1.2, or a range like 1.0-1.2")
    p.add_argument("--suites", type=parse_suites, default="0x000A",
                   help="IANA codes, comma separated (default 0x000A, 3DES)")
    p.add_argument("--no-etm", action="store_true", help="neither offer nor accept EtM")
    p.add_argument("--no-ems", action="store_true", help="neither offer nor accept EMS")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--server-name", default="localhost",
                   help="client: SNI and the name the server certificate must carry")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--expect", choices=["echo", "rev"], default="echo")
    p.add_argument("--keylog", help="append NSS CLIENT_RANDOM lines here")
    p.add_argument("--timeout", type=float, default=20.0, help="per socket operation")
    p.add_argument("--lifetime", type=float, default=600.0, help="server: exit after this")
    p.add_argument("--max-conns", type=int, default=0, help="server: exit after N (0: no limit)")
    args = p.parse_args(argv)
    restrict_suites(args.suites)
    if args.mode == "server":
        if not (args.cert and args.key):
            p.error("server needs --cert and --key")
        return server(args)
    # A hard stop for the whole client run, whatever tlslite does with the socket timeout.
    install_alarm(args.timeout * 3 + 5)
    return client(args)


if __name__ == "__main__":
    sys.exit(main())
