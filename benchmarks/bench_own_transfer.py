"""The own TLS engine over loopback beside `openssl speed -evp`, same run.

    python benchmarks/bench_own_transfer.py [--mib 64] [--repeat 3]

Each row pushes --mib MiB from `dicomtls tls-client` to `dicomtls tls-server --sink` (two
processes, mutual authentication, dev PKI) with both ends on dicomtls' own engine
(`--engine dicomtls`), and prints the receiver's MB/s beside `openssl speed -evp <cipher>` (one
core, encryption only, 16 KiB blocks) measured in the same run, best of --repeat each, and for
AES-128-CBC-SHA also libssl's own transfer rate for the same suite. Targets (issue 4): >= 90% of
the cipher's speed for DES and 3DES, >= 70% for AES-128-CBC-SHA. MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pkg"))

from bench_own_record import openssl_speed  # noqa: E402
from bench_tls_transfer import run_ours  # noqa: E402

# label, TLS version, suite, openssl speed cipher, target share of the cipher speed, extra args
ROWS = [
    ("DES-CBC-SHA (TLS 1.1)", "1.1", "TLS_RSA_WITH_DES_CBC_SHA", "des-cbc", 0.90),
    ("DES-CBC3-SHA (TLS 1.2)", "1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "des-ede3-cbc", 0.90),
    ("AES128-SHA (TLS 1.2, EtM)", "1.2", "TLS_RSA_WITH_AES_128_CBC_SHA", "aes-128-cbc", 0.70),
    ("AES128-SHA (TLS 1.0, MtE)", "1.0", "TLS_RSA_WITH_AES_128_CBC_SHA", "aes-128-cbc", 0.70),
    # TLS 1.1+ MtE: the sender seals 4 or 8 records at once (OpenSSL's multi-block AES-NI).
    ("AES128-SHA (TLS 1.2, MtE)", "1.2", "TLS_RSA_WITH_AES_128_CBC_SHA", "aes-128-cbc", 0.70),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from dicomtls.crypto.devpki import create_dev_pki
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_dev_pki(os.path.join(tmp, "pki"))
        print(f"{args.mib} MiB client -> server over 127.0.0.1, both on dicomtls' own engine, "
              f"mutual auth, best of {args.repeat}")
        header = (f"{'suite':28} {'own MB/s':>9} {'speed MB/s':>11} {'own/speed':>10} "
                  f"{'target':>7} {'libssl MB/s':>12}")
        print(header)
        print("-" * len(header))
        for label, version, suite, cipher, target in ROWS:
            own = speed = 0.0
            libssl = None
            for _ in range(args.repeat):
                # EtM is what two dicomtls ends agree on for CBC; the MtE rows have the
                # client told not to offer it.
                own = max(own, run_ours(pki, args.mib, version, suite, engine="dicomtls",
                                        extra_client=["--no-etm"] if "MtE" in label else []))
                speed = max(speed, openssl_speed(cipher) or 0.0)
                if cipher.startswith("aes"):
                    libssl = max(libssl or 0.0, run_ours(pki, args.mib, version, suite,
                                                         engine="libssl"))
            share = own / speed if speed else float("nan")
            print(f"{label:28} {own:9.1f} {speed:11.1f} {100 * share:9.0f}% "
                  f"{100 * target:6.0f}% {libssl if libssl else float('nan'):12.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
