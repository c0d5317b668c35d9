"""One measured run of one stack for bench_all.py: each function starts the SCP (under GNU
``/usr/bin/time -f %M`` for its peak RSS), runs the SCU, checks what arrived, stops the SCP and
returns a ``Result``. Processes and helpers come from bench_store.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

from bench_store import (DCMTK_MAX_PDU, STORESCP, STORESCU, Child, _check_out, _dcmtk_tls,
                         _fresh, _tail, free_port, wait_listening, warm_pages)
from bench_tls_transfer import run_ours

ECHOSCU = "/usr/bin/echoscu"
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_all_peers.py")
CLI = [sys.executable, "-m", "dicomtls.cli.main"]
PYND_MAX_PDU = 1 << 20       # pynetdicom both ends in bulk/small: as ours (1 MiB)
PYND_DEFAULT_PDU = 16382     # pynetdicom's own default maximum PDU (the 16 KB-PDU workload)
DCMTK_DEFAULT_PDU = 16384    # storescu/storescp default


class Result:
    """``seconds``: what the row measures; ``inside``: dicomtls store's own seconds inside the
    association (from its --json summary), None for the other SCUs."""

    def __init__(self, seconds, scp_rss_kib=None, protocol=None, inside=None):
        self.seconds, self.scp_rss_kib, self.protocol = seconds, scp_rss_kib, protocol
        self.inside = inside


class Setup:
    """What every run needs: work dir, dev PKI, per-subprocess timeout, OpenSSL configs pinning
    DCMTK to one TLS version (3.6.7 has no option for it: OPENSSL_CONF system_default)."""

    def __init__(self, work, pki, timeout, fsync):
        self.work, self.pki, self.timeout, self.fsync = work, pki, timeout, fsync
        self.openssl_conf = {}
        for version, line in (("1.2", "MaxProtocol = TLSv1.2"), ("1.3", "MinProtocol = TLSv1.3")):
            path = os.path.join(work, f"openssl-{version}.cnf")
            with open(path, "w") as f:
                f.write("openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n"
                        "[ssl_sect]\nsystem_default = system_default_sect\n"
                        f"[system_default_sect]\n{line}\n")
            self.openssl_conf[version] = path

    def path(self, name):
        return os.path.join(self.work, name)

    def dcmtk_env(self, transport):
        env = dict(os.environ, TCP_NODELAY="1")
        if transport != "plain":
            env["OPENSSL_CONF"] = self.openssl_conf[transport]
        return env

    def pki_args(self):
        p = self.pki
        return [str(p.ca_cert), str(p.client_cert), str(p.client_key)], \
            [str(p.ca_cert), str(p.server_cert), str(p.server_key)]


# -- servers -------------------------------------------------------------------------------------

def _ours_tls(s: Setup, transport, role):
    if transport == "plain":
        return []
    p = s.pki
    cert, key = (p.server_cert, p.server_key) if role == "scp" else (p.client_cert, p.client_key)
    return ["--tls", "--ca", str(p.ca_cert), "--cert", str(cert), "--key", str(key),
            "--min-version", transport, "--max-version", transport]


def start_scp(s: Setup, stack, transport, out, *, once=False, pdu=None, ignore=False):
    """Start one SCP and wait until it listens; returns (Child, port). ``ignore``: it
    receives and answers but writes nothing (ours and storescp: --ignore)."""
    port = free_port()
    log = s.path(f"scp-{stack}.log")
    env = None
    if stack == "ours":
        cmd = CLI + ["serve", str(port), "--bind", "127.0.0.1", "--out", out, "--json",
                     "--timeout", str(s.timeout), "--workers", "1"] + \
            (["--once"] if once else []) + ([] if s.fsync else ["--no-fsync"]) + \
            (["--ignore"] if ignore else []) + _ours_tls(s, transport, "scp")
    elif stack == "dcmtk":
        env = s.dcmtk_env(transport)
        cmd = [STORESCP, "--ignore" if ignore else "+B", "-od", out,
               "-pdu", str(pdu or DCMTK_MAX_PDU),
               "-ta", str(int(s.timeout)), "-td", str(int(s.timeout))] + \
            (_dcmtk_tls(s.pki, "scp") if transport != "plain" else []) + [str(port)]
    else:
        if ignore:
            raise ValueError("the pynetdicom SCP has no --ignore here")
        cmd = [sys.executable, PEERS, "pynd-scp", str(port), out, transport,
               *s.pki_args()[1], str(pdu or PYND_MAX_PDU)]
    with open(log, "w") as f:
        server = Child(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                       rss_file=s.path(f"scp-{stack}.rss"))
    wait_listening(server, port, log)
    return server, port


def stop_scp(server: Child, stack, *, once=False) -> int:
    if stack == "ours" and once:
        rc = server.wait(60)
    else:
        time.sleep(0.05)  # storescp closes the last file on the A-RELEASE it has answered
        rc = server.wait(30, interrupt=True)
    if stack == "ours" and rc != 0:
        raise RuntimeError(f"dicomtls serve rc={rc}:\n" + _tail(server.rss_file[:-4] + ".log"))
    return server.maxrss_kib


# -- C-STORE: bulk, small, 16 KB PDU ------------------------------------------------------------

def run_store(s: Setup, scu, scp, transport, files, src, nbytes, *, pdu16=False,
              ignore=False) -> Result:
    """SCU ``scu`` -> SCP ``scp`` (stacks: ours, dcmtk, pynd), seconds = SCU process wall
    clock (spawn to exit). ``ignore``: the SCP writes nothing."""
    out = _fresh(s.path("out"))
    once = scp == "ours"
    server, port = start_scp(s, scp, transport, out, once=once,
                             pdu=DCMTK_DEFAULT_PDU if pdu16 else None, ignore=ignore)
    protocol = inside = None
    try:
        log, res = s.path(f"scu-{scu}.log"), s.path(f"scu-{scu}.out")
        env = None
        if scu == "ours":
            cmd = CLI + ["store", "127.0.0.1", str(port), src, "--json", "--quiet",
                         "--timeout", str(s.timeout)] + _ours_tls(s, transport, "scu")
        elif scu == "dcmtk":
            env = s.dcmtk_env(transport)
            pdu = DCMTK_DEFAULT_PDU if pdu16 else DCMTK_MAX_PDU
            cmd = [STORESCU, "-pdu", str(pdu), "-to", str(int(s.timeout)),
                   "-ta", str(int(s.timeout)), "-td", str(int(s.timeout))] + \
                (_dcmtk_tls(s.pki, "scu") if transport != "plain" else []) + \
                ["127.0.0.1", str(port), *files]
        else:
            cmd = [sys.executable, PEERS, "pynd-store", str(port), transport, *s.pki_args()[0],
                   str(PYND_DEFAULT_PDU if pdu16 else PYND_MAX_PDU), *files]
        warm_pages(out, nbytes)
        with open(res, "w") as so, open(log, "w") as se:
            client = Child(cmd, stdout=so, stderr=se, env=env,
                           rss_file=s.path(f"scu-{scu}.rss"))
            client.wait(s.timeout)
        text = open(res, errors="replace").read() + open(log, errors="replace").read()
        if client.rc != 0 or re.search(r"^[EF]:", text, re.M):
            raise RuntimeError(f"{scu} SCU rc={client.rc}:\n{text[-2000:]}")
        if scu in ("ours", "pynd"):
            record = json.loads(open(res).read().strip().splitlines()[-1])
            if record.get("failed") or record.get("sent") != len(files):
                raise RuntimeError(f"{scu} SCU: {record}")
            if scu == "ours":
                inside = record.get("seconds")
            session = record.get("session")
            protocol = record.get("protocol") or (
                f"{session.get('protocol')} {session.get('cipher_suite')}" if session else None)
        rss = stop_scp(server, scp, once=once)
    finally:
        server.kill()
    if ignore:
        if os.listdir(out):
            raise RuntimeError(f"{scp} SCP wrote files although told to ignore")
    else:
        _check_out(out, len(files), nbytes, f"{scp} SCP")
    return Result(client.wall, rss, protocol, inside)


# -- the ceiling: a raw TLS transfer of the same bytes -------------------------------------------

def run_raw_tls(s: Setup, transport, nbytes, suite) -> Result:
    """``dicomtls tls-client --send-bytes`` -> ``tls-server --sink`` on the suite the bulk rows
    negotiated (bench_tls_transfer.run_ours): two processes, no DICOM, nothing written;
    seconds = the server's time inside the connection (what the rows' "inside the
    association" is compared with)."""
    mb_per_s = run_ours(s.pki, 0, transport, suite, nbytes=nbytes)
    return Result(nbytes / 1e6 / mb_per_s, protocol=suite)


# -- association rate ----------------------------------------------------------------------------

def dcmtk_probe(s: Setup, transport, port) -> str | None:
    """The protocol and suite DCMTK negotiates (an ``echoscu -d`` association, not timed)."""
    cmd = [ECHOSCU, "-d"] + (_dcmtk_tls(s.pki, "scu") if transport != "plain" else []) + \
        ["127.0.0.1", str(port)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=s.timeout,
                       env=s.dcmtk_env(transport))
    log = r.stdout + r.stderr
    proto = re.search(r"Protocol\s*:\s*(\S+)", log)
    suite = re.search(r"Ciphersuite\s*:\s*([^\s,]+)", log)
    return f"{proto.group(1)} {suite.group(1)}" if proto and suite else None


def run_rate(s: Setup, stack, transport, count) -> Result:
    """``count`` associations, one C-ECHO each. ours / pynd: one client process looping
    (seconds = its loop); DCMTK: echoscu has no per-association repeat (``--repeat`` repeats
    the C-ECHO inside one association), so ``count`` echoscu processes in sequence (seconds =
    their total wall clock, process start included)."""
    out = _fresh(s.path("out"))
    server, port = start_scp(s, stack, transport, out)
    protocol = None
    try:
        if stack == "dcmtk":
            protocol = dcmtk_probe(s, transport, port) if transport != "plain" else None
            cmd = [ECHOSCU, "-to", "30", "-ta", "30"] + \
                (_dcmtk_tls(s.pki, "scu") if transport != "plain" else []) + \
                ["127.0.0.1", str(port)]
            env = s.dcmtk_env(transport)
            t0 = time.perf_counter()
            for _ in range(count):
                r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
                if r.returncode != 0:
                    raise RuntimeError(f"echoscu rc={r.returncode}: {r.stdout}{r.stderr}")
            seconds = time.perf_counter() - t0
        else:
            cmd = [sys.executable, PEERS, f"{stack}-echo", str(port), transport,
                   *s.pki_args()[0], str(count)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=s.timeout)
            if r.returncode != 0:
                raise RuntimeError(f"{stack}-echo rc={r.returncode}: {r.stderr[-2000:]}")
            record = json.loads(r.stdout.strip().splitlines()[-1])
            seconds, protocol = record["seconds"], record.get("protocol")
        rss = stop_scp(server, stack)
    finally:
        server.kill()
    return Result(seconds, rss, protocol)
