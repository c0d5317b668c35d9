"""`dicomtls demo`: the main job on the embedded default (dev PKI, loopback, no configuration).

Stores a set of DICOM objects over TLS into an in-process Storage SCP and checks every stored
data set byte for byte; then a raw TLS bulk transfer checked by SHA-256 both ways; then one short
session per PS3.15 profile, reporting which profiles this build cannot run and why.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from ..errors import DicomTLSError, EngineUnavailableError
from .options import bounded

# TLS and the io layer are imported by the functions that run the demo: `dicomtls` builds this
# command's parser for every command.

CHUNK = 1024 * 1024


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run a TLS server and client on loopback with a dev PKI")
    p.add_argument("--mib", type=bounded(int, 1, 1 << 20), default=64,
                   help="MiB to send through the raw TLS session")
    p.add_argument("--objects", type=bounded(int, -1, 1 << 20), default=64,
                   help="synthetic 1 MiB objects stored beside pydicom's samples (-1: skip DICOM)")
    p.add_argument("--pki-dir", help="where the dev PKI lives (default: a cache directory)")
    p.set_defaults(func=cmd_demo)


def _profile_configs(pki, profile: str):
    from ..tls.config import TLSConfig
    ec = profile in ("bcp195-ex",)  # ECDSA-only suites need the EC certificates
    certs = pki[1] if ec else pki[0]
    server = TLSConfig.from_profile(profile, certificate=str(certs.server_cert),
                                    private_key=str(certs.server_key), ca_file=str(certs.ca_cert))
    client = TLSConfig.from_profile(profile, certificate=str(certs.client_cert),
                                    private_key=str(certs.client_key_encrypted),
                                    key_password=certs.password, ca_file=str(certs.ca_cert))
    return server, client


def _server(listener, config, result):
    """Read everything the client sends (until its close_notify), then send it all back."""
    import hashlib
    from ..io.tls_socket import accept
    try:
        tls = accept(listener, config, timeout=60)
        result["server_session"] = tls.session
        digest = hashlib.sha256()
        received = bytearray()
        while True:
            chunk = tls.recv()
            if not chunk:
                break
            digest.update(chunk)
            received += chunk
        tls.sendall(received)
        tls.close()
        result["server_sha256"] = digest.hexdigest()
    except BaseException as exc:  # reported by the main thread
        result["error"] = exc


def run_session(server_cfg, client_cfg, payload_mib: int) -> dict:
    """Client -> server, then server -> client (a TLS connection is driven by one thread at a
    time, as a DICOM association is: one side speaks, then the other)."""
    import hashlib
    from ..io.tls_socket import connect, listen
    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    result: dict = {}
    thread = threading.Thread(target=_server, args=(listener, server_cfg, result), daemon=True)
    thread.start()
    try:
        tls = connect("127.0.0.1", port, client_cfg, timeout=60)
        sent, back = hashlib.sha256(), hashlib.sha256()
        block = bytes(range(256)) * (CHUNK // 256)
        started = time.perf_counter()
        for _ in range(payload_mib):
            tls.sendall(block)
            sent.update(block)
        tls.shutdown_write()  # half-close: the server still answers
        upload = time.perf_counter() - started
        received = 0
        while True:
            chunk = tls.recv()
            if not chunk:
                break
            back.update(chunk)
            received += len(chunk)
        seconds = time.perf_counter() - started
        tls.close()
    finally:
        thread.join(60)
        listener.close()
    if "error" in result:
        raise result["error"]
    return {"client": tls.session, "server": result["server_session"], "seconds": seconds,
            "upload_seconds": upload, "bytes": received,
            "ok": sent.hexdigest() == back.hexdigest() == result["server_sha256"]}


def cmd_demo(args) -> int:
    from ..crypto.devpki import ensure_dev_pki
    from ..tls.engines import select_engine
    from ..tls.profiles import PROFILES
    from ..tls.versions import TLSVersion
    base = args.pki_dir
    rsa = ensure_dev_pki(base)
    ec = ensure_dev_pki(os.path.join(str(rsa.directory), "ec"), key_type="ec")
    pki = (rsa, ec)
    print(f"dev PKI: {rsa.directory}")
    server_cfg, client_cfg = _profile_configs(pki, "rfc8996")
    failures = 0
    if args.objects >= 0:
        from .demo_dicom import run_store_demo
        print("\n== DICOM C-STORE over TLS (Storage SCP on 127.0.0.1, mutual authentication) ==")
        failures += run_store_demo(server_cfg, client_cfg, Path(str(rsa.directory)), args.objects)
    print("\n== raw TLS transfer ==")
    r = run_session(server_cfg, client_cfg, args.mib)
    print(f"client sees: {r['client'].summary()}")
    print(f"server sees: {r['server'].summary()}")
    mb = r["bytes"] / 1e6
    print(f"sent {r['bytes']} bytes and got them back in {r['seconds']:.3f} s "
          f"({2 * mb / r['seconds']:.1f} MB/s over both directions), "
          f"SHA-256 {'matches' if r['ok'] else 'MISMATCH'}")
    failures += 0 if r["ok"] else 1
    print("\n== PS3.15 profiles (mutual authentication, 1 MiB each way; newest version, then TLS 1.2) ==")
    # Each legacy profile would log its warning twice per row; the table says it once.
    logging.getLogger("dicomtls.tls").setLevel(logging.ERROR)
    for name in PROFILES:
        if name == "none":
            continue
        try:
            server_cfg, client_cfg = _profile_configs(pki, name)
            select_engine(client_cfg)
        except EngineUnavailableError as exc:
            print(f"  {name:12} not runnable in this build: {exc}")
            continue
        cells = []
        variants = [client_cfg]
        if client_cfg.max_version > TLSVersion.TLSv1_2 >= client_cfg.min_version:
            variants.append(client_cfg.replace(max_version=TLSVersion.TLSv1_2))
        for cfg in variants:
            try:
                r = run_session(server_cfg, cfg, 1)
                s = r["client"]
                cells.append(f"{s.protocol.label} {s.cipher_suite.name} [{s.engine}]"
                             + ("" if r["ok"] else " DATA MISMATCH"))
                failures += 0 if r["ok"] else 1
            except DicomTLSError as exc:
                cells.append(f"FAILED: {exc}")
                failures += 1
        print(f"  {name:12} " + " | ".join(cells))
    sys.stdout.flush()
    return 1 if failures else 0
