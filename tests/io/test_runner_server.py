"""The blocking servers survive bad clients: a refused TLS handshake is a recorded outcome."""

from __future__ import annotations

import socket
import threading

import dicomtls
from dicomtls.io.association_runner import associate, serve_echo_once
from dicomtls.io.server import VerificationServer


def tls_server_config(pki):
    return dicomtls.TLSConfig.from_profile(certificate=str(pki.server_cert),
                                           private_key=str(pki.server_key),
                                           ca_file=str(pki.ca_cert))


def send_garbage(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello, this is not TLS")
        try:
            s.recv(100)
        except OSError:
            pass


def test_serve_echo_once_records_a_failed_handshake(pki):
    listener = dicomtls.listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    client = threading.Thread(target=send_garbage, args=(port,))
    client.start()
    try:
        result = serve_echo_once(listener, tls_server_config(pki), timeout=5)
    finally:
        client.join(10)
        listener.close()
    assert result.outcome == "error" and "handshake" in result.error


def test_server_keeps_serving_after_bad_clients_and_prunes_threads(pki):
    client_cfg = dicomtls.TLSConfig.from_profile(certificate=str(pki.client_cert),
                                                 private_key=str(pki.client_key),
                                                 ca_file=str(pki.ca_cert))
    with VerificationServer(tls_config=tls_server_config(pki), timeout=5) as server:
        for _ in range(3):
            send_garbage(server.port)
        with associate("127.0.0.1", server.port, tls_config=client_cfg, timeout=10) as assoc:
            assert assoc.echo() == 0x0000
        send_garbage(server.port)  # one more accept: finished workers are dropped then
        assert len(server._workers) <= 2
    outcomes = [r.outcome for r in server.results]
    assert outcomes.count("error") == 4
