"""The TLS options every TLS-speaking subcommand shares, and their translation to a TLSConfig."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

# The profile names as tls.profiles has them (a test keeps the two equal): the parser of every
# command shows them, and importing tls.profiles (the suite registry) cost every command 6 ms.
PROFILE_NAMES = ("basic", "aes", "bcp195", "bcp195-nd", "bcp195-ex", "rfc8996", "rfc8996-mod",
                 "none")
DEFAULT_PROFILE = "rfc8996"

if TYPE_CHECKING:
    from ..tls.config import TLSConfig

VERSIONS = ("1.0", "1.1", "1.2", "1.3")


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("TLS")
    g.add_argument("--cert", metavar="FILE", help="own certificate (chain, leaf first)")
    g.add_argument("--key", metavar="FILE", help="own private key (default: in --cert)")
    g.add_argument("--der", action="store_true", help="certificate and key files are DER")
    pw = g.add_mutually_exclusive_group()
    pw.add_argument("--key-password", metavar="PW", help="password of an encrypted key")
    pw.add_argument("--key-password-file", metavar="F", help="read the key password from F")
    g.add_argument("--ca", metavar="FILE", help="trusted CA certificates (PEM)")
    g.add_argument("--ca-dir", metavar="DIR", help="trusted CA directory (c_rehash layout)")
    g.add_argument("--peer-cert", choices=("require", "verify", "ignore"), default="require",
                   help="peer certificate policy (default require; verify = only if presented)")
    g.add_argument("--verify-hostname", action="store_true",
                   help="a client also checks that the server certificate names HOST")
    g.add_argument("--verify-depth", type=int, metavar="N", help="maximum chain depth")
    g.add_argument("--profile", default=DEFAULT_PROFILE,
                   help="PS3.15 profile: " + ", ".join(PROFILE_NAMES) +
                        f" (default {DEFAULT_PROFILE})")
    g.add_argument("--cipher", action="append", default=[], metavar="IANA_NAME",
                   help="ciphersuite by IANA name or code, repeatable, in proposal order; "
                        "replaces the profile's list")
    g.add_argument("--min-version", choices=VERSIONS)
    g.add_argument("--max-version", choices=VERSIONS)
    g.add_argument("--client-preference", action="store_true",
                   help="a server picks by the client's order instead of its own")
    g.add_argument("--keylog", metavar="FILE", help="append NSS key log lines (for Wireshark)")
    g.add_argument("--no-etm", action="store_true",
                   help="do not offer or accept encrypt-then-MAC (RFC 7366), for testing peers")
    g.add_argument("--no-ems", action="store_true",
                   help="do not offer or accept the extended master secret (RFC 7627)")
    g.add_argument("--engine", choices=("auto", "libssl", "dicomtls"), default="auto",
                   help="TLS engine: auto (libssl when it can, else dicomtls' own TLS 1.0-1.2 "
                        "engine), or force one")
    g.add_argument("--resume", action="store_true",
                   help="TLS session resumption (libssl engine; off by default: a resumed "
                        "handshake does not check the client certificate again, it was checked "
                        "when the session was made): a server keeps sessions and sends tickets, "
                        "a client offers the last one per server")
    g.add_argument("--session-lifetime", type=float, default=300.0, metavar="SECONDS",
                   help="how long a session may be resumed (default 300)")


def config_from_args(args: argparse.Namespace) -> TLSConfig:
    # Here, not at the top: a command without --tls never loads the TLS configuration.
    from ..tls.check import check_config
    from ..tls.config import TLSConfig, parse_cipher_list
    password = args.key_password
    if args.key_password_file:
        password = Path(args.key_password_file).read_text().rstrip("\r\n")
    config = TLSConfig.from_profile(
        args.profile,
        ciphers=parse_cipher_list(args.cipher),
        min_version=args.min_version,
        max_version=args.max_version,
        certificate=args.cert,
        private_key=args.key,
        file_format="der" if args.der else "pem",
        key_password=password,
        ca_file=args.ca,
        ca_dir=args.ca_dir,
        peer_cert=args.peer_cert,
        verify_depth=args.verify_depth,
        verify_hostname=args.verify_hostname,
        server_preference=not args.client_preference,
        keylog_file=args.keylog,
        engine=getattr(args, "engine", "auto"),
        encrypt_then_mac=not getattr(args, "no_etm", False),
        extended_master_secret=not getattr(args, "no_ems", False),
        session_cache=_session_cache(args),
    )
    # Fail at start-up, not at the first handshake: a server before it binds, a client before it
    # connects (no engine for the suites, unreadable files, wrong password, broken trust store).
    check_config(config, getattr(args, "role", "client"))
    return config


def _session_cache(args):
    """--resume: a ``tls.session_cache.SessionCache`` (resumption is off without it)."""
    if not getattr(args, "resume", False):
        return None
    from ..tls.session_cache import SessionCache
    return SessionCache(lifetime=args.session_lifetime)


def session_record(session, received: bytes | None = None) -> dict:
    record = session.to_dict()
    if received is not None:
        record["received"] = received.decode("utf-8", "replace")
    return record


def print_session(session, *, as_json: bool, received: bytes | None = None, prefix: str = "",
                  stream=None) -> None:
    import sys
    stream = stream or sys.stdout
    if as_json:
        stream.write(json.dumps(session_record(session, received)) + "\n")
    else:
        stream.write(prefix + session.summary() + "\n")
        if received is not None:
            stream.write(received.decode("utf-8", "replace"))
            if received and not received.endswith(b"\n"):
                stream.write("\n")
    stream.flush()


def unescape(text: str) -> bytes:
    """--send TEXT with \\r, \\n, \\t and \\\\ escapes."""
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1")
