"""TLS session resumption (libssl engine), opt-in: off unless both sides have a SessionCache;
on, a client resumes with our server, `openssl s_server` and is resumed by Python's ssl, over
TLS 1.2 and 1.3; the client cache is bounded in size and lifetime. Real peers on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import subprocess

import pytest

import dicomtls
from conftest import free_port, require_binary, wait_for_port
from dicomtls.io import tls_socket
from dicomtls.io.association_runner import associate
from dicomtls.io.server import VerificationServer
from dicomtls.tls.session_cache import SessionCache


def _config(pki, role, version, cache=None):
    cert, key = (pki.server_cert, pki.server_key) if role == "server" else \
        (pki.client_cert, pki.client_key)
    config = dicomtls.TLSConfig.from_profile(certificate=str(cert), private_key=str(key),
                                             ca_file=str(pki.ca_cert), min_version=version,
                                             max_version=version)
    return dataclasses.replace(config, session_cache=cache)


def _echoes(port, config, n):
    """``n`` associations with one C-ECHO each; whether each TLS session was resumed."""
    resumed = []
    for _ in range(n):
        with associate("127.0.0.1", port, tls_config=config, timeout=10) as assoc:
            assert assoc.echo() == 0
            resumed.append(assoc.session.resumed)
    return resumed


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_our_client_resumes_with_our_server(pki, version):
    cache = SessionCache()
    server = VerificationServer(tls_config=_config(pki, "server", version, SessionCache()),
                                timeout=5).start()
    try:
        assert _echoes(server.port, _config(pki, "client", version, cache), 3) == \
            [False, True, True]
    finally:
        server.shutdown(1)
    assert [r.session.resumed for r in server.results] == [False, True, True]
    # the client certificate checked on the full handshake is still the session's
    assert all(r.peer_certificate_subject for r in server.results)
    assert len(cache) == 1


@pytest.mark.parametrize("server_cache, client_cache", [(False, True), (True, False),
                                                        (False, False)])
def test_off_unless_both_sides_ask(pki, server_cache, client_cache):
    server = VerificationServer(
        tls_config=_config(pki, "server", "1.3", SessionCache() if server_cache else None),
        timeout=5).start()
    client = _config(pki, "client", "1.3", SessionCache() if client_cache else None)
    try:
        assert _echoes(server.port, client, 2) == [False, False]
    finally:
        server.shutdown(1)
    if client_cache:   # an off server sends no ticket: nothing to keep
        assert len(client.session_cache) == 0


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_our_client_resumes_with_openssl_s_server(pki, version, tmp_path):
    openssl = require_binary("openssl")
    port = free_port()
    flag = {"1.2": "-tls1_2", "1.3": "-tls1_3"}[version]
    proc = subprocess.Popen([openssl, "s_server", "-accept", f"127.0.0.1:{port}", flag,
                             "-cert", str(pki.server_cert), "-key", str(pki.server_key),
                             "-CAfile", str(pki.ca_cert), "-Verify", "1", "-www",
                             "-naccept", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc)   # (that probe is one of the 3 accepts)
        config = _config(pki, "client", version, SessionCache())
        resumed = []
        for _ in range(2):
            tls = tls_socket.connect("127.0.0.1", port, config, timeout=10)
            try:
                tls.sendall(b"GET / HTTP/1.0\r\n\r\n")   # -www answers; tickets come first
                body = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                resumed.append(tls.session.resumed)
            finally:
                tls.close(force=True)
        assert resumed == [False, True], body[-500:]
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_python_ssl_resumes_with_our_server(pki):
    server_config = _config(pki, "server", "1.2", SessionCache())
    listener = tls_socket.listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    ctx.check_hostname = False
    import threading
    served = []

    def serve(n):
        for _ in range(n):
            sock, _ = listener.accept()
            tls = tls_socket.server_handshake(sock, server_config, timeout=10)
            served.append(tls.session.resumed)
            tls.sendall(b"x")
            tls.close()
    thread = threading.Thread(target=serve, args=(2,), daemon=True)
    thread.start()
    session = None
    reused = []
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, session=session) as s:
                assert s.recv(1) == b"x"
                reused.append(s.session_reused)
                session = s.session
    thread.join(10)
    listener.close()
    assert reused == [False, True] and served == [False, True]


def _real_session(pki):
    """One resumable SSL_SESSION from a real TLS 1.2 handshake with our server."""
    cache = SessionCache()
    server = VerificationServer(tls_config=_config(pki, "server", "1.2", SessionCache()),
                                timeout=5).start()
    try:
        _echoes(server.port, _config(pki, "client", "1.2", cache), 1)
    finally:
        server.shutdown(1)
    return cache


def test_client_cache_is_bounded_in_size_and_lifetime(pki):
    from dicomtls._binding import lib
    source = _real_session(pki)
    session = source.get("127.0.0.1")
    assert session is not None
    now = [0.0]
    cache = SessionCache(size=2, lifetime=10, clock=lambda: now[0])
    for name in ("a", "b", "c"):
        lib.SSL_SESSION_up_ref(session)   # each put takes ownership of one reference
        assert cache.put(name, session)
    assert len(cache) == 2 and cache.get("a") is None   # the least recently used went
    now[0] = 9.9
    assert cache.get("b") is not None
    now[0] = 10.0
    assert cache.get("b") is None and cache.get("c") is None   # lifetime over
    assert cache.get(None) is None
