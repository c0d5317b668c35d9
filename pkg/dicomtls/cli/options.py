"""The argument groups the commands share: a peer to call, a port to listen on, a number in a
range. The TLS options themselves are ``tls_options``."""

from __future__ import annotations

import argparse

from .tls_options import add_tls_options, config_from_args

PORT_MAX = 65535

#: The defaults of ``io.connection_limits.ConnectionLimits`` the limit options show, repeated
#: here so building the parser does not import the io and ul layers (every command builds the
#: server commands' parsers too); tests/cli/test_startup_imports.py checks that they agree.
LIMIT_DEFAULTS = {"max_associations": 256, "max_per_peer": 64, "handshake_timeout": 10.0,
                  "request_timeout": 10.0}


def bounded(kind, low, high):
    """An argparse type: ``kind(text)`` (int or float) within ``low``..``high``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low}..{high}")
        return value
    return parse


def add_client_arguments(p: argparse.ArgumentParser, *, timeout: float, dicom: bool = True,
                         port_help: str | None = None, json_help: str | None = None) -> None:
    """HOST PORT, the SNI name, --json, --timeout and the TLS options; with ``dicom`` also our
    and the peer's AE titles and --tls (plain TCP without it)."""
    p.add_argument("host")
    p.add_argument("port", type=bounded(int, 1, PORT_MAX), help=port_help)
    if dicom:
        p.add_argument("--aet", default="DICOMTLS", help="our (calling) AE title")
        p.add_argument("--aec", default="ANY-SCP", help="the peer's (called) AE title")
        p.add_argument("--tls", action="store_true", help="use TLS with the TLS options below")
    p.add_argument("--server-name", help="SNI name (default: HOST unless it is an address)")
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--timeout", type=bounded(float, 0.01, 86400), default=timeout,
                   help=f"seconds a read may wait for the peer (default {timeout:g})")
    add_tls_options(p)
    p.set_defaults(role="client")


def add_server_arguments(p: argparse.ArgumentParser, *, timeout: float, dicom: bool = True,
                         port_help: str | None = None, json_help: str | None = None) -> None:
    """PORT (``port_help`` given: optional, the command picks the default), --bind, --once,
    --json, --timeout and the TLS options; with ``dicom`` also our AE title and --tls."""
    if port_help is None:
        p.add_argument("port", type=bounded(int, 0, PORT_MAX))
    else:
        p.add_argument("port", type=bounded(int, 0, PORT_MAX), nargs="?", help=port_help)
    p.add_argument("--bind", default="127.0.0.1")
    if dicom:
        p.add_argument("--aet", default=None,
                       help="our AE title; requests calling another one are rejected "
                            "(default: accept any)")
        p.add_argument("--tls", action="store_true", help="use TLS with the TLS options below")
    p.add_argument("--once", action="store_true", help="serve one peer, then exit")
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--timeout", type=bounded(float, 0.01, 86400), default=timeout,
                   help=f"seconds a peer may take to send its next message, unless its bytes "
                        f"keep arriving (default {timeout:g})")
    if dicom:
        _add_limit_arguments(p)
    add_tls_options(p)
    p.set_defaults(role="server")


def _add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """The caps and phase deadlines of ``io.gate.ConnectionLimits``."""
    d = argparse.Namespace(**LIMIT_DEFAULTS)
    g = p.add_argument_group("limits (what peers may hold; over a cap is refused at once)")
    g.add_argument("--max-connections", type=bounded(int, 1, 1 << 20), default=None,
                   metavar="N", help="connections held in all (default 4096, or what the "
                                     "descriptor limit allows)")
    g.add_argument("--max-associations", type=bounded(int, 1, 1 << 16),
                   default=d.max_associations, metavar="N",
                   help="associations served at once; more are answered A-ASSOCIATE-RJ "
                        f"transient, local-limit-exceeded (default {d.max_associations})")
    g.add_argument("--max-per-peer", type=bounded(int, 1, 1 << 20), default=d.max_per_peer,
                   metavar="N", help=f"connections held per peer address "
                                     f"(default {d.max_per_peer})")
    g.add_argument("--handshake-timeout", type=bounded(float, 0.01, 3600),
                   default=d.handshake_timeout, metavar="S",
                   help=f"the whole TLS handshake, from accept (default {d.handshake_timeout:g})")
    g.add_argument("--request-timeout", type=bounded(float, 0.01, 3600),
                   default=d.request_timeout, metavar="S",
                   help="the A-ASSOCIATE-RQ, from the handshake's end or accept (ARTIM; "
                        f"default {d.request_timeout:g})")
    p.add_argument("--proxy-protocol", type=_networks, default=(), metavar="ADDR[,ADDR]",
                   help="connections from these addresses or networks (a TCP balancer such "
                        "as HAProxy with send-proxy-v2) must start with a PROXY v2 header; "
                        "the peer it names is the one logged and capped. Others connect "
                        "directly as usual")


def _networks(text: str) -> tuple:
    import ipaddress
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False)
                     for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def limits_of(args):
    """The ``io.gate.ConnectionLimits`` of the limit options."""
    from ..io.connection_limits import ConnectionLimits
    return ConnectionLimits(max_connections=args.max_connections,
                            max_associations=args.max_associations,
                            max_per_peer=args.max_per_peer,
                            handshake_timeout=args.handshake_timeout,
                            request_timeout=args.request_timeout)


def tls_config_of(args):
    """The TLSConfig of ``--tls`` and the TLS options, or None for plain TCP."""
    return config_from_args(args) if args.tls else None


__all__ = ["LIMIT_DEFAULTS", "PORT_MAX", "add_client_arguments", "add_server_arguments",
           "bounded", "limits_of", "tls_config_of"]
