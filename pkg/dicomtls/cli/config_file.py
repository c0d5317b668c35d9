"""`dicomtls serve --config FILE`: the command line in a TOML file, for a service that runs
unattended (listener, TLS, AE titles and table, limits, storage layout, workers, metrics).

Every key is a `serve` option's name without its dashes (``max_associations``, ``key``,
``drain_timeout``), at the top level or in any table: the tables only group (``[tls]``,
``[limits]``, ``[storage]``, ...). Two names read better in a file: ``ae_title`` is ``--aet``
and ``[tls] enabled`` is ``--tls``. A true boolean turns a flag on (``json = true``;
``fsync = false`` is ``--no-fsync``); a list is a comma-separated value (``services``,
``proxy_protocol``) or a repeated option (``cipher``). Example::

    port = 2762
    bind = "0.0.0.0"
    ae_title = "ARCHIVE"
    ae_table = "/etc/dicomtls/ae-table.json"
    services = ["echo", "store", "qr"]
    workers = 2
    metrics_port = 9102

    [tls]
    enabled = true
    cert = "/etc/dicomtls/server.pem"
    key = "/etc/dicomtls/server.key"
    key_password_file = "/run/credentials/dicomtls-serve/key-password"
    ca = "/etc/dicomtls/ca.pem"
    profile = "bcp195"

    [limits]
    max_associations = 128
    max_per_peer = 16
    handshake_timeout = 10

    [storage]
    out = "/var/lib/dicomtls"
    layout = "study"
    validate = "structure"

The file becomes options placed before those on the command line, so the command line wins
(an option given twice keeps its last value; ``cipher`` adds up). argparse then checks every
value as if typed; a key no `serve` option has is an error naming it.
"""

from __future__ import annotations

import argparse
import tomllib

from ..errors import LocalProtocolError

ALIASES = {"ae_title": "aet", "enabled": "tls"}


class ConfigFileError(LocalProtocolError):
    """The --config file cannot be read, is not TOML, or names an option `serve` lacks."""


def _options(parser: argparse.ArgumentParser) -> dict:
    """dest -> the action, for every option and positional of ``parser``."""
    return {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}


def _flatten(table: dict, path: str = "") -> list:
    out = []
    for key, value in table.items():
        where = f"{path}{key}"
        if isinstance(value, dict):
            out.extend(_flatten(value, where + "."))
        else:
            out.append((key, value, where))
    return out


def config_tokens(parser: argparse.ArgumentParser, path: str, *, with_port: bool) -> list:
    """The command-line tokens ``path`` stands for (``with_port``: include the positional
    port, which the command line did not give)."""
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except OSError as exc:
        raise ConfigFileError(f"--config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"--config {path}: not TOML: {exc}") from exc
    options = _options(parser)
    tokens: list = []
    for key, value, where in _flatten(table):
        dest = ALIASES.get(key, key.replace("-", "_"))
        action = options.get(dest)
        if action is None:
            raise ConfigFileError(f"--config {path}: {where!r} is not a `serve` option")
        if not action.option_strings:   # the positional port
            if with_port:
                tokens.insert(0, str(value))
            continue
        tokens.extend(_tokens_for(action, value, where, path))
    return tokens


def _tokens_for(action: argparse.Action, value, where: str, path: str) -> list:
    flag = action.option_strings[-1]
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigFileError(f"--config {path}: {where!r} must be true or false")
        wanted = isinstance(action, argparse._StoreTrueAction)
        return [flag] if value is wanted else []
    if isinstance(action, argparse._AppendAction):
        values = value if isinstance(value, list) else [value]
        return [t for v in values for t in (flag, str(v))]
    if isinstance(value, bool):
        raise ConfigFileError(f"--config {path}: {where!r} takes a value, not true/false")
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return [flag, str(value)]


def expand_config(parser: argparse.ArgumentParser, argv: list) -> list:
    """``argv`` with the `serve --config FILE` options put in front of the command line's own
    (after the command name); other commands and argv without --config come back unchanged."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    position = next((i for i, token in enumerate(argv) if token in sub.choices), None)
    if position is None:
        return argv
    command = sub.choices[argv[position]]
    if "config" not in _all_dests(command):
        return argv
    rest = argv[position + 1:]
    # What the command line gives, --out and the port included, may all come from the file:
    # parse it with nothing required, only to find --config and whether a port was given.
    required = [a for a in command._actions if a.required]
    for action in required:
        action.required = False
    try:
        known, _ = command.parse_known_args(rest)
    finally:
        for action in required:
            action.required = True
    if not known.config:
        return argv
    extra = config_tokens(command, known.config, with_port=getattr(known, "port", 0) is None)
    return argv[:position + 1] + extra + rest


def _all_dests(parser: argparse.ArgumentParser) -> set:
    return {a.dest for a in parser._actions}


__all__ = ["ConfigFileError", "config_tokens", "expand_config"]
