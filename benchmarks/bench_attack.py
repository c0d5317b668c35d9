"""The SCP under attack: `dicomtls serve --tls` (a separate process) while 1,000 hostile
connections are held open, against the same server quiet, in one run.

    python benchmarks/bench_attack.py [--hostile 1000] [--objects 100] [--repeat 3]
        [--attacks idle,drip,half,mix,flood] [--seconds 20]

Hostile peers (``tests/io/hostile.py``) come from 40 loopback addresses 127.0.0.2... (the
per-peer cap counts addresses; the legitimate client is 127.0.0.1) and reconnect as soon as the
server ends them, so the pressure holds for the whole measurement: ``idle`` sends nothing,
``drip`` a ClientHello a byte every 0.5 s, ``half`` a whole ClientHello and then nothing, ``mix``
a third of each; ``flood`` opens the 1,000 connections in one burst (blocking connects, the
slowest connect is reported: a full backlog shows as a 1 s SYN retransmit) and holds them idle.

Per row: connections the hostile side held at the time of measurement (median over the
samples), the legitimate TLS C-ECHO latency (new association each, median and min-max over
``--echoes``), the wall clock of `dicomtls store --tls` sending ``--objects`` x 1 MiB (median,
min-max over ``--repeat``), its ratio to the quiet row, and the server's (one worker) most
threads and RSS seen (``/proc``, sampled after each echo and store). The C-ECHOes go on for
``--seconds`` (past the first-byte and handshake deadlines, so the server ends hostile
connections and they come back meanwhile): "ended by server" counts those, "longest hold"
is the longest any was held. Runs under ``unshare -n`` when a real interface exists
(loopback only). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "io"))
sys.path.insert(0, HERE)

import bench_store  # noqa: E402
from bench_store_data import MIB, _write_object  # noqa: E402
from hostile import HostilePeers  # noqa: E402

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def _proc_status(pid: int) -> tuple[int, float]:
    threads, rss = 0, 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return threads, rss


def _tls_args(pki, role):
    cert, key = (pki.server_cert, pki.server_key) if role == "server" else \
        (pki.client_cert, pki.client_key)
    return ["--tls", "--cert", str(cert), "--key", str(key), "--ca", str(pki.ca_cert)]


def _start_server(pki, out: str, port: int, hostile: int):
    proc = subprocess.Popen(
        CLI + ["serve", str(port), "--out", out, "--workers", "1",
               "--max-per-peer", str(hostile // 40 + 16),
               "--max-connections", str(hostile + 256), *_tls_args(pki, "server")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if "listening" not in line:
        proc.kill()
        raise SystemExit(f"serve did not start: {line}")
    return proc


def _echo_latency(port: int, config) -> float:
    from dicomtls.io.association_runner import associate
    started = time.monotonic()
    with associate("127.0.0.1", port, tls_config=config, timeout=30) as assoc:
        assert assoc.echo() == 0
    return time.monotonic() - started


def _store_seconds(port: int, pki, objects_dir: str) -> float:
    started = time.monotonic()
    subprocess.run(CLI + ["store", "127.0.0.1", str(port), objects_dir, "--quiet",
                          *_tls_args(pki, "client")], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def _flood(port: int, count: int) -> tuple[list, float]:
    socks, slowest = [], 0.0
    for i in range(count):
        sock = socket.socket()
        sock.bind((f"127.0.0.{2 + i % 40}", 0))
        sock.settimeout(10)
        started = time.monotonic()
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        slowest = max(slowest, time.monotonic() - started)
        socks.append(sock)
    return socks, slowest


def _fmt(values, unit: str = "", digits: int = 3) -> str:
    if not values:
        return "-"
    return (f"{statistics.median(values):.{digits}f}{unit} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hostile", type=int, default=1000)
    ap.add_argument("--objects", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--echoes", type=int, default=10)
    ap.add_argument("--attacks", default="idle,drip,half,mix,flood")
    ap.add_argument("--seconds", type=float, default=15.0,
                    help="how long each row's C-ECHOes go on (past the phase deadlines)")
    args = ap.parse_args()
    bench_store.ensure_isolated(__file__)
    import dicomtls
    from dicomtls.crypto.devpki import create_dev_pki
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_dev_pki(os.path.join(tmp, "pki"))
        objects_dir = os.path.join(tmp, "objects")
        os.makedirs(objects_dir)
        for i in range(args.objects):
            _write_object(os.path.join(objects_dir, f"o{i:04d}.dcm"),
                          "1.2.840.10008.5.1.4.1.1.7", 512, 1024, 1, os.urandom(MIB))
        config = dicomtls.TLSConfig.from_profile(
            certificate=str(pki.client_cert), private_key=str(pki.client_key),
            ca_file=str(pki.ca_cert))
        rows, quiet_store = [], None
        for attack in ["quiet"] + args.attacks.split(","):
            out = tempfile.mkdtemp(dir=tmp)
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            proc = _start_server(pki, out, port, args.hostile)
            peers, flood_socks, slowest, held = None, [], None, []
            try:
                if attack == "flood":
                    flood_socks, slowest = _flood(port, args.hostile)
                elif attack != "quiet":
                    kinds = ("idle", "drip", "half") if attack == "mix" else (attack,)
                    peers = HostilePeers(port, args.hostile, kinds, addresses=40,
                                         drip_interval=0.5).start(3600)
                    deadline = time.monotonic() + 15
                    while peers.open < args.hostile * 0.9 and time.monotonic() < deadline:
                        time.sleep(0.1)
                echoes, stores, threads, rss = [], [], 0, 0.0
                # C-ECHOes spread over --seconds, so the hostile connections run into their
                # deadlines and reconnect meanwhile; then the stores.
                end = time.monotonic() + args.seconds
                while time.monotonic() < end or len(echoes) < args.echoes:
                    held.append(peers.open if peers else len(flood_socks))
                    echoes.append(_echo_latency(port, config))
                    t, r = _proc_status(proc.pid)
                    threads, rss = max(threads, t), max(rss, r)
                    time.sleep(max(0.0, min(0.5, end - time.monotonic())))
                for _ in range(args.repeat):
                    held.append(peers.open if peers else len(flood_socks))
                    stores.append(_store_seconds(port, pki, objects_dir))
                    t, r = _proc_status(proc.pid)
                    threads, rss = max(threads, t), max(rss, r)
            finally:
                stats = peers.stop() if peers else None
                for sock in flood_socks:
                    sock.close()
                proc.terminate()
                proc.wait(timeout=60)
            if attack == "quiet":
                quiet_store = statistics.median(stores)
            rows.append((attack, int(statistics.median(held)) if held else 0, _fmt(echoes, " s"),
                         _fmt(stores, " s", 2),
                         f"{statistics.median(stores) / quiet_store:.2f}",
                         f"{threads}", f"{rss:.0f}",
                         "-" if stats is None else f"{stats.ended_by_server}",
                         "-" if stats is None else f"{stats.longest_hold:.1f}",
                         "-" if slowest is None else f"{slowest:.3f}"))
            print(f"# {attack} done", file=sys.stderr, flush=True)
    print(f"\n{args.hostile} hostile connections from 40 addresses; {args.objects} x 1 MiB "
          f"over TLS; medians (min-max)\n")
    print("| attack | held | legit C-ECHO | store | vs quiet | SCP threads | SCP RSS MiB "
          "| ended by server | longest hold s | slowest connect s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
