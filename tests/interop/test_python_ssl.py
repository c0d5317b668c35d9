"""Interop with Python's ``ssl`` module (the same OpenSSL, driven by a different stack), both roles,
mutual authentication, TLS 1.0 to 1.3, over 127.0.0.1. Every socket has a timeout and every
thread is joined with one, so nothing here can hang.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import struct
import threading
import warnings

import pytest

import dicomtls as d
from dicomtls.ldicomnet import lead_code, lead_code_for_alert

pytestmark = pytest.mark.interop

TIMEOUT = 15
# RFC 7919 ffdhe2048: Python's ssl server offers DHE suites only with explicit parameters.
FFDHE2048 = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""
PY_VERSION = {"1.0": "TLSv1", "1.1": "TLSv1_1", "1.2": "TLSv1_2", "1.3": "TLSv1_3"}


# ---- Python's side ---------------------------------------------------------------------------
def py_context(p, role, version=None, cipher=None, *, cert=True, keylog=None, tmp=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if role == "server" else ssl.PROTOCOL_TLS_CLIENT)
    if cert:
        ctx.load_cert_chain(str(getattr(p, f"{role}_cert")), str(getattr(p, f"{role}_key")))
    ctx.load_verify_locations(str(p.ca_cert))
    ctx.verify_mode = ssl.CERT_REQUIRED
    if role == "server" and tmp is not None:
        (tmp / "ffdhe2048.pem").write_bytes(FFDHE2048)
        ctx.load_dh_params(str(tmp / "ffdhe2048.pem"))
    if version is not None:
        with warnings.catch_warnings():  # TLSVersion.TLSv1/TLSv1_1 are deprecated in Python
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion,
                                                                PY_VERSION[version])
    if cipher is not None and version != "1.3":
        ctx.set_ciphers(cipher + (":@SECLEVEL=0" if version in ("1.0", "1.1") else ""))
    if keylog is not None:
        ctx.keylog_filename = str(keylog)
    return ctx


class PyServer(threading.Thread):
    """Python ssl server for one connection; ``handler(sslsock)`` runs after the handshake."""

    def __init__(self, ctx, handler):
        super().__init__(daemon=True)
        self.ctx, self.handler = ctx, handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.info = self.error = self.result = None

    def run(self):
        try:
            raw, _ = self.listener.accept()
            raw.settimeout(TIMEOUT)
            with self.ctx.wrap_socket(raw, server_side=True) as tls:
                self.info = (tls.version(), tls.cipher()[0], tls.getpeercert())
                self.result = self.handler(tls)
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            self.error = exc
        finally:
            self.listener.close()

    def outcome(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), "Python server did not finish"
        return self


class OurServer(threading.Thread):
    def __init__(self, config, handler):
        super().__init__(daemon=True)
        self.listener = d.listen("127.0.0.1", 0)
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.config, self.handler = config, handler
        self.session = self.error = self.result = None

    def run(self):
        try:
            with d.accept(self.listener, self.config, timeout=TIMEOUT) as tls:
                self.session = tls.session
                self.result = self.handler(tls)
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
        finally:
            self.listener.close()

    def outcome(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), "our server did not finish"
        if self.error is not None:
            raise self.error
        return self


def py_client(ctx, port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return ctx.wrap_socket(raw, server_hostname="localhost")


# ---- our side --------------------------------------------------------------------------------
def our_config(p, role, version=None, suite=None, *, cert=True, **kw):
    if suite is not None:
        kw["ciphers"] = [suite]
    if version is not None:
        kw.update(min_version=version, max_version=version)
    if cert:
        kw.update(certificate=str(getattr(p, f"{role}_cert")),
                  private_key=str(getattr(p, f"{role}_key")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        return d.TLSConfig.from_profile("rfc8996", ca_file=str(p.ca_cert), **kw)


def recv_line(read) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = read(1)
        assert chunk, f"peer closed after {line!r}"
        line += chunk
    return line


def reverse_line(read, write):
    line = recv_line(read)
    write(line[:-1][::-1] + b"\n")


def py_peer_cn(cert: dict) -> str:
    return dict(x[0] for x in cert["subject"])["commonName"]


# ---- the matrix: version x key exchange x cipher mode -----------------------------------------
def _matrix():
    rows = [("1.3", "TLS_AES_128_GCM_SHA256"), ("1.3", "TLS_AES_256_GCM_SHA384")]
    for suite in ("AES128-SHA", "AES256-GCM-SHA384", "DHE-RSA-AES128-SHA",
                  "DHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-SHA",
                  "ECDHE-RSA-AES128-GCM-SHA256"):
        rows.append(("1.2", suite))
    for version in ("1.1", "1.0"):
        for suite in ("AES128-SHA", "DHE-RSA-AES256-SHA", "ECDHE-RSA-AES128-SHA"):
            rows.append((version, suite))
    return [pytest.param(v, s, id=f"TLSv{v}-{s}") for v, s in rows]


def check_session(session, version, suite, peer_cn):
    expected = d.lookup_suite(suite)
    assert session.protocol.short == version
    assert session.cipher_suite == expected
    kx = "ECDHE" if expected.is_tls13 else expected.key_exchange
    assert session.key_exchange == kx
    assert session.peer_authenticated
    assert session.peer_certificate.subject.startswith(f"CN={peer_cn}")


@pytest.mark.parametrize("version,suite", _matrix())
def test_our_client_vs_python_server(pki, tmp_path, version, suite):
    name = d.lookup_suite(suite)
    server = PyServer(py_context(pki, "server", version, name.openssl_name, tmp=tmp_path),
                      lambda tls: reverse_line(tls.recv, tls.sendall))
    server.start()
    with d.connect("127.0.0.1", server.port, our_config(pki, "client", version, suite),
                   timeout=TIMEOUT) as tls:
        tls.sendall(b"hello python\n")
        assert tls.recv_exactly(13) == b"nohtyp olleh\n"
        session = tls.session
    server.outcome()
    assert server.error is None, server.error
    py_version, py_cipher, py_peer = server.info
    assert py_version == session.protocol.label
    assert d.lookup_suite(py_cipher) == session.cipher_suite
    assert py_peer_cn(py_peer) == "dicomtls client"
    check_session(session, version, suite, "localhost")


@pytest.mark.parametrize("version,suite", _matrix())
def test_python_client_vs_our_server(pki, version, suite):
    name = d.lookup_suite(suite)
    server = OurServer(our_config(pki, "server", version, suite),
                       lambda tls: reverse_line(tls.recv, tls.sendall))
    server.start()
    with py_client(py_context(pki, "client", version, name.openssl_name), server.port) as tls:
        tls.sendall(b"hello dicomtls\n")
        assert recv_line(tls.recv) == b"sltmocid olleh\n"
        py_version, py_cipher, py_peer = tls.version(), tls.cipher()[0], tls.getpeercert()
    session = server.outcome().session
    assert py_version == session.protocol.label
    assert d.lookup_suite(py_cipher) == session.cipher_suite
    assert py_peer_cn(py_peer) == "localhost"
    check_session(session, version, suite, "dicomtls client")


# ---- key log ---------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_keylog_identical_to_python_client(pki, tmp_path, version):
    ours, theirs = tmp_path / "ours.keys", tmp_path / "python.keys"
    server = OurServer(our_config(pki, "server", keylog_file=str(ours)),
                       lambda tls: reverse_line(tls.recv, tls.sendall))
    server.start()
    with py_client(py_context(pki, "client", version, keylog=theirs), server.port) as tls:
        tls.sendall(b"keys\n")
        assert recv_line(tls.recv) == b"syek\n"
    server.outcome()
    mine = set(ours.read_text().splitlines())
    reference = {line for line in theirs.read_text().splitlines()
                 if line and not line.startswith("#")}
    assert len(mine) == (5 if version == "1.3" else 1)
    assert mine == reference


# ---- policy failure --------------------------------------------------------------------------
@pytest.mark.parametrize("version,alert", [("1.3", 116), ("1.2", 40)])
def test_our_client_without_cert_vs_python_requiring_one(pki, tmp_path, version, alert):
    server = PyServer(py_context(pki, "server", version, tmp=tmp_path),
                      lambda tls: tls.recv(1))
    server.start()
    config = our_config(pki, "client", cert=False, max_version=version)
    with pytest.raises(d.TLSAlertReceived) as info:
        # TLS 1.3: the client finishes first and learns of the refusal on its first read (not
        # on a write: the server may have closed already, and a write would meet a RST).
        with d.connect("127.0.0.1", server.port, config, timeout=TIMEOUT) as tls:
            tls.recv()
    server.outcome()
    assert isinstance(server.error, ssl.SSLError)
    assert info.value.alert_received == alert
    assert lead_code(info.value) == lead_code_for_alert(alert)


# ---- bulk ------------------------------------------------------------------------------------
BULK = 64 << 20


def count_and_hash(read, write):
    """Read an 8-byte length and that many bytes; answer "<count> <sha256>\\n"."""
    header = b""
    while len(header) < 8:
        chunk = read(8 - len(header))
        assert chunk
        header += chunk
    (expected,), digest, count = struct.unpack("!Q", header), hashlib.sha256(), 0
    while count < expected:
        chunk = read(min(1 << 20, expected - count))
        if not chunk:
            break
        digest.update(chunk)
        count += len(chunk)
    write(f"{count} {digest.hexdigest()}\n".encode())
    return count


@pytest.fixture(scope="module")
def bulk():
    data = os.urandom(BULK)
    return data, hashlib.sha256(data).hexdigest()


def test_64mib_our_client_to_python(pki, tmp_path, bulk):
    data, digest = bulk
    server = PyServer(py_context(pki, "server", tmp=tmp_path),
                      lambda tls: count_and_hash(tls.recv, tls.sendall))
    server.start()
    with d.connect("127.0.0.1", server.port, our_config(pki, "client"), timeout=TIMEOUT) as tls:
        tls.sendall(struct.pack("!Q", len(data)))
        tls.sendall(data)
        assert recv_line(tls.recv) == f"{BULK} {digest}\n".encode()
    assert server.outcome().error is None and server.result == BULK


def test_64mib_python_client_to_our_server(pki, bulk):
    data, digest = bulk
    server = OurServer(our_config(pki, "server"),
                       lambda tls: count_and_hash(tls.recv, tls.sendall))
    server.start()
    with py_client(py_context(pki, "client"), server.port) as tls:
        tls.sendall(struct.pack("!Q", len(data)))
        tls.sendall(data)
        assert recv_line(tls.recv) == f"{BULK} {digest}\n".encode()
    assert server.outcome().result == BULK
