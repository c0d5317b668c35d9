"""C-ECHO against DCMTK 3.6.7, plain TCP and TLS, both roles.

* our ``dicomtls echo`` (SCU) -> DCMTK ``storescp`` (SCP). storescp 3.6.7 has no option to bind
  one address: it listens on every interface. So it runs in a private network namespace
  (``unshare -n``, only ``lo`` up) together with our client, and nothing is ever exposed.
* DCMTK ``echoscu`` (SCU) -> our ``VerificationServer`` on 127.0.0.1.

DCMTK binaries are called by absolute path: pynetdicom installs Python scripts of the same names
that shadow them on PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import missing_peer
from dicomtls.io.server import VerificationServer
from dicomtls.tls.config import TLSConfig

pytestmark = pytest.mark.interop

ECHOSCU = "/usr/bin/echoscu"
STORESCP = "/usr/bin/storescp"


def dcmtk(path: str) -> str:
    if not os.access(path, os.X_OK):
        missing_peer(f"DCMTK program {path} is not installed")
    return path


def _run_in_netns(netns, storescp_args, client_args, timeout=60):
    """storescp and our client together in one private namespace; returns (rc, out, scp log)."""
    port = 11112  # the namespace is ours alone: no collision possible
    script = textwrap.dedent(f"""\
        ip link set lo up
        {STORESCP} -d {storescp_args} {port} > "$SCPLOG" 2>&1 &
        scp=$!
        needle=$(printf ':%04X 00000000:0000 0A' {port})
        i=0
        while ! grep -q "$needle" /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
            i=$((i+1)); [ $i -gt 100 ] && {{ echo "storescp did not start" >&2; kill $scp; exit 99; }}
            sleep 0.05
        done
        "$PY" -m dicomtls.cli.main echo 127.0.0.1 {port} --aec STORESCP --aet OURSCU --json \
            --timeout 20 {client_args}
        rc=$?
        kill $scp
        wait $scp 2>/dev/null
        exit $rc
        """)
    return script


@pytest.fixture
def scp_log(tmp_path):
    return tmp_path / "storescp.log"


def _storescp(netns, scp_log, storescp_args, client_args):
    import json
    script = _run_in_netns(netns, storescp_args, client_args)
    env = dict(os.environ, SCPLOG=str(scp_log), PY=sys.executable)
    proc = subprocess.run([*netns, "sh", "-c", script], capture_output=True, text=True,
                          timeout=90, env=env)
    log = scp_log.read_text() if scp_log.exists() else ""
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}\n{log}"
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["status"] == 0 and record["status_name"] == "Success"
    assert "Received Echo Request" in log and "Association Release" in log
    assert "E:" not in log and "W:" not in log, log
    # storescp saw our identification.
    assert "Their Implementation Version Name: DICOMTLS_010" in log
    return record, log


def test_our_scu_vs_storescp_plain(netns, scp_log):
    dcmtk(STORESCP)
    record, _ = _storescp(netns, scp_log, "", "")
    assert record["session"] is None


def test_our_scu_vs_storescp_tls(netns, scp_log, pki):
    dcmtk(STORESCP)
    record, log = _storescp(
        netns, scp_log,
        f"+tls {pki.server_key} {pki.server_cert} +cf {pki.ca_cert} +py",
        f"--tls --cert {pki.client_cert} --key {pki.client_key} --ca {pki.ca_cert}")
    assert record["session"]["protocol"].startswith("TLSv1.") and record["session"]["peer_authenticated"]
    assert "Association Acknowledged" in log


def _echoscu(*args, timeout=30):
    return subprocess.run([dcmtk(ECHOSCU), "-d", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_echoscu_vs_our_scp_plain():
    with VerificationServer(ae_title="OURSCP", timeout=10) as server:
        proc = _echoscu("-aec", "OURSCP", "127.0.0.1", str(server.port))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Received Echo Response (Success)" in out and "E:" not in out
    (result,) = server.results
    assert (result.outcome, result.echoes, result.calling_ae) == ("released", 1, "ECHOSCU")
    assert result.session is None


def test_echoscu_repeated_on_one_association():
    with VerificationServer(timeout=10) as server:
        proc = _echoscu("--repeat", "3", "127.0.0.1", str(server.port))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = server.results
    assert (result.outcome, result.echoes) == ("released", 3)


def test_echoscu_vs_our_scp_tls(pki):
    config = TLSConfig.from_profile(certificate=str(pki.server_cert),
                                    private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
    with VerificationServer(tls_config=config, ae_title="OURSCP", timeout=10) as server:
        proc = _echoscu("+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca_cert),
                        "-aec", "OURSCP", "127.0.0.1", str(server.port))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Received Echo Response (Success)" in out and "E:" not in out
    (result,) = server.results
    assert (result.outcome, result.echoes) == ("released", 1)
    assert result.session is not None and result.session.peer_certificates


def test_echoscu_rejected_for_wrong_called_ae():
    with VerificationServer(ae_title="OURSCP", timeout=10) as server:
        proc = _echoscu("-aec", "SOMEONE", "127.0.0.1", str(server.port))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Called AE Title Not Recognized" in out, out
    (result,) = server.results
    assert result.outcome == "rejected" and result.rejected == (1, 1, 7)


# ---- baseline: our SCU against our SCP over real sockets (tells our bugs from DCMTK's) ------
def _tls_pair(pki):
    server = TLSConfig.from_profile(certificate=str(pki.server_cert),
                                    private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
    client = TLSConfig.from_profile(certificate=str(pki.client_cert),
                                    private_key=str(pki.client_key), ca_file=str(pki.ca_cert))
    return server, client


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_our_scu_vs_our_scp(pki, use_tls):
    from dicomtls.errors import AssociationRejected
    from dicomtls.io.association_runner import associate
    server_cfg, client_cfg = _tls_pair(pki) if use_tls else (None, None)
    with VerificationServer(tls_config=server_cfg, ae_title="OURSCP", timeout=10) as server:
        with associate("127.0.0.1", server.port, tls_config=client_cfg, called_ae="OURSCP",
                       calling_ae="OURSCU", timeout=10) as assoc:
            assert [assoc.echo() for _ in range(3)] == [0, 0, 0]
            assert (assoc.session is not None) == use_tls
        with pytest.raises(AssociationRejected) as info:
            associate("127.0.0.1", server.port, tls_config=client_cfg, called_ae="WRONG",
                      timeout=10)
        assert (info.value.source, info.value.reason) == (1, 7)
        server.close()
    outcomes = sorted((r.outcome, r.echoes) for r in server.results)
    assert outcomes == [("rejected", 0), ("released", 3)]


def test_garbage_to_our_scp_gets_a_abort():
    import socket
    with VerificationServer(timeout=10) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(bytes([0x09, 0, 0, 0, 0, 0]))
            reply = s.recv(100)
            # Before the A-ASSOCIATE-RQ (Sta2) the answer is AA-1: PS3.8 has it sent with the
            # service-user source and reason 0, not as a provider abort.
            assert reply == bytes([0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0])
        server.close()
    (result,) = server.results
    assert result.outcome == "aborted" and "unrecognized PDU type" in result.error


def test_cli_echo_vs_our_scp(capsys):
    from dicomtls.cli.main import main
    with VerificationServer(ae_title="OURSCP", timeout=10) as server:
        assert main(["echo", "127.0.0.1", str(server.port), "--aec", "OURSCP"]) == 0
        assert "status 0x0000 (Success)" in capsys.readouterr().out
        assert main(["echo", "127.0.0.1", str(server.port), "--aec", "NOPE"]) == 1
        assert "AssociationRejected" in capsys.readouterr().err


def storescp_and_our_cli(netns, tmp_path, storescp_args, our_command, **env_extra):
    """storescp -d +B (bit preserving) and one of our CLI commands (``PORT`` stands for storescp's
    port; ``env_extra`` become shell variables) in one private network namespace, because
    storescp cannot bind to loopback only. Returns (completed process, storescp log, out dir)."""
    out = tmp_path / "scp-out"
    out.mkdir(exist_ok=True)
    scp_log = tmp_path / "storescp.log"
    port = 11112  # the namespace is ours alone
    script = textwrap.dedent(f"""\
        ip link set lo up
        {STORESCP} -d +B +xa -od "$OUT" {storescp_args} {port} > "$SCPLOG" 2>&1 &
        scp=$!
        needle=$(printf ':%04X 00000000:0000 0A' {port})
        i=0
        while ! grep -q "$needle" /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
            i=$((i+1)); [ $i -gt 100 ] && {{ echo "storescp did not start" >&2; kill $scp; exit 99; }}
            sleep 0.05
        done
        "$PY" -m dicomtls.cli.main {our_command.replace("PORT", str(port))}
        rc=$?
        kill $scp
        wait $scp 2>/dev/null
        exit $rc
        """)
    env = dict(os.environ, SCPLOG=str(scp_log), PY=sys.executable, OUT=str(out),
               **{k: str(v) for k, v in env_extra.items()})
    proc = subprocess.run([*netns, "sh", "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    log = scp_log.read_text() if scp_log.exists() else ""
    return proc, log, out
