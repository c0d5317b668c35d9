"""dicomtls' own engine against Python's ``ssl`` (libssl driven by another stack): both roles,
TLS 1.0/1.1 at @SECLEVEL=0 and TLS 1.2, RSA/DHE/ECDHE, CBC and GCM, client certificates, a few
MiB each way checked by SHA-256, and the engine-selecting server with a mixed configuration.
"""

from __future__ import annotations

import hashlib
import os
import warnings

import pytest

import dicomtls as d
from test_python_ssl import (OurServer, PyServer, py_client, py_context, our_config, recv_line)

pytestmark = pytest.mark.interop

CASES = [
    ("1.0", "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    ("1.1", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA"),
    ("1.0", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    ("1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    ("1.2", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256"),
    ("1.2", "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
]
PAYLOAD = os.urandom(3 << 20)
DIGEST = hashlib.sha256(PAYLOAD).digest()


def own(p, role, version, suite, **kw):
    return our_config(p, role, version, suite, engine="dicomtls", **kw)


def read_exactly(read, n):
    out = bytearray()
    while len(out) < n:
        chunk = read(min(1 << 20, n - len(out)))
        assert chunk, f"peer closed after {len(out)} of {n} bytes"
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("version,suite,py_name", CASES)
def test_own_client_vs_python_server(pki, tmp_path, version, suite, py_name):
    def handler(tls):
        data = read_exactly(tls.recv, len(PAYLOAD))
        tls.sendall(hashlib.sha256(data).digest())
        return data

    server = PyServer(py_context(pki, "server", version, py_name, tmp=tmp_path), handler)
    server.start()
    with d.connect("127.0.0.1", server.port, own(pki, "client", version, suite),
                   timeout=15) as tls:
        tls.sendall(PAYLOAD)
        assert tls.recv_exactly(32) == DIGEST
        session = tls.session
    server.outcome()
    assert server.error is None, server.error
    py_version, py_cipher, _peer = server.info
    assert session.engine == "dicomtls"
    assert session.protocol.label == py_version
    assert d.lookup_suite(py_cipher).name == suite == session.cipher_suite_name


@pytest.mark.parametrize("version,suite,py_name", CASES)
def test_python_client_vs_own_server(pki, version, suite, py_name):
    def handler(tls):
        data = tls.recv_exactly(len(PAYLOAD))
        tls.sendall(hashlib.sha256(data).digest())

    server = OurServer(own(pki, "server", version, suite), handler)
    server.start()
    with py_client(py_context(pki, "client", version, py_name), server.port) as tls:
        tls.sendall(PAYLOAD)
        assert read_exactly(tls.recv, 32) == DIGEST
        assert d.lookup_suite(tls.cipher()[0]).name == suite
        assert tls.version() == d.TLSVersion.parse(version).label
    session = server.outcome().session
    assert session.engine == "dicomtls" and session.peer_authenticated


@pytest.mark.parametrize("client_version,expect_engine", [("1.3", "libssl"), ("1.2", "libssl")])
def test_selecting_server_gives_libssl_clients_to_libssl(pki, client_version, expect_engine):
    """A server with a mixed configuration (TLS 1.3 + AES + 3DES, as a site migrating off the
    Basic profile would run) hands a modern client to libssl."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        config = d.TLSConfig.from_profile(
            "rfc8996", ciphers=["TLS_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
            min_version="1.0", max_version="1.3", certificate=str(pki.server_cert),
            private_key=str(pki.server_key), ca_file=str(pki.ca_cert))
    assert d.select_engine(config, "server") == "select"

    def handler(tls):
        tls.sendall(recv_line(tls.recv))

    server = OurServer(config, handler)
    server.start()
    with py_client(py_context(pki, "client", client_version), server.port) as tls:
        tls.sendall(b"which engine?\n")
        assert recv_line(tls.recv) == b"which engine?\n"
    session = server.outcome().session
    assert session.engine == expect_engine
