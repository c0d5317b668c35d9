"""`dicomtls serve --config FILE`: a TOML file stands for command-line options (checked by
argparse as if typed), the command line wins, unknown keys are named; and a real `serve`
started from a file only (TLS, limits, layout) serves our `store`."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from pydicom.data import get_testdata_file

from dicomtls.cli.config_file import ConfigFileError, expand_config
from dicomtls.cli.main import build_parser

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def _parse(tmp_path, text: str, *argv: str):
    path = tmp_path / "serve.toml"
    path.write_text(text)
    parser = build_parser()
    return parser.parse_args(expand_config(parser, ["serve", "--config", str(path), *argv]))


def test_tables_only_group_and_values_are_checked_as_typed(tmp_path):
    args = _parse(tmp_path, """
        port = 11112
        ae_title = "ARCHIVE"
        services = ["echo", "store"]
        json = true
        [tls]
        enabled = true
        cert = "s.pem"
        cipher = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
        [limits]
        max_associations = 12
        handshake_timeout = 2.5
        proxy_protocol = ["10.0.0.0/8", "192.0.2.7"]
        [storage]
        out = "/srv/dicom"
        fsync = false
        layout = "study"
        """)
    assert (args.port, args.aet, args.json, args.tls, args.cert) == \
        (11112, "ARCHIVE", True, True, "s.pem")
    assert args.services == ("echo", "store") and args.out == "/srv/dicom"
    assert args.cipher == ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
    assert (args.max_associations, args.handshake_timeout) == (12, 2.5)
    assert [str(n) for n in args.proxy_protocol] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert args.fsync is False and args.layout == "study"


def test_the_command_line_wins(tmp_path):
    args = _parse(tmp_path, 'port = 104\nout = "/a"\nmax_per_peer = 4\n',
                  "2762", "--out", "/b", "--max-per-peer", "9")
    assert (args.port, args.out, args.max_per_peer) == (2762, "/b", 9)


@pytest.mark.parametrize("text, message", [
    ("max_assocations = 3\n", "'max_assocations' is not a `serve` option"),
    ("[limits]\nmax_assocation = 3\n", "'limits.max_assocation' is not a `serve` option"),
    ("json = 1\n", "'json' must be true or false"),
    ("out = true\n", "'out' takes a value"),
    ("out = \n", "not TOML"),
])
def test_bad_files_are_refused_with_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=re.escape(message)):
        expand_config(build_parser(), ["serve", "--config", str(path)])


def test_a_value_out_of_range_is_argparses_usage_error(tmp_path):
    path = tmp_path / "range.toml"
    path.write_text('out = "x"\nmax_associations = 0\n')
    proc = subprocess.run(CLI + ["serve", "--config", str(path)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "--max-associations: 0 is outside" in proc.stderr


def test_serve_from_a_file_only(tmp_path, pki):
    out = tmp_path / "out"
    config = tmp_path / "serve.toml"
    config.write_text(f"""
        port = 0
        workers = 1
        [tls]
        enabled = true
        cert = "{pki.server_cert}"
        key = "{pki.server_key}"
        ca = "{pki.ca_cert}"
        [limits]
        max_associations = 4
        [storage]
        out = "{out}"
        layout = "study"
        """)
    proc = subprocess.Popen(CLI + ["serve", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert "(TLS)" in line, line
        port = re.search(r"127\.0\.0\.1:(\d+)", line).group(1)
        store = subprocess.run(CLI + ["store", "127.0.0.1", port, get_testdata_file("CT_small.dcm"),
                                      "--quiet", "--tls", "--cert", str(pki.client_cert),
                                      "--key", str(pki.client_key), "--ca", str(pki.ca_cert)],
                               capture_output=True, text=True, timeout=60)
        assert store.returncode == 0, store.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    stored = [p for p in out.rglob("*.dcm")]
    assert len(stored) == 1 and stored[0].parent.parent.parent == out   # study/series/file
