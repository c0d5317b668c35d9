"""The `dicomtls` command: argument parsing and the exit-code contract.

Exit 0 on success; 1 with a one-line reason on stderr for handshake, verification, configuration
or connection failures; 2 for usage errors (argparse's convention).

Start-up time counts for every command: building the parser imports only the command modules,
which import what a command runs (TLS, the DICOM layers, storage, pydicom) inside its ``cmd_*``
function (tests/cli/test_startup_imports.py keeps it so).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from .. import __version__
from ..errors import DicomTLSError
from . import (demo, dicom_commands, qr_commands, scan_client_command, scan_command,
               tls_commands)
from .bench import command as bench_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dicomtls", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dicomtls {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log TLS sessions (-v) and debug detail (-vv) to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo.add_parser(sub)
    tls_commands.add_parsers(sub)
    dicom_commands.add_parsers(sub)
    qr_commands.add_parsers(sub)
    scan_command.add_parsers(sub)
    scan_client_command.add_parsers(sub)
    bench_command.add_parsers(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # `serve --config FILE` (or an abbreviation such as --conf): only then tomllib and the file.
    # "--co" is the shortest prefix argparse could take for it ("--c" also starts --cert, --ca).
    if any(len(name) >= 4 and "--config".startswith(name)
           for name in (token.split("=", 1)[0] for token in argv)):
        from .config_file import ConfigFileError, expand_config
        try:
            argv = expand_config(parser, argv)
        except ConfigFileError as exc:
            sys.stderr.write(f"dicomtls: {exc}\n")
            return 2
    # A command that hands its arguments to another program (`bench table`) takes the ones
    # this parser does not know; any other command gets argparse's usual error for them.
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "passes_through", False):
        args.passed_args = extra[1:] if extra[:1] == ["--"] else extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # The config already logs legacy choices; a second copy as a Python warning is noise here.
    warnings.filterwarnings("ignore", module="dicomtls")
    warnings.filterwarnings("ignore", category=UserWarning, message="legacy TLS")
    try:
        return args.func(args)
    except DicomTLSError as exc:
        sys.stderr.write(f"dicomtls {args.command}: {type(exc).__name__}: {exc}\n")
        return 1
    except (OSError, TimeoutError) as exc:
        sys.stderr.write(f"dicomtls {args.command}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # python -m dicomtls.cli.main
    sys.exit(main())
