"""Run under valgrind by .ci/valgrind: the C socket data paths of both engines (both directions,
over a socket pair, three rounds of 3 MiB each: libssl TLS 1.3, own engine AES-CBC MtE and
AES-GCM) and multi-block sealing, each checked byte for byte."""
import os, socket, sys, threading
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pkg"))
import dicomtls
from dicomtls.io import tls_socket
from dicomtls.crypto.devpki import create_dev_pki
from dicomtls.tls.own.record import RecordState
pki = create_dev_pki(os.path.join(sys.argv[1], "pki"))
STACKS = [dict(engine="libssl"),
          dict(engine="dicomtls", ciphers=["TLS_RSA_WITH_AES_128_CBC_SHA"], encrypt_then_mac=False),
          dict(engine="dicomtls", ciphers=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])]
def cfg(role, stack):
    cert, key = (pki.server_cert, pki.server_key) if role == "server" else (pki.client_cert, pki.client_key)
    return dicomtls.TLSConfig.from_profile(certificate=str(cert), private_key=str(key), ca_file=str(pki.ca_cert), **stack)
for rounds in range(3 * len(STACKS)):
    stack = STACKS[rounds % len(STACKS)]
    a, b = socket.socketpair()
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("s", tls_socket.server_handshake(b, cfg("server", stack), timeout=30)))
    t.start()
    c = tls_socket.client_handshake(a, cfg("client", stack), server_name="127.0.0.1", timeout=30)
    t.join()
    s = out["s"]
    assert c._direct() and s._direct() and c.conn.engine == s.conn.engine
    data = os.urandom(3 << 20)
    got = bytearray()
    def reader():
        buf = bytearray(70000)
        while len(got) < len(data):
            n = s.recv_into(buf)
            got.extend(buf[:n])
    r = threading.Thread(target=reader); r.start()
    c.sendall(data); r.join()
    assert bytes(got) == data
    c.close(timeout=1); s.close(timeout=1)
w = RecordState(True, 0x0303, "AES-128-CBC", "SHA1", False, b"k" * 16, b"m" * 20, b"")
rd = RecordState(False, 0x0303, "AES-128-CBC", "SHA1", False, b"k" * 16, b"m" * 20, b"")
payload = os.urandom(9 * 15872 + 7)
sealed = w.seal(23, payload)
pos, plain = 0, bytearray()
while pos < len(sealed):
    n, used, p, ct = rd.open(sealed, pos)
    plain += p; pos += used
assert bytes(plain) == payload
print("ok")
# The scanner's C: the ROBOT premaster probe (every variant) and the certificate's SAN list.
from dicomtls.crypto.x509 import load_certificates
from dicomtls.tls.own.hscrypto import HandshakeSecrets, certificate_public_key
server = load_certificates(pki.server_cert)[0]
for variant in range(5):
    assert len(HandshakeSecrets("SHA256").rsa_client_probe(certificate_public_key(server), 0x0303, variant)) == 256
assert ("IP", "127.0.0.1") in server.info().alt_names
print("ok")
