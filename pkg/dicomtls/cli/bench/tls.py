"""`dicomtls bench tls`: bulk TLS throughput per ciphersuite, beside `openssl speed`.

Each row runs `dicomtls tls-server 0 --once --sink --json` and `dicomtls tls-client --send-bytes`
as two processes on 127.0.0.1 with mutual authentication, version and suite pinned, and takes the
receiver's own MB/s (its clock starts after the handshake, so start-up and key exchange are out).
`openssl speed -evp` for the suite's cipher is the ceiling one core reaches encrypting 16 KiB
blocks, the record size TLS fills; the ratio says how much of it the whole path keeps.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ...tls.engines import suite_engines
from ...tls.suites import CipherSuite, lookup
from ...tls.versions import TLSVersion
from .common import BenchError, Child, cli_argv, emit, make_dev_pki

# label, version, suite: libssl runs the first three and only the own engine the last two, so
# both engines show up under --engine auto.
DEFAULT_ROWS = (
    ("TLS 1.3 AES-256-GCM", "1.3", "TLS_AES_256_GCM_SHA384"),
    ("TLS 1.2 ECDHE-RSA-AES128-GCM", "1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    ("TLS 1.2 AES128-SHA", "1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"),
    ("TLS 1.2 DES-CBC3-SHA", "1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    ("TLS 1.1 DES-CBC-SHA", "1.1", "TLS_RSA_WITH_DES_CBC_SHA"),
)
# OpenSSL 3 keeps single DES in the legacy provider only.
_LEGACY_CIPHERS = {"des-cbc"}
_SPEED_LINE = re.compile(r"^\S.*?\s([\d.]+)k\s*$")


def speed_cipher(suite: CipherSuite) -> str | None:
    """The `openssl speed -evp` name of the suite's bulk cipher (None: nothing to compare)."""
    enc = suite.encryption
    if enc == "NULL":
        return None
    if enc == "3DES-EDE-CBC":
        return "des-ede3-cbc"
    return enc.lower().replace("ccm8", "ccm")  # CCM8 differs from CCM in the tag length only


def openssl_speed(openssl: str, cipher: str) -> float | None:
    """MB/s `openssl speed` reaches for ``cipher`` at 16 KiB in 1 s, or None if it cannot say."""
    providers = ["-provider", "default", "-provider", "legacy"] if cipher in _LEGACY_CIPHERS \
        else []
    proc = subprocess.Popen([openssl, "speed", *providers, "-evp", cipher, "-bytes", "16384",
                             "-seconds", "1"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # The result is the last line, "<CIPHER>  <n>k", in thousands of bytes per second.
    matches = [m for m in map(_SPEED_LINE.match, out.splitlines()) if m]
    if proc.returncode != 0 or not matches:
        return None
    return float(matches[-1].group(1)) / 1000.0


def openssl_version(openssl: str) -> str | None:
    try:
        out = subprocess.run([openssl, "version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def default_version(suite: CipherSuite) -> TLSVersion:
    """The newest version the suite runs at (single DES: 1.1, RFC 5246 removed it from 1.2)."""
    if suite.removed_in_tls12:
        return TLSVersion.TLSv1_1
    return suite.max_version


def transfer(pkis: dict, work: Path, nbytes: int, version: TLSVersion, suite: CipherSuite,
             engine: str) -> dict:
    """One client -> server transfer; the server's JSON record (session + bytes, seconds)."""
    pki = pkis["ec" if suite.authentication == "ECDSA" else "rsa"]
    common = ["--ca", pki.ca_cert, "--min-version", version.short, "--max-version",
              version.short, "--cipher", suite.name, "--engine", engine]
    # Generous: even at 1 MB/s the transfer ends before this.
    timeout = 60.0 + nbytes / 1e6
    with Child(cli_argv("tls-server", 0, "--once", "--sink", "--json", "--cert",
                        pki.server_cert, "--key", pki.server_key, *common),
               work, "tls-server") as server:
        port = server.wait_listening()
        with Child(cli_argv("tls-client", "127.0.0.1", port, "--send-bytes", nbytes, "--json",
                            "--cert", pki.client_cert, "--key", pki.client_key, *common),
                   work, "tls-client") as client:
            client.check(timeout)
        server.check(30.0)
        record = server.last_json()
    if record.get("bytes_received") != nbytes or not record.get("seconds"):
        raise BenchError(f"tls-server received {record.get('bytes_received')} of {nbytes} bytes")
    if record.get("cipher_suite") != suite.name:
        raise BenchError(f"negotiated {record.get('cipher_suite')}, not {suite.name}")
    return record


def _rows(args) -> list[dict]:
    """The rows to measure; default rows the forced engine cannot run come back skipped."""
    if args.cipher:
        chosen = [(f"TLS {default_version(s).short} {s.openssl_name or s.name}",
                   default_version(s), s) for s in dict.fromkeys(args.cipher)]
    else:
        chosen = [(label, TLSVersion.parse(v), lookup(name)) for label, v, name in DEFAULT_ROWS]
    rows = []
    for label, version, suite in chosen:
        engines = suite_engines(suite.code)
        row = {"label": label, "suite": suite.name, "version": version.label,
               "status": "pending", "error": None, "protocol": None, "engine": None,
               "mb_per_s": None, "openssl_cipher": speed_cipher(suite),
               "openssl_speed_mb_per_s": None, "ratio": None, "_suite": suite,
               "_version": version}
        if not engines:
            args._parser.error(f"no engine of this build runs {suite.name}")
        if args.engine != "auto" and args.engine not in engines:
            if args.cipher:
                args._parser.error(f"--engine {args.engine} cannot run {suite.name} "
                                   f"(it runs on {', '.join(engines)})")
            row.update(status="skipped", error=f"not on {args.engine}")
        rows.append(row)
    return rows


def cmd_bench_tls(args) -> int:
    rows = _rows(args)
    nbytes = args.mib << 20
    openssl = shutil.which("openssl")
    speeds: dict[str, float | None] = {}
    report = {"benchmark": "tls", "mib": args.mib, "bytes": nbytes, "repeat": args.repeat,
              "engine": args.engine, "openssl": openssl_version(openssl) if openssl else None,
              "rows": rows, "ok": True}
    with tempfile.TemporaryDirectory(prefix="dicomtls-bench-") as tmp:
        work = Path(tmp)
        pkis = {"rsa": make_dev_pki(work)}
        if any(r["_suite"].authentication == "ECDSA" for r in rows):
            pkis["ec"] = make_dev_pki(work, "ec")
        for row in rows:
            if row["status"] == "skipped":
                continue
            try:
                best = None
                for _ in range(args.repeat):
                    record = transfer(pkis, work, nbytes, row["_version"], row["_suite"],
                                      args.engine)
                    if best is None or record["bytes_received"] / record["seconds"] > \
                            best["bytes_received"] / best["seconds"]:
                        best = record
                    cipher = row["openssl_cipher"]
                    # Interleaved with the transfers, so both see the same machine load.
                    if openssl and cipher:
                        got = openssl_speed(openssl, cipher)
                        if got is not None:
                            speeds[cipher] = max(speeds.get(cipher) or 0.0, got)
            except BenchError as exc:
                row.update(status="failed", error=str(exc))
                report["ok"] = False
                continue
            rate = best["bytes_received"] / best["seconds"] / 1e6
            speed = speeds.get(row["openssl_cipher"])
            row.update(status="ok", protocol=best.get("protocol"), engine=best.get("engine"),
                       mb_per_s=round(rate, 1),
                       openssl_speed_mb_per_s=round(speed, 1) if speed else None,
                       ratio=round(rate / speed, 3) if speed else None)
    for row in rows:
        del row["_suite"], row["_version"]
    emit(report, args.json, render)
    for row in rows:
        if row["status"] == "failed":
            sys.stderr.write(f"dicomtls bench tls: {row['label']}: {row['error']}\n")
    return 0 if report["ok"] else 1


def _num(value, width: int, digits: int = 1) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def render(report: dict) -> str:
    rows = report["rows"]
    w = max([30] + [len(r["label"]) for r in rows])  # --cipher rows carry OpenSSL's long names
    c = max([12] + [len(r["openssl_cipher"] or "") for r in rows])
    lines = [f"{report['mib']} MiB client -> server over 127.0.0.1 per row, mutual auth, best of "
             f"{report['repeat']}; MB = 10^6 bytes; speed = openssl speed -evp, 16 KiB, one core"
             + ("" if report["openssl"] else " (no openssl binary: not measured)")]
    header = (f"{'suite':{w}} {'protocol':8} {'engine':8} {'MB/s':>8}  {'cipher':{c}} "
              f"{'speed MB/s':>10} {'ratio':>6}")
    lines += [header, "-" * len(header)]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"{r['label']:{w}} {r['status'].upper()}: {r['error']}")
            continue
        lines.append(f"{r['label']:{w}} {r['protocol']:8} {r['engine']:8} {_num(r['mb_per_s'], 8)}"
                     f"  {r['openssl_cipher'] or '-':{c}} {_num(r['openssl_speed_mb_per_s'], 10)} "
                     f"{_num(r['ratio'], 6, 2)}")
    return "\n".join(lines) + "\n"
