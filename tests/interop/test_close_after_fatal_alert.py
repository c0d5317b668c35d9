"""After a fatal alert both our server and our client close their side at once (RFC 5246 7.2.2,
RFC 8446 6): a peer that sends a corrupted record and waits gets the alert, then EOF (issue 8,
item 2). The peer is Python's ``ssl`` (OpenSSL) over memory BIOs, so it can tamper with a record
after encrypting it."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

import dicomtls
from conftest import free_port

pytestmark = pytest.mark.interop

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
WAIT_FOR_EOF = 5.0  # our side closes within milliseconds; this only bounds a failing run


def _handshake(obj: ssl.SSLObject, sock: socket.socket, incoming: ssl.MemoryBIO,
               outgoing: ssl.MemoryBIO) -> None:
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("peer closed during the handshake")
            incoming.write(data)
    sock.sendall(outgoing.read())


def _tampered_record(obj: ssl.SSLObject, outgoing: ssl.MemoryBIO) -> bytes:
    obj.write(b"A" * 200)
    record = outgoing.read()
    return record[:-1] + bytes([record[-1] ^ 0x01])  # the MAC or GCM tag no longer matches


def _read_until_eof(sock: socket.socket) -> tuple[bytes, bool]:
    """(bytes received, True if EOF came before WAIT_FOR_EOF)."""
    sock.settimeout(WAIT_FOR_EOF)
    got = bytearray()
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return bytes(got), True
            got += data
    except (socket.timeout, TimeoutError):
        return bytes(got), False
    except ConnectionResetError:
        return bytes(got), True


def _alert_in(obj: ssl.SSLObject, incoming: ssl.MemoryBIO, data: bytes) -> str:
    """What the OpenSSL peer makes of what we sent after its tampered record."""
    incoming.write(data)
    try:
        while obj.read(65536):
            pass
    except ssl.SSLError as exc:
        return str(exc)
    return "no alert"


def python_client_context(pki, version, cipher=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = version
    ctx.load_verify_locations(str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    if cipher:
        ctx.set_ciphers(cipher)
    return ctx


@pytest.mark.parametrize("profile,version,cipher", [
    ("rfc8996", ssl.TLSVersion.TLSv1_3, None),                  # libssl
    ("rfc8996", ssl.TLSVersion.TLSv1_2, None),                  # libssl
    ("aes", ssl.TLSVersion.TLSv1_2, "AES128-SHA"),              # dicomtls' own engine
], ids=["libssl-1.3", "libssl-1.2", "own-1.2"])
def test_tls_server_closes_after_bad_record_mac(pki, profile, version, cipher):
    port = free_port()
    server = subprocess.Popen(
        # Not --once: the defect was a server that goes on serving with the failed connection
        # left open (an exiting process would close it anyway).
        CLI + ["tls-server", str(port), "--profile", profile,
               "--cert", str(pki.server_cert), "--key", str(pki.server_key),
               "--ca", str(pki.ca_cert)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(5):  # legacy profiles log a warning line before "listening on"
            if server.stderr.readline().startswith("listening on"):
                break
        ctx = python_client_context(pki, version, cipher)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            _handshake(obj, sock, incoming, outgoing)
            sock.sendall(_tampered_record(obj, outgoing))
            started = time.monotonic()
            data, eof = _read_until_eof(sock)
            seconds = time.monotonic() - started
        assert eof, "the server kept the connection open after its fatal alert"
        assert seconds < 4.0  # milliseconds here; bounded below the 5 s wait, for a loaded CI
        assert "BAD_RECORD_MAC" in _alert_in(obj, incoming, data)
        assert server.poll() is None  # still serving
        assert "connection failed" in server.stderr.readline()
    finally:
        server.kill()
        server.wait()


def test_client_shuts_its_side_after_bad_record_mac(pki):
    """Our client meets a tampered record from an OpenSSL server: the server sees the alert
    and then our EOF before our application has even called close()."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict = {}

    def serve():
        conn, _ = listener.accept()
        with conn:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(incoming, outgoing, server_side=True)
            _handshake(obj, conn, incoming, outgoing)
            conn.sendall(_tampered_record(obj, outgoing))
            data, seen["eof"] = _read_until_eof(conn)
            seen["alert"] = _alert_in(obj, incoming, data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    config = dicomtls.TLSConfig.from_profile(ca_file=str(pki.ca_cert))
    tls = dicomtls.connect("127.0.0.1", listener.getsockname()[1], config, timeout=10)
    try:
        with pytest.raises(dicomtls.TLSError) as info:
            tls.recv()
        assert info.value.alert_sent == 20
        thread.join(WAIT_FOR_EOF + 5)
        assert seen.get("eof") is True, seen
        assert "BAD_RECORD_MAC" in seen["alert"]
    finally:
        tls.close()
        listener.close()


# ---- a TLS 1.3 server that refuses our certificate after our Finished (issue 8, item 4) -------

@pytest.mark.parametrize("case", ["no-certificate", "untrusted-certificate"])
def test_tls13_refusal_by_storescp_reports_its_alert(netns, tmp_path, pki, case):
    """DCMTK storescp (OpenSSL) checks our certificate after our Finished and closes at once;
    our A-ASSOCIATE-RQ then meets its RST. What we report is its alert, not the reset."""
    from dicomtls.crypto.devpki import create_dev_pki
    from test_dcmtk_echo import STORESCP, dcmtk, storescp_and_our_cli
    dcmtk(STORESCP)
    ours = f"--ca {pki.ca_cert}"
    expected = "certificate_required (116)"
    if case == "untrusted-certificate":
        other = create_dev_pki(tmp_path / "other-pki")
        ours += f" --cert {other.client_cert} --key {other.client_key}"
        expected = "unknown_ca (48)"
    proc, log, _ = storescp_and_our_cli(
        netns, tmp_path, f"+tls {pki.server_key} {pki.server_cert} +cf {pki.ca_cert} +px",
        f"echo 127.0.0.1 PORT --aec STORESCP --timeout 20 --tls {ours}")
    assert proc.returncode == 1, proc.stderr
    assert "TLSAlertReceived" in proc.stderr and expected in proc.stderr, proc.stderr
    assert "reset" not in proc.stderr
