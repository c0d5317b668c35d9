"""`dicomtls demo`: the main job on the embedded default (dev PKI, loopback, no configuration).

Until the DICOM layers exist it runs a TLS server and client pair: a mutual-auth session on the
default profile with a bulk transfer checked by SHA-256 both ways, then one short session per PS3.15
profile, reporting which profiles this build cannot run and why.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time

from ..errors import DicomTLSError, EngineUnavailableError
from ..io.tls_socket import accept, connect, listen
from ..tls.config import TLSConfig
from ..tls.engines import select_engine
from ..tls.profiles import PROFILES

CHUNK = 1024 * 1024


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run a TLS server and client on loopback with a dev PKI")
    p.add_argument("--mib", type=int, default=64, help="MiB to send through the main session")
    p.add_argument("--pki-dir", help="where the dev PKI lives (default: a cache directory)")
    p.set_defaults(func=cmd_demo)


def _profile_configs(pki, profile: str):
    ec = profile in ("bcp195-ex",)  # ECDSA-only suites need the EC certificates
    certs = pki[1] if ec else pki[0]
    server = TLSConfig.from_profile(profile, certificate=str(certs.server_cert),
                                    private_key=str(certs.server_key), ca_file=str(certs.ca_cert))
    client = TLSConfig.from_profile(profile, certificate=str(certs.client_cert),
                                    private_key=str(certs.client_key_encrypted),
                                    key_password=certs.password, ca_file=str(certs.ca_cert))
    return server, client


def _echo_server(listener, config, result):
    try:
        tls = accept(listener, config, timeout=60)
        result["server_session"] = tls.session
        digest = hashlib.sha256()
        while True:
            chunk = tls.recv()
            if not chunk:
                break
            digest.update(chunk)
            tls.sendall(chunk)
        tls.close()
        result["server_sha256"] = digest.hexdigest()
    except BaseException as exc:  # reported by the main thread
        result["error"] = exc


def run_session(server_cfg, client_cfg, payload_mib: int) -> dict:
    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    result: dict = {}
    thread = threading.Thread(target=_echo_server, args=(listener, server_cfg, result), daemon=True)
    thread.start()
    try:
        tls = connect("127.0.0.1", port, client_cfg, timeout=60)
        sent = hashlib.sha256()
        back = hashlib.sha256()
        block = bytes(range(256)) * (CHUNK // 256)
        received = 0
        started = time.perf_counter()
        reader_done = threading.Event()

        def reader():
            nonlocal received
            while True:
                chunk = tls.recv()
                if not chunk:
                    break
                back.update(chunk)
                received += len(chunk)
            reader_done.set()

        # The echo needs a concurrent reader, or both sides would block on full socket buffers.
        rthread = threading.Thread(target=reader, daemon=True)
        rthread.start()
        for _ in range(payload_mib):
            tls.sendall(block)
            sent.update(block)
        tls.shutdown_write()
        reader_done.wait(120)
        seconds = time.perf_counter() - started
        tls.close()
    finally:
        thread.join(60)
        listener.close()
    if "error" in result:
        raise result["error"]
    return {"client": tls.session, "server": result["server_session"], "seconds": seconds,
            "bytes": received, "ok": sent.hexdigest() == back.hexdigest() == result["server_sha256"]}


def cmd_demo(args) -> int:
    from ..crypto.devpki import ensure_dev_pki
    import os
    base = args.pki_dir
    rsa = ensure_dev_pki(base)
    ec = ensure_dev_pki(os.path.join(str(rsa.directory), "ec"), key_type="ec")
    pki = (rsa, ec)
    print(f"dev PKI: {rsa.directory}")
    server_cfg, client_cfg = _profile_configs(pki, "rfc8996")
    r = run_session(server_cfg, client_cfg, args.mib)
    print(f"client sees: {r['client'].summary()}")
    print(f"server sees: {r['server'].summary()}")
    mb = r["bytes"] / 1e6
    print(f"echoed {r['bytes']} bytes in {r['seconds']:.3f} s: {mb / r['seconds']:.1f} MB/s each way, "
          f"SHA-256 {'matches' if r['ok'] else 'MISMATCH'}")
    failures = 0 if r["ok"] else 1
    print("\nPS3.15 profiles:")
    for name in PROFILES:
        if name == "none":
            continue
        try:
            server_cfg, client_cfg = _profile_configs(pki, name)
            select_engine(client_cfg)
        except EngineUnavailableError as exc:
            print(f"  {name:12} not in this build: {exc}")
            continue
        try:
            r = run_session(server_cfg, client_cfg, 1)
            s = r["client"]
            print(f"  {name:12} {s.protocol.label:8} {s.cipher_suite.name} "
                  f"({'ok' if r['ok'] else 'DATA MISMATCH'})")
            failures += 0 if r["ok"] else 1
        except DicomTLSError as exc:
            print(f"  {name:12} FAILED: {exc}")
            failures += 1
    sys.stdout.flush()
    return 1 if failures else 0
