"""Record-layer throughput of the own TLS engine beside `openssl speed`, same run.

    python benchmarks/bench_own_record.py [--mib 64] [--chunk-kib 1024] [--repeat 3]

For each suite's record protection it seals --mib MiB of application data (--chunk-kib per
RecordState.seal call, the way a connection hands over a PDU) and opens the result (one
RecordState.open call per sealed chunk), in this process.  Beside it:
`openssl speed -evp <cipher> -bytes 16384 -seconds 1` (encryption only, 16 KiB blocks), run from
this script, alternating with ours, best of --repeat each, and the ratios seal/speed and
open/speed.  MB = 10^6 bytes, as openssl speed counts.
Both sides divide by CPU time (openssl speed's default divisor is user CPU time; ours is user +
system), so other load on a shared machine skews the ratios less than wall-clock time would.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pkg"))

from dicomtls.tls.own.record import RecordState  # noqa: E402

# label, cipher, mac, etm, key length, mac key length, openssl speed cipher
ROWS = [
    ("DES-CBC-SHA", "DES-CBC", "SHA1", False, 8, 20, "des-cbc"),
    ("DES-CBC3-SHA", "DES-EDE3-CBC", "SHA1", False, 24, 20, "des-ede3-cbc"),
    ("AES128-SHA (MtE)", "AES-128-CBC", "SHA1", False, 16, 20, "aes-128-cbc"),
    ("AES128-SHA (EtM)", "AES-128-CBC", "SHA1", True, 16, 20, "aes-128-cbc"),
    ("AES128-GCM-SHA256", "AES-128-GCM", "NULL", False, 16, 0, "aes-128-gcm"),
]
VERSION = 0x0303


def openssl_speed(cipher: str) -> float | None:
    """MB/s of `openssl speed -evp cipher` at 16 KiB, or None when it cannot run."""
    cmd = ["openssl", "speed", "-provider", "default", "-provider", "legacy",
           "-evp", cipher, "-bytes", "16384", "-seconds", "1"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    # Last line: "<NAME>   <n>k" (1000s of bytes per second).
    m = re.search(r"^\S+\s+([\d.]+)k\s*$", out.strip().splitlines()[-1] if out.strip() else "")
    return float(m.group(1)) / 1000.0 if m else None


def states(cipher, mac, etm, keylen, mac_keylen):
    key, mac_key = os.urandom(keylen), os.urandom(mac_keylen)
    iv = os.urandom(4) if "GCM" in cipher else b""
    return (RecordState(True, VERSION, cipher, mac, etm, key, mac_key, iv),
            RecordState(False, VERSION, cipher, mac, etm, key, mac_key, iv))


def measure(row, total: int, chunk: int) -> tuple[float, float]:
    """(seal MB/s, open MB/s) over CPU time.  Each sealed chunk is opened right away."""
    _, cipher, mac, etm, keylen, mac_keylen, _ = row
    data = os.urandom(chunk)
    calls = max(1, total // chunk)
    clock = time.process_time
    w, r = states(cipher, mac, etm, keylen, mac_keylen)
    t_seal = t_open = 0.0
    for _ in range(calls):
        t0 = clock()
        sealed = w.seal(23, data)
        t1 = clock()
        _, used, plain, _ = r.open(sealed)
        t2 = clock()
        assert used == len(sealed) and len(plain) == chunk
        t_seal += t1 - t0
        t_open += t2 - t1
        del sealed, plain   # written out / handed to the application, as on a connection
    mb = calls * chunk / 1e6
    return mb / t_seal, mb / t_open


def steady_malloc() -> bool:
    """Keep freed 1 MiB buffers in the heap (glibc mallopt), as a long-running process's
    allocator ends up doing.  Left alone, glibc alternates between mmap'ing such buffers and
    trimming them back to the kernel, and about a third of the measured time is first-touch page
    faults of fresh memory rather than record protection (see --fresh-memory)."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 64 << 20) and libc.mallopt(m_trim_threshold,
                                                                            256 << 20))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--chunk-kib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fresh-memory", action="store_true",
                    help="leave glibc's mmap/trim thresholds alone (numbers include page faults)")
    args = ap.parse_args()
    total, chunk = args.mib << 20, args.chunk_kib << 10
    steady = not args.fresh_memory and steady_malloc()
    print(f"{args.mib} MiB per direction, {args.chunk_kib} KiB per call, TLS 1.2, best of "
          f"{args.repeat}, {'steady' if steady else 'fresh'} malloc; "
          f"openssl speed -evp <cipher> -bytes 16384 -seconds 1")
    header = f"{'suite':20} {'seal MB/s':>10} {'open MB/s':>10} {'speed MB/s':>11} " \
             f"{'seal/speed':>11} {'open/speed':>11}"
    print(header)
    print("-" * len(header))
    for row in ROWS:
        # Ours and openssl speed alternate, best of --repeat each: load from other processes
        # on a shared machine then hits both sides alike.
        seal_rate = open_rate = 0.0
        speed = None
        for _ in range(args.repeat):
            s_rate, o_rate = measure(row, total, chunk)
            seal_rate, open_rate = max(seal_rate, s_rate), max(open_rate, o_rate)
            one = openssl_speed(row[6])
            if one is not None:
                speed = max(speed or 0.0, one)
        ratio = (lambda x: f"{100 * x / speed:10.0f}%") if speed else (lambda x: f"{'-':>11}")
        print(f"{row[0]:20} {seal_rate:10.1f} {open_rate:10.1f} "
              f"{speed if speed else float('nan'):11.1f} {ratio(seal_rate)} {ratio(open_rate)}",
              flush=True)


if __name__ == "__main__":
    main()
