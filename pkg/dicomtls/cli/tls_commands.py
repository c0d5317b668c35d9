"""`dicomtls tls-server`, `tls-client`, `suites` and `certs`: TLS debugging like openssl s_server/s_client."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from ..errors import DicomTLSError
from .options import add_client_arguments, add_server_arguments, bounded
from .tls_options import add_tls_options, config_from_args, print_session, unescape

if TYPE_CHECKING:
    from ..tls.config import TLSConfig

PATTERN = bytes(range(256)) * 4096  # 1 MiB of a known pattern for --send-bytes


def add_parsers(sub) -> None:
    p = sub.add_parser("tls-server", help="TLS debug server (like openssl s_server)")
    add_server_arguments(p, timeout=30.0, dicom=False)
    p.add_argument("--echo", action="store_true", help="echo back what each client sends")
    p.add_argument("--sink", action="store_true",
                   help="discard what clients send; report bytes and MB/s")
    p.set_defaults(func=cmd_tls_server)

    p = sub.add_parser("tls-client", help="TLS debug client (like openssl s_client)")
    add_client_arguments(p, timeout=30.0, dicom=False)
    p.add_argument("--send", metavar="TEXT", help="send TEXT (\\r \\n escapes) and print the reply")
    p.add_argument("--send-bytes", type=bounded(int, 0, 1 << 40), metavar="N",
                   help="send N bytes of a test pattern")
    p.set_defaults(func=cmd_tls_client)

    p = sub.add_parser("check-tls", help="load and check a TLS configuration (key, password, "
                                         "certificate, trust store, engine) without connecting")
    p.add_argument("--role", choices=("server", "client"), default="server")
    p.add_argument("--json", action="store_true")
    add_tls_options(p)
    p.set_defaults(func=cmd_check_tls)

    p = sub.add_parser("suites", help="list ciphersuites, their properties and engines")
    p.add_argument("--profile", help="only the suites of this profile, in its order")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_suites)

    p = sub.add_parser("profiles", help="list the PS3.15 profiles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser("certs", help="write a dev PKI (CA, server and client certificates)")
    p.add_argument("directory")
    p.add_argument("--key-type", choices=("rsa", "ec"), default="rsa")
    p.add_argument("--bits", type=int, default=2048)
    p.add_argument("--password", default="secret", help="password of the encrypted key copies")
    p.set_defaults(func=cmd_certs)


def _serve_one(tls, args, out) -> None:
    received = bytearray()
    total = 0
    started = time.perf_counter()
    try:
        while True:
            chunk = tls.recv()
            if not chunk:
                break
            total += len(chunk)
            if args.echo:
                tls.sendall(chunk)
            if not args.sink:
                received += chunk
    finally:
        # Also after an error: the alert has gone out and the connection is over (a peer
        # waiting for our EOF must not sit in ESTABLISHED until it times out).
        tls.close()
    seconds = time.perf_counter() - started
    if args.sink:
        rate = total / seconds / 1e6 if seconds > 0 else 0.0
        if args.json:
            record = tls.session.to_dict()
            record.update(bytes_received=total, seconds=round(seconds, 6), mb_per_s=round(rate, 1))
            out.write(json.dumps(record) + "\n")
        else:
            print_session(tls.session, as_json=False, stream=out)
            out.write(f"received {total} bytes in {seconds:.3f} s ({rate:.1f} MB/s)\n")
    else:
        print_session(tls.session, as_json=args.json, received=bytes(received), stream=out)
    out.flush()


def cmd_tls_server(args) -> int:
    from ..io.tls_socket import handshake_failure_text, listen, peer_name, server_handshake
    config = config_from_args(args)
    listener = listen(args.bind, args.port)
    out = sys.stdout
    # On stderr, so stdout stays pure JSON with --json; scripts wait for this line.
    host, port = listener.getsockname()[:2]
    sys.stderr.write(f"listening on {host}:{port} ({config.profile}, "
                     f"{config.min_version.label}-{config.max_version.label})\n")
    sys.stderr.flush()
    status = 0
    try:
        while True:
            sock, _ = listener.accept()
            peer = peer_name(sock)
            try:
                tls = server_handshake(sock, config, timeout=args.timeout)
            except (DicomTLSError, OSError) as exc:
                cert = getattr(exc, "peer_certificate", None)
                who = (peer or "?") + (f" ({cert.subject})" if cert is not None else "")
                sys.stderr.write(f"dicomtls tls-server: {who}: {handshake_failure_text(exc)}\n")
                status = 1
                if args.once:
                    return status
                continue
            try:
                _serve_one(tls, args, out)
                status = 0
            except (DicomTLSError, OSError) as exc:
                sys.stderr.write(f"dicomtls tls-server: connection failed: {exc}\n")
                status = 1
            if args.once:
                return status
    except KeyboardInterrupt:
        return status
    finally:
        listener.close()


def cmd_tls_client(args) -> int:
    import socket
    from ..io.tls_socket import connect
    config = config_from_args(args)
    tls = connect(args.host, args.port, config, timeout=args.timeout,
                  server_name=args.server_name)
    received = bytearray()
    try:
        sent = 0
        started = time.perf_counter()
        if args.send is not None:
            payload = unescape(args.send)
            tls.sendall(payload)
            sent += len(payload)
        if args.send_bytes:
            left = args.send_bytes
            while left > 0:
                piece = PATTERN[:min(left, len(PATTERN))]
                tls.sendall(piece)
                left -= len(piece)
            sent += args.send_bytes
        if sent:
            # Half-close: the server sees close_notify after the data and may still answer.
            tls.shutdown_write()
            try:
                while True:
                    chunk = tls.recv()
                    if not chunk:
                        break
                    received += chunk
            except (socket.timeout, TimeoutError):
                pass
        seconds = time.perf_counter() - started
    finally:
        tls.close()
    print_session(tls.session, as_json=args.json,
                  received=bytes(received) if args.send is not None else None)
    if args.send_bytes and not args.json:
        rate = sent / seconds / 1e6 if seconds > 0 else 0.0
        sys.stdout.write(f"sent {sent} bytes in {seconds:.3f} s ({rate:.1f} MB/s)\n")
    return 0


def cmd_check_tls(args) -> int:
    """Exit 0 when the configuration is usable for --role (warnings on stderr), else 1 with the
    one-line reason main() prints: for deploy scripts and configuration management."""
    from ..tls.check import check_config
    report = check_config(config_from_args(args), args.role)  # config_from_args checks it too
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    else:
        sys.stdout.write(report.summary() + "\n")
    return 0


def cmd_suites(args) -> int:
    from ..tls.engines import suite_engines
    from ..tls.profiles import get_profile
    from ..tls.suites import ALL_SUITES
    suites = get_profile(args.profile).all_suites if args.profile else ALL_SUITES
    rows = []
    for s in suites:
        d = s.to_dict()
        d["engines"] = list(suite_engines(s.code))
        rows.append(d)
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return 0
    header = f"{'code':6}  {'IANA name':48} {'kx':5} {'auth':5} {'encryption':17} {'bits':>4} " \
             f"{'mac':6} {'versions':15} engines"
    print(header)
    for d in rows:
        versions = f"{d['min_version']}-{d['max_version']}"
        flag = " (legacy)" if d["legacy"] else ""
        print(f"{d['code_hex']:6}  {d['name']:48} {d['key_exchange']:5} {d['authentication']:5} "
              f"{d['encryption']:17} {d['encryption_bits']:>4} {d['mac']:6} {versions:15} "
              f"{','.join(d['engines']) or 'none in this build'}{flag}")
    return 0


def cmd_profiles(args) -> int:
    from ..tls.profiles import PROFILES
    if args.json:
        sys.stdout.write(json.dumps([p.to_dict() for p in PROFILES.values()], indent=1) + "\n")
        return 0
    for p in PROFILES.values():
        status = " (retired)" if p.retired else ""
        print(f"{p.name:12} {p.section or '-':12} {p.min_version.label}-{p.max_version.label}"
              f"  {len(p.suites)} suites + {len(p.tls13_suites)} TLS 1.3{status}: {p.title}")
    return 0


def cmd_certs(args) -> int:
    from ..crypto.devpki import create_dev_pki
    pki = create_dev_pki(args.directory, key_type=args.key_type, bits=args.bits,
                         password=args.password)
    for name in ("ca_cert", "ca_key", "server_cert", "server_key", "server_key_encrypted",
                 "client_cert", "client_key", "client_key_encrypted"):
        print(f"{name:22} {getattr(pki, name)}")
    return 0


def demo_config(pki, role: str) -> TLSConfig:
    """The embedded default: rfc8996 profile, mutual authentication with the dev PKI."""
    from ..tls.config import TLSConfig
    if role == "server":
        return TLSConfig.from_profile(certificate=str(pki.server_cert), private_key=str(pki.server_key),
                                      ca_file=str(pki.ca_cert))
    return TLSConfig.from_profile(certificate=str(pki.client_cert),
                                  private_key=str(pki.client_key_encrypted),
                                  key_password=pki.password, ca_file=str(pki.ca_cert))
