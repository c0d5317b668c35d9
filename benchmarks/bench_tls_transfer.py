"""Bulk TLS throughput over loopback: dicomtls tls-server/tls-client beside Python's ssl, same run.

    python benchmarks/bench_tls_transfer.py [--mib 256] [--repeat 3]

Each row pushes the same number of bytes from a client process to a server process that discards
them, with mutual authentication on a dev PKI, and reports the best of --repeat runs (these
machines are noisy). The ratio column compares against Python's ssl for the same suite.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

PY_SSL_PEER = r"""
import socket, ssl, sys, time
role, port, mib, ca, cert, key, version, cipher = sys.argv[1:9]
ver = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
if role == "server":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = ssl.CERT_REQUIRED
else:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
ctx.minimum_version = ctx.maximum_version = ver
if cipher != "-":
    ctx.set_ciphers(cipher)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
if role == "server":
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port))); ls.listen(1)
    print("ready", flush=True)
    c, _ = ls.accept()
    s = ctx.wrap_socket(c, server_side=True)
    total = 0
    t0 = time.perf_counter()
    while True:
        d = s.recv(262144)
        if not d:
            break
        total += len(d)
    print(total, time.perf_counter() - t0, flush=True)
else:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))))
    block = bytes(range(256)) * 4096
    for _ in range(int(mib)):
        s.sendall(block)
    try:
        s.unwrap()  # the server may close without answering close_notify
    except (OSError, ssl.SSLError):
        pass
    s.close()
"""

ROWS = [
    ("TLS 1.3 AES-256-GCM", "1.3", "-", "TLS_AES_256_GCM_SHA384"),
    ("TLS 1.2 ECDHE-RSA-AES128-GCM", "1.2", "ECDHE-RSA-AES128-GCM-SHA256",
     "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ("TLS 1.2 RSA AES128-CBC-SHA", "1.2", "AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ours(pki, mib, version, suite, *, engine="auto", extra_client=(), nbytes=None) -> float:
    """MB/s of ``tls-client --send-bytes`` -> ``tls-server --sink`` (the server's time inside
    the connection); ``nbytes`` instead of ``mib`` MiB when given."""
    nbytes = nbytes or mib << 20
    port = free_port()
    common = ["--ca", str(pki.ca_cert), "--min-version", version, "--max-version", version,
              "--cipher", suite, "--engine", engine]
    server = subprocess.Popen(
        [sys.executable, "-m", "dicomtls.cli.main", "tls-server", str(port), "--once", "--sink",
         "--json", "--cert", str(pki.server_cert), "--key", str(pki.server_key)] + common,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stderr:  # ends at EOF if the server dies
            if line.startswith("listening on"):
                break
        subprocess.run(
            [sys.executable, "-m", "dicomtls.cli.main", "tls-client", "127.0.0.1", str(port),
             "--send-bytes", str(nbytes), "--json", "--cert", str(pki.client_cert),
             "--key", str(pki.client_key)] + common + list(extra_client),
            check=True, stdout=subprocess.DEVNULL, timeout=600)
        out, _ = server.communicate(timeout=120)
    finally:
        server.kill()
    record = json.loads(out.strip().splitlines()[-1])
    assert record["bytes_received"] == nbytes, record
    assert record["cipher_suite"] == suite, record
    return record["bytes_received"] / record["seconds"] / 1e6


def run_python_ssl(pki, mib, version, cipher) -> float:
    port = free_port()
    args = [str(port), str(mib), str(pki.ca_cert)]
    server = subprocess.Popen(
        [sys.executable, "-c", PY_SSL_PEER, "server", *args, str(pki.server_cert),
         str(pki.server_key), version, cipher], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        subprocess.run([sys.executable, "-c", PY_SSL_PEER, "client", *args, str(pki.client_cert),
                        str(pki.client_key), version, cipher], check=True, timeout=600)
        out, _ = server.communicate(timeout=120)
    finally:
        server.kill()
    total, seconds = out.split()
    assert int(total) == mib << 20
    return int(total) / float(seconds) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from dicomtls.crypto.devpki import create_dev_pki
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_dev_pki(os.path.join(tmp, "pki"))
        print(f"{args.mib} MiB client -> server over 127.0.0.1, mutual auth, best of {args.repeat}")
        print(f"{'suite':32} {'dicomtls MB/s':>14} {'Python ssl MB/s':>16} {'ratio':>6}")
        for label, version, py_cipher, suite in ROWS:
            ours = max(run_ours(pki, args.mib, version, suite) for _ in range(args.repeat))
            theirs = max(run_python_ssl(pki, args.mib, version, py_cipher)
                         for _ in range(args.repeat))
            print(f"{label:32} {ours:14.1f} {theirs:16.1f} {ours / theirs:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
