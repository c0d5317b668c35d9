"""Interop with the ``openssl`` command line: our client against ``s_server``, our server against
``s_client``, always with mutual authentication, over 127.0.0.1.

Each run checks the negotiated version and suite on both ends (our SessionInfo and openssl's
``-brief`` summary) and exchanges data; there are also bulk transfers and a key log comparison.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
import warnings

import pytest

import dicomtls as d
from conftest import require_binary

pytestmark = pytest.mark.interop

VERSION_FLAG = {"1.0": "-tls1", "1.1": "-tls1_1", "1.2": "-tls1_2", "1.3": "-tls1_3"}
LABEL = {"1.0": "TLSv1", "1.1": "TLSv1.1", "1.2": "TLSv1.2", "1.3": "TLSv1.3"}


# ---- the openssl process ---------------------------------------------------------------------
class OpenSSL:
    """An openssl child with stdout/stderr collected by threads; killed on exit of the block."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([require_binary("openssl"), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err = bytearray(), bytearray()
        self._readers = [threading.Thread(target=self._read, args=pipe, daemon=True)
                         for pipe in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(pipe, buf):
        for chunk in iter(lambda: os.read(pipe.fileno(), 1 << 16), b""):
            buf += chunk

    @property
    def text(self) -> str:
        return (bytes(self.out) + bytes(self.err)).decode("latin-1")

    def wait_listening(self, port: int, timeout: float = 10.0):
        """Until the port is in LISTEN state (no probe connection: s_server counts those)."""
        needle = f":{port:04X} 00000000:0000 0A"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"openssl exited early ({self.proc.returncode}): {self.text}")
            with open("/proc/net/tcp") as f:
                if needle in f.read():
                    return
            time.sleep(0.02)
        raise TimeoutError(f"openssl is not listening on {port}: {self.text}")

    def wait_for(self, needle: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{needle!r} not in openssl output: {self.text}")
            time.sleep(0.02)

    def write(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self, timeout: float = 20.0) -> str:
        self.proc.wait(timeout)
        for t in self._readers:
            t.join(timeout)
        return self.text

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass


def s_server(p, port, *extra):
    peer = OpenSSL("s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(p.server_cert),
                   "-key", str(p.server_key), "-CAfile", str(p.ca_cert), "-Verify", "2",
                   "-verify_return_error", "-naccept", "1", *extra)
    peer.wait_listening(port)
    return peer


def s_client(p, port, *extra):
    return OpenSSL("s_client", "-connect", f"127.0.0.1:{port}", "-cert", str(p.client_cert),
                   "-key", str(p.client_key), "-CAfile", str(p.ca_cert), "-verify_return_error",
                   *extra)


def our_config(p, role, profile="rfc8996", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", d.LegacyCryptoWarning)
        return d.TLSConfig.from_profile(profile, certificate=str(getattr(p, f"{role}_cert")),
                                        private_key=str(getattr(p, f"{role}_key")),
                                        ca_file=str(p.ca_cert), peer_cert="require", **kw)


class OurServer(threading.Thread):
    """Accepts one connection on 127.0.0.1 and runs ``handler(tls)``; keeps the outcome."""

    def __init__(self, config, handler):
        super().__init__(daemon=True)
        self.listener = d.listen("127.0.0.1", 0)
        self.listener.settimeout(15)
        self.port = self.listener.getsockname()[1]
        self.config, self.handler = config, handler
        self.session = self.error = self.result = None

    def run(self):
        try:
            tls = d.accept(self.listener, self.config, timeout=15)
            self.session = tls.session
            try:
                self.result = self.handler(tls)
            finally:
                tls.close()
        except BaseException as exc:  # noqa: BLE001 - reported by outcome()
            self.error = exc
        finally:
            self.listener.close()

    def outcome(self, timeout=20):
        self.join(timeout)
        assert not self.is_alive(), "our server did not finish"
        if self.error is not None:
            raise self.error
        return self.session, self.result


def read_line(tls) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = tls.recv(1)
        assert chunk, f"peer closed after {line!r}"
        line += chunk
    return line


def brief_value(text: str, key: str) -> str:
    """A field of openssl's -brief summary, e.g. "Protocol version" or "Ciphersuite"."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{key!r} not in openssl output:\n{text}")


def check(session, text, version, suite, peer_cn):
    assert session.protocol.label == LABEL[version]
    assert session.cipher_suite_name == suite
    assert session.peer_authenticated and session.peer_certificate.subject.startswith(
        f"CN={peer_cn}")
    assert brief_value(text, "Protocol version") == LABEL[version]
    assert d.lookup_suite(brief_value(text, "Ciphersuite")).name == suite
    assert brief_value(text, "Verification") == "OK"


# ---- the matrix ------------------------------------------------------------------------------
def _suite_case(version, suite):
    s = d.lookup_suite(suite)
    ours = dict(ciphers=[s.name]) if version == "1.2" else dict(
        ciphers=[s.name], min_version=version, max_version=version)
    seclevel = ":@SECLEVEL=0" if version in ("1.0", "1.1") else ""
    theirs = [VERSION_FLAG[version], "-cipher", s.openssl_name + seclevel]
    return pytest.param("rsa", "rfc8996", ours, theirs, version, s.name,
                        id=f"{LABEL[version]}-{s.openssl_name}")


CASES = [
    pytest.param("rsa", "rfc8996", {}, [], "1.3", "TLS_AES_256_GCM_SHA384", id="TLSv1.3-default"),
    *[_suite_case("1.2", s) for s in ("ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
                                      "AES128-SHA", "ECDHE-RSA-AES256-SHA384")],
    *[_suite_case(v, s) for v in ("1.1", "1.0")
      for s in ("AES128-SHA", "ECDHE-RSA-AES128-SHA", "DHE-RSA-AES256-SHA")],
    # Whole profiles against openssl's defaults, and with openssl held to an older version.
    pytest.param("ec", "rfc8996", {}, [], "1.3", "TLS_AES_256_GCM_SHA384", id="rfc8996-ec"),
    pytest.param("ec", "rfc8996", {}, ["-tls1_2"], "1.2",
                 "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", id="rfc8996-ec-TLSv1.2"),
    pytest.param("rsa", "bcp195-nd", {}, [], "1.3", "TLS_AES_256_GCM_SHA384", id="bcp195-nd"),
    pytest.param("rsa", "bcp195-nd", {}, ["-tls1_2"], "1.2",
                 "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", id="bcp195-nd-TLSv1.2"),
    pytest.param("rsa", "bcp195", {}, [], "1.3", "TLS_AES_256_GCM_SHA384", id="bcp195"),
    pytest.param("rsa", "bcp195", {}, ["-tls1", "-cipher", "ALL:@SECLEVEL=0"], "1.0",
                 "TLS_RSA_WITH_AES_128_CBC_SHA", id="bcp195-TLSv1"),
]


@pytest.fixture
def pkis(pki, pki_ec):
    return {"rsa": pki, "ec": pki_ec}


@pytest.mark.parametrize("key,profile,ours,theirs,version,suite", CASES)
def test_our_client_vs_s_server(pkis, port, key, profile, ours, theirs, version, suite):
    p = pkis[key]
    with s_server(p, port, "-rev", "-brief", *theirs) as server:
        with d.connect("127.0.0.1", port, our_config(p, "client", profile, **ours),
                       timeout=10) as tls:
            tls.sendall(b"hello openssl\n")
            assert read_line(tls) == b"lssnepo olleh\n"
            session = tls.session
        text = server.finish()
    check(session, text, version, suite, "localhost")
    assert "CN = dicomtls client" in brief_value(text, "Peer certificate")


@pytest.mark.parametrize("key,profile,ours,theirs,version,suite", CASES)
def test_our_server_vs_s_client(pkis, key, profile, ours, theirs, version, suite):
    p = pkis[key]

    def reverse(tls):
        line = read_line(tls)
        tls.sendall(line[:-1][::-1] + b"\n")

    server = OurServer(our_config(p, "server", profile, **ours), reverse)
    server.start()
    with s_client(p, server.port, "-brief", *theirs) as client:
        client.write(b"hello dicomtls\n")
        session, _ = server.outcome()
        text = client.finish()
    assert "sltmocid olleh" in text
    check(session, text, version, suite, "dicomtls client")
    assert "CN = localhost" in brief_value(text, "Peer certificate")


@pytest.mark.parametrize("version,command", [("1.3", "k"), ("1.3", "K"), ("1.2", "R")])
def test_s_client_key_update_and_renegotiation(pki, version, command):
    """s_client's interactive commands: k/K send a TLS 1.3 KeyUpdate (K asks for ours in return),
    which must not disturb the data flow; R asks for a TLS 1.2 renegotiation, which we refuse
    (SSL_OP_NO_RENEGOTIATION), so s_client aborts and our server sees a typed alert."""
    def echo_lines(tls):
        for _ in range(2):
            tls.sendall(read_line(tls))

    server = OurServer(our_config(pki, "server", max_version=version), echo_lines)
    server.start()
    with s_client(pki, server.port) as client:
        client.write(b"first-line-0451\n")
        client.wait_for("first-line-0451")
        client.write(command.encode() + b"\n")
        if command == "R":
            with pytest.raises(d.TLSAlertReceived) as info:
                server.outcome()
            assert info.value.alert_received == 40
        else:
            client.wait_for("KEYUPDATE")  # s_client reads its stdin a buffer at a time
            client.write(b"second-line-0451\n")
            server.outcome()
            text = client.finish()
            assert "second-line-0451" in text


# ---- bulk data -------------------------------------------------------------------------------
PAYLOAD = os.urandom(4 << 20)


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_4mib_to_s_server(pki, port, version):
    """s_server's default mode writes what it receives to stdout. close() must not lose data:
    on TLS 1.3 the session tickets s_server sent after the handshake were never read, and
    closing a socket with unread input makes the kernel send RST, on which s_server drops
    whatever it had not read yet."""
    config = our_config(pki, "client", max_version=version)
    with s_server(pki, port, "-quiet") as server:
        tls = d.connect("127.0.0.1", port, config, timeout=10)
        tls.sendall(PAYLOAD)
        tls.close()
        server.finish()
        received = bytes(server.out)
    n = len(received)
    assert n == len(PAYLOAD), f"s_server received {n} of {len(PAYLOAD)} bytes"
    assert hashlib.sha256(received).digest() == hashlib.sha256(PAYLOAD).digest()


def test_4mib_echo_through_s_client(pki):
    """s_client -quiet forwards its stdin to us and our echo to its stdout."""
    def echo(tls):
        got = 0
        while got < len(PAYLOAD):
            chunk = tls.recv()
            assert chunk, f"s_client closed after {got} bytes"
            tls.sendall(chunk)
            got += len(chunk)
        return got

    server = OurServer(our_config(pki, "server"), echo)
    server.start()
    with s_client(pki, server.port, "-quiet") as client:
        feeder = threading.Thread(target=client.write, args=(PAYLOAD,), daemon=True)
        feeder.start()
        _, echoed = server.outcome(timeout=60)
        client.finish()
        feeder.join(10)
    assert echoed == len(PAYLOAD)
    assert hashlib.sha256(bytes(client.out)).digest() == hashlib.sha256(PAYLOAD).digest()


# ---- key log ---------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_keylog_matches_s_server(pki, port, tmp_path, version):
    ours, theirs = tmp_path / "ours.keys", tmp_path / "openssl.keys"
    with s_server(pki, port, "-rev", "-brief", "-keylogfile", str(theirs),
                  VERSION_FLAG[version]) as server:
        with d.connect("127.0.0.1", port, our_config(pki, "client", keylog_file=str(ours)),
                       timeout=10) as tls:
            tls.sendall(b"keys\n")
            assert read_line(tls) == b"syek\n"
        server.finish()
    mine = set(ours.read_text().splitlines())
    reference = {line for line in theirs.read_text().splitlines()
                 if line and not line.startswith("#")}
    labels = {line.split()[0] for line in mine}
    if version == "1.3":
        assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
                "EXPORTER_SECRET"} <= labels
    else:
        assert labels == {"CLIENT_RANDOM"}
    assert mine == reference
