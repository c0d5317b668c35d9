"""Client and server processes for bench_all.py (one subcommand each, JSON result on stdout).

    bench_all_peers.py pynd-scp PORT OUT TLS CA CERT KEY [MAX_PDU]
        pynetdicom Storage + Verification SCP on 127.0.0.1:PORT writing each received data set
        (with file meta, bytes as received) to OUT/<SOP Instance UID>.dcm; runs until SIGINT.
    bench_all_peers.py pynd-store PORT TLS CA CERT KEY MAX_PDU FILE...
        pynetdicom Storage SCU: one association, each file C-STOREd from its path.
    bench_all_peers.py pynd-echo PORT TLS CA CERT KEY COUNT
        COUNT associations from this one process, one C-ECHO each (pynetdicom AE.associate).
    bench_all_peers.py ours-echo PORT TLS CA CERT KEY COUNT
        the same with dicomtls.io.association_runner.associate.

TLS is "plain", "1.2" or "1.3" (both ends pinned to that version, mutual authentication).
The JSON line has ``seconds`` (the timed loop only: interpreter start-up excluded) and, for TLS,
``protocol``.
"""

from __future__ import annotations

import json
import os
import sys
import time

MIB = 1 << 20


def _ssl_context(server: bool, version: str, ca: str, cert: str, key: str):
    import ssl
    if version == "plain":
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not server:
        ctx.check_hostname = False
    ver = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
    ctx.minimum_version = ctx.maximum_version = ver
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    return ctx


def _contexts():
    from pynetdicom import build_context
    from pynetdicom.sop_class import Verification
    from pydicom.uid import ExplicitVRLittleEndian
    return [build_context(Verification),
            build_context("1.2.840.10008.5.1.4.1.1.7", ExplicitVRLittleEndian),
            build_context("1.2.840.10008.5.1.4.1.1.7.3", ExplicitVRLittleEndian)]


def _quiet():
    import logging
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)


def _tls_info(assoc):
    try:
        sock = assoc.dul.socket.socket
        return f"{sock.version()} {sock.cipher()[0]}"
    except Exception:  # noqa: BLE001 - informative only
        return None


def pynd_scp(port, out, version, ca, cert, key, max_pdu=str(MIB)):
    from pynetdicom import AE, evt
    _quiet()

    def on_store(event):
        data = event.encoded_dataset(include_meta=True)
        uid = event.request.AffectedSOPInstanceUID
        tmp = os.path.join(out, f".{uid}.part")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(out, f"{uid}.dcm"))
        return 0x0000

    ae = AE(ae_title="PYNDSCP")
    ae.maximum_pdu_size = int(max_pdu)
    ae.supported_contexts = _contexts()
    ae.maximum_associations = 10
    ctx = _ssl_context(True, version, ca, cert, key)
    try:
        ae.start_server(("127.0.0.1", int(port)), block=True, ssl_context=ctx,
                        evt_handlers=[(evt.EVT_C_STORE, on_store)])
    except KeyboardInterrupt:
        ae.shutdown()
    return 0


def pynd_store(port, version, ca, cert, key, max_pdu, *files):
    from pynetdicom import AE
    _quiet()
    ae = AE(ae_title="PYNDSCU")
    ae.maximum_pdu_size = int(max_pdu)
    ae.requested_contexts = _contexts()
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 600
    ctx = _ssl_context(False, version, ca, cert, key)
    t0 = time.perf_counter()
    assoc = ae.associate("127.0.0.1", int(port), tls_args=(ctx, None) if ctx else None)
    if not assoc.is_established:
        raise SystemExit("pynd-store: association not established")
    proto = _tls_info(assoc) if ctx else None
    failed = 0
    for path in files:
        status = assoc.send_c_store(path)
        if not status or status.Status != 0:
            failed += 1
    assoc.release()
    seconds = time.perf_counter() - t0
    print(json.dumps({"sent": len(files) - failed, "failed": failed, "seconds": seconds,
                      "protocol": proto}))
    return 1 if failed else 0


def pynd_echo(port, version, ca, cert, key, count):
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification
    _quiet()
    ae = AE(ae_title="PYNDSCU")
    ae.add_requested_context(Verification)
    ctx = _ssl_context(False, version, ca, cert, key)
    proto = None
    t0 = time.perf_counter()
    for _ in range(int(count)):
        assoc = ae.associate("127.0.0.1", int(port), tls_args=(ctx, None) if ctx else None)
        if not assoc.is_established:
            raise SystemExit("pynd-echo: association not established")
        if ctx and proto is None:
            proto = _tls_info(assoc)
        status = assoc.send_c_echo()
        if not status or status.Status != 0:
            raise SystemExit(f"pynd-echo: C-ECHO failed: {status}")
        assoc.release()
    seconds = time.perf_counter() - t0
    print(json.dumps({"associations": int(count), "seconds": seconds, "protocol": proto}))
    return 0


def ours_echo(port, version, ca, cert, key, count):
    from dicomtls.io.association_runner import associate
    config = None
    if version != "plain":
        from dicomtls.tls.config import TLSConfig
        config = TLSConfig.from_profile(certificate=cert, private_key=key, ca_file=ca,
                                        min_version=version, max_version=version)
    proto = None
    t0 = time.perf_counter()
    for _ in range(int(count)):
        assoc = associate("127.0.0.1", int(port), tls_config=config, timeout=60)
        if config is not None and proto is None and assoc.session is not None:
            s = assoc.session.to_dict()
            proto = f"{s.get('protocol')} {s.get('cipher_suite')}"
        status = assoc.echo()
        if status != 0:
            raise SystemExit(f"ours-echo: C-ECHO status 0x{status:04X}")
        assoc.release()
    seconds = time.perf_counter() - t0
    print(json.dumps({"associations": int(count), "seconds": seconds, "protocol": proto}))
    return 0


COMMANDS = {"pynd-scp": pynd_scp, "pynd-store": pynd_store, "pynd-echo": pynd_echo,
            "ours-echo": ours_echo}

if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
