"""A `dicomtls` command imports only what it uses (issue 11, item 3).

Every command builds the parser of every command, so a module-level import in any command module,
in ``cli.options``/``cli.tls_options`` or in ``dicomtls/__init__`` is paid by all of them. These
tests run a command's start-up in a fresh interpreter and check what it loaded: they fail on an
eager import, whatever the machine's speed (they time nothing).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dicomtls

#: Never loaded to build the parser: pydicom, the DICOM layers, the TLS engines and configuration,
#: the scanner, storage, Q/R, the N-services, the LEADTOOLS facade, --config's TOML parser.
HEAVY = ("pydicom", "dicomtls.tls.profiles", "dicomtls.ul", "dicomtls.dimse", "dicomtls.io.association_runner",
         "dicomtls.io.server", "dicomtls.io.gate", "dicomtls.io.tls_socket", "dicomtls.tls.config",
         "dicomtls.tls.connection", "dicomtls.tls.engines", "dicomtls._binding",
         "dicomtls.crypto", "dicomtls.scan", "dicomtls.storage", "dicomtls.qr",
         "dicomtls.nservices", "dicomtls.ldicomnet", "tomllib", "concurrent.futures")

#: What a plain-TCP `dicomtls echo` must not load even while it runs.
NOT_FOR_PLAIN_ECHO = ("pydicom", "dicomtls.tls.profiles", "dicomtls.tls.suites", "dicomtls.tls.config", "dicomtls.tls.connection",
                      "dicomtls.tls.engines", "dicomtls._binding", "dicomtls.io.tls_socket",
                      "dicomtls.io.server", "dicomtls.storage", "dicomtls.scan", "dicomtls.qr",
                      "dicomtls.nservices", "dicomtls.ldicomnet", "tomllib")


def loaded_after(code: str, watched) -> list[str]:
    """Run ``code`` in a fresh interpreter; the modules of ``watched`` it left in sys.modules."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m in {list(watched)!r})))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_building_the_echo_command_loads_nothing_heavy():
    """What `dicomtls echo HOST PORT` runs before it connects: the parser of every command, then
    the echo command's arguments."""
    code = ("from dicomtls.cli.main import build_parser\n"
            "args = build_parser().parse_args(['echo', '127.0.0.1', '11112', '--repeat', '2'])\n"
            "assert args.func.__name__ == 'cmd_echo'")
    assert loaded_after(code, HEAVY) == []


@pytest.mark.parametrize("command", ["echo", "store", "serve", "scan", "demo"])
def test_help_loads_nothing_heavy(command):
    code = ("import contextlib, io\nfrom dicomtls.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            f"        main([{command!r}, '--help'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code == 0\n")
    assert loaded_after(code, HEAVY) == []


def test_tls_options_do_not_load_the_config_file_parser():
    """--ca, --cert, --cipher and --client-preference start like --config's shortest
    abbreviation would if it were "--c": only a real --config (or --co, --conf...) loads tomllib."""
    code = ("import contextlib, io\nfrom dicomtls.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n"
            "        main(['echo', '--tls', '--ca', 'ca.pem', '--cert', 'c.pem', '--cipher', 'X', "
            "'--client-preference', '--help'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code == 0\n")
    assert loaded_after(code, ("tomllib",)) == []


def test_import_dicomtls_loads_only_the_errors():
    assert loaded_after("import dicomtls", HEAVY + ("dicomtls.tls.profiles",)) == []


def test_plain_echo_runs_without_tls_or_pydicom(port):
    """A real `dicomtls echo` over plain TCP, against `dicomtls echo-server --once`."""
    server = subprocess.Popen([sys.executable, "-m", "dicomtls.cli.main", "echo-server",
                               str(port), "--once"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        assert "listening on" in line, line + server.stderr.read()
        code = ("import contextlib, io\nfrom dicomtls.cli.main import main\n"
                "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
                f"    assert main(['echo', '127.0.0.1', '{port}']) == 0\n"
                "assert 'status 0x0000' in out.getvalue(), out.getvalue()")
        assert loaded_after(code, NOT_FOR_PLAIN_ECHO) == []
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()
        server.communicate()


def test_parser_profile_names_are_the_profiles():
    """``cli.tls_options`` repeats the profile names so the parser needs no suite registry."""
    from dicomtls.cli.tls_options import DEFAULT_PROFILE, PROFILE_NAMES
    from dicomtls.tls import profiles
    assert PROFILE_NAMES == tuple(profiles.PROFILES)
    assert DEFAULT_PROFILE == profiles.DEFAULT_PROFILE


def test_parser_limit_defaults_are_connection_limits_defaults():
    """``cli.options`` repeats ConnectionLimits' defaults so the parser needs no io layer."""
    from dicomtls.cli.options import LIMIT_DEFAULTS
    from dicomtls.io.connection_limits import ConnectionLimits
    defaults = ConnectionLimits()
    assert LIMIT_DEFAULTS == {name: getattr(defaults, name) for name in LIMIT_DEFAULTS}


def test_lazy_top_level_matches_its_static_declaration():
    """``dicomtls/__init__`` declares its names for type checkers (the ``TYPE_CHECKING`` imports
    and ``__all__``) and imports them lazily from ``_LAZY``: the two must say the same."""
    tree = ast.parse(Path(dicomtls.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    static_all, imported = None, {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if node.module is None:   # from . import ul
                    imported[alias.asname or alias.name] = (module + alias.name, None)
                else:
                    imported[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(node, ast.Assign) and node.targets[0].id == "__all__":
            static_all = ast.literal_eval(node.value)
    assert imported == dicomtls._LAZY
    assert static_all == dicomtls.__all__
    assert set(dir(dicomtls)) >= set(dicomtls.__all__)
