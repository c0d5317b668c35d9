"""The shared argument groups (``cli.options``) and `serve --services`."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from dicomtls.cli.main import build_parser, main
from dicomtls.cli.options import bounded
from dicomtls.io.association_runner import associate
from dicomtls.nservices import MPPS_SOP_CLASS, NServiceClient
from dicomtls.ul.negotiation import VERIFICATION_SOP_CLASS

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_bounded():
    port = bounded(int, 1, 65535)
    assert port("104") == 104
    for text, message in (("0", "outside 1..65535"), ("x", "not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            port(text)
    assert bounded(float, 0.05, 600)("0.5") == 0.5


def test_client_and_server_groups_are_the_same_everywhere():
    parser = build_parser()
    for argv in (["echo", "h", "104"], ["store", "h", "104", "p"], ["find", "h", "104"],
                 ["move", "h", "104", "--dest", "X"], ["get", "h", "104", "--out", "d"]):
        args = parser.parse_args(argv)
        assert (args.aet, args.aec, args.tls, args.role) == ("DICOMTLS", "ANY-SCP", False,
                                                              "client")
        assert args.profile and args.peer_cert == "require"   # the TLS options are there
    for argv in (["echo-server", "0"], ["serve", "--out", "d"]):
        args = parser.parse_args(argv)
        assert (args.aet, args.bind, args.once, args.role) == (None, "127.0.0.1", False,
                                                                "server")
    assert parser.parse_args(["serve", "--out", "d"]).services == ("echo", "store", "qr")
    assert parser.parse_args(["tls-client", "h", "1"]).role == "client"


@pytest.mark.parametrize("argv", [["serve", "--out", "d", "--services", "echo,nope"],
                                  ["serve", "--out", "d", "--services", ","],
                                  ["echo", "h", "0"], ["find", "h", "1", "--max", "0"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    if "--services" in argv:
        assert "choose from echo, store, qr, mpps, commitment" in capsys.readouterr().err


def test_serve_offers_only_the_services_named(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dicomtls.cli.main", "serve", "0", "--out",
                             str(tmp_path / "out"), "--once", "--services", "echo,mpps"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        with associate("127.0.0.1", port, contexts=[VERIFICATION_SOP_CLASS, MPPS_SOP_CLASS, CT],
                       timeout=10) as assoc:
            accepted = {c.abstract_syntax for c in assoc.contexts.values() if c.accepted}
            assert accepted == {VERIFICATION_SOP_CLASS, MPPS_SOP_CLASS}
            assert assoc.echo() == 0x0000
            # an MPPS without a status is refused: the service runs, with its rules
            assert NServiceClient(assoc).n_create(MPPS_SOP_CLASS, "1.2.3", b"")[0] == 0x0106
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "1 C-ECHO, 1 N-CREATE (1 failed)" in out
