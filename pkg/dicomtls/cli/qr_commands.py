"""`dicomtls find`, `move` and `get` (Q/R SCU, like DCMTK findscu/movescu/getscu, with ``-k``
keys). The SCP side is `dicomtls serve` (cli/dicom_commands.py)."""

from __future__ import annotations

import json
import sys

from .options import add_client_arguments, bounded, tls_config_of

COUNT = bounded(int, 1, 1 << 31)


def _common(p) -> None:
    add_client_arguments(p, timeout=60.0, json_help="print the result as JSON")
    p.add_argument("-k", action="append", default=[], dest="keys", metavar="KEY[=V]",
                   help="query key, DCMTK style: QueryRetrieveLevel=STUDY, PatientID=12*, "
                        "StudyInstanceUID (empty: a return key); repeatable")
    p.add_argument("--model", choices=("study", "patient"), default="study",
                   help="information model: Study Root (default) or Patient Root")


def add_parsers(sub) -> None:
    p = sub.add_parser("find", help="C-FIND (Q/R SCU, like findscu)")
    _common(p)
    p.add_argument("--max", type=COUNT, metavar="N", help="C-CANCEL after N matches")
    p.set_defaults(func=cmd_find)
    p = sub.add_parser("move", help="C-MOVE to another AE (Q/R SCU, like movescu)")
    _common(p)
    p.add_argument("--dest", required=True, metavar="AE", help="move destination AE title")
    _cancel_option(p)
    p.set_defaults(func=cmd_move)
    p = sub.add_parser("get", help="C-GET into a directory (Q/R SCU, like getscu)")
    _common(p)
    p.add_argument("--out", required=True, metavar="DIR", help="where received files go")
    _cancel_option(p)
    p.set_defaults(func=cmd_get)


def _cancel_option(p) -> None:
    p.add_argument("--cancel-after", type=COUNT, metavar="N",
                   help="send C-CANCEL after N Pending responses (the SCP stops between "
                        "sub-operations and answers 0xFE00 Cancel)")


def _assoc_kw(args) -> dict:
    return {"tls_config": tls_config_of(args), "called_ae": args.aec, "calling_ae": args.aet,
            "timeout": args.timeout, "server_name": args.server_name}


def _finish(args, what: str, result) -> int:
    from ..dimse.status import status_name
    status = result.status
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        if result.session is not None:
            sys.stdout.write(result.session.summary() + "\n")
        for i, match in enumerate(result.matches, 1):
            sys.stdout.write(f"# match {i}\n")
            for elem in match:
                sys.stdout.write(f"{elem.tag} {elem.keyword or '?'} {elem.VR} "
                                 f"[{'' if elem.value is None else elem.value}]\n")
        counts = "" if what == "C-FIND" else \
            f", {result.completed} completed, {result.failed} failed, {result.warning} warning"
        name = status_name(status, "qr-" + what[2:].lower()) if status is not None else "none"
        sys.stdout.write(f"{what} {args.aet} -> {args.aec}@{args.host}:{args.port}: "
                         f"status 0x{(status or 0):04X} ({name}), {len(result.matches)} "
                         f"matches{counts}\n")
        if result.stored:
            sys.stdout.write(f"{len(result.stored)} files written\n")
    sys.stdout.flush()
    return 0 if status in (0x0000, 0xFE00) else 1


def _keys(args):
    """The -k keys as an identifier, or None after a one-line usage error on stderr."""
    from ..qr._dataset import identifier_from_keys
    try:
        return identifier_from_keys(list(args.keys))
    except (ValueError, KeyError) as exc:  # an unknown keyword or tag, a malformed tag
        sys.stderr.write(f"dicomtls {args.command}: -k: {exc}\n")
        return None


def _query(args, what: str, run) -> int:
    """Run ``run(identifier)`` (a ``qr.scu`` call) on the -k keys and print its result; 2 for
    keys that do not parse."""
    identifier = _keys(args)
    if identifier is None:
        return 2
    return _finish(args, what, run(identifier))


def cmd_find(args) -> int:
    from ..qr.scu import find
    return _query(args, "C-FIND", lambda identifier: find(
        args.host, args.port, identifier, model=args.model, max_results=args.max,
        **_assoc_kw(args)))


def cmd_move(args) -> int:
    from ..qr.scu import move
    return _query(args, "C-MOVE", lambda identifier: move(
        args.host, args.port, args.dest, identifier, model=args.model,
        cancel_after=args.cancel_after, **_assoc_kw(args)))


def cmd_get(args) -> int:
    from ..qr.scu import get
    return _query(args, "C-GET", lambda identifier: get(
        args.host, args.port, args.out, identifier, model=args.model,
        cancel_after=args.cancel_after, **_assoc_kw(args)))
