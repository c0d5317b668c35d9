"""Handshake cryptography of the own TLS engine (csrc/dt_hscrypto.c via dicomtls.tls.own.hscrypto).

Known answers come from independent implementations: tlslite-ng's PRF and key calculations
(tlslite.mathtls), `cryptography` for RSA, (EC)DH and signatures, plain Python integers for the
TLS 1.0 MD5-SHA1 RSA signature, and the published TLS 1.2 PRF vector.
"""

from __future__ import annotations

import hashlib
import os
import random
import warnings

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec, padding, x25519

from dicomtls._binding import lib
from dicomtls.crypto.keys import PrivateKey, load_private_key, private_key_from_bytes
from dicomtls.crypto.x509 import load_certificates
from dicomtls.errors import CryptoLibraryError, TLSProtocolViolation
from dicomtls.tls.own.hscrypto import EphemeralKey, HandshakeSecrets, prf, sign, verify
from dicomtls.tls.own.record import RecordState

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from tlslite.constants import CipherSuite
    from tlslite.handshakehashes import HandshakeHashes
    from tlslite.mathtls import PRF, PRF_1_2, PRF_1_2_SHA384, calc_key

from test_own_record import APP, Ref

# cryptography deprecates finite-field DH; it is still the independent DHE peer here.
pytestmark = pytest.mark.filterwarnings("ignore:Diffie-Hellman over finite fields")

TLS_PRF = {"MD5-SHA1": PRF, "SHA256": PRF_1_2, "SHA384": PRF_1_2_SHA384}
# tlslite picks the PRF from the version and suite.
SUITE_FOR_PRF = {"MD5-SHA1": ((3, 1), CipherSuite.TLS_RSA_WITH_3DES_EDE_CBC_SHA),
                 "SHA256": ((3, 3), CipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA),
                 "SHA384": ((3, 3), CipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384)}


def tl_key(prf_md, secret, label, length, **kw):
    version, suite = SUITE_FOR_PRF[prf_md]
    return bytes(calc_key(version, bytearray(secret), suite, label, output_length=length, **kw))


def master_of(hs, cr):
    line = hs.keylog_line(cr)
    prefix, crhex, master = line.split(" ")
    assert prefix == "CLIENT_RANDOM" and crhex == cr.hex() and len(master) == 96
    return bytes.fromhex(master)


@pytest.fixture(scope="module")
def rsa_key():
    return PrivateKey.generate("rsa", 2048)


@pytest.fixture(scope="module")
def rsa_ref(rsa_key):
    return serialization.load_pem_private_key(rsa_key.export(), None)


@pytest.fixture(scope="module")
def ec_key():
    return PrivateKey.generate("ec", curve="P-256")


# ---- PRF ----

def test_published_tls12_sha256_prf_vector():
    # Posted to the IETF TLS WG list for TLS 1.2 ("P_SHA256" test vector),
    # https://www.ietf.org/mail-archive/web/tls/current/msg03416.html ; widely reused since.
    out = prf("SHA256", bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
              bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
        "6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab"
        "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66")


@pytest.mark.parametrize("md", sorted(TLS_PRF))
def test_prf_matches_tlslite(md):
    rnd = os.urandom
    for secret_len, seed_len, length in ((48, 64, 48), (47, 13, 12), (1, 1, 1), (200, 96, 333)):
        secret, seed = rnd(secret_len), rnd(seed_len)
        want = bytes(TLS_PRF[md](bytearray(secret), b"some label", bytearray(seed), length))
        assert prf(md, secret, b"some label", seed, length) == want


def test_unknown_prf_digest():
    with pytest.raises(CryptoLibraryError):
        HandshakeSecrets("MD5")


# ---- (EC)DH with cryptography peers: known premaster -> master, EMS, Finished, key block ----

def x25519_pair(prf_md):
    """Our secrets derived against a cryptography X25519 peer: (ours, known premaster)."""
    mine = EphemeralKey.generate("x25519")
    peer = x25519.X25519PrivateKey.generate()
    hs = HandshakeSecrets(prf_md)
    hs.kx_derive(mine, peer.public_key().public_bytes_raw())
    pms = peer.exchange(x25519.X25519PublicKey.from_public_bytes(mine.public_bytes()))
    return hs, pms


@pytest.mark.parametrize("md", sorted(TLS_PRF))
def test_master_secret_classic_and_extended(md):
    cr, sr = os.urandom(32), os.urandom(32)
    hs, pms = x25519_pair(md)
    hs.master(cr, sr)
    assert master_of(hs, cr) == tl_key(md, pms, b"master secret", 48, client_random=bytearray(cr),
                                       server_random=bytearray(sr))
    hh = HandshakeHashes()
    hh.update(bytearray(b"ClientHello...ServerHelloDone...ClientKeyExchange"))
    session_hash = {"MD5-SHA1": hh.digest(), "SHA256": hh.digest("sha256"),
                    "SHA384": hh.digest("sha384")}[md]
    hs, pms = x25519_pair(md)
    hs.master(cr, sr, session_hash=bytes(session_hash))
    assert master_of(hs, cr) == tl_key(md, pms, b"extended master secret", 48,
                                       handshake_hashes=hh)
    # The premaster is gone once the master secret exists.
    with pytest.raises(CryptoLibraryError):
        hs.master(cr, sr)
    # After release() nothing is left to use.
    hs.release()
    hs.release()
    with pytest.raises(ValueError):
        hs.keylog_line(cr)


@pytest.mark.parametrize("md", sorted(TLS_PRF))
def test_finished(md):
    cr, sr = os.urandom(32), os.urandom(32)
    hs, _ = x25519_pair(md)
    hs.master(cr, sr)
    master = master_of(hs, cr)
    hh = HandshakeHashes()
    hh.update(bytearray(os.urandom(300)))
    digest = {"MD5-SHA1": hh.digest(), "SHA256": hh.digest("sha256"),
              "SHA384": hh.digest("sha384")}[md]
    for side, label in ((False, b"client finished"), (True, b"server finished")):
        got = hs.finished(side, bytes(digest))
        assert len(got) == 12
        assert got == tl_key(md, master, label, 12, handshake_hashes=hh)


def test_nothing_before_the_master_secret():
    hs = HandshakeSecrets("SHA256")
    with pytest.raises(CryptoLibraryError):
        hs.keylog_line(os.urandom(32))
    with pytest.raises(CryptoLibraryError):
        hs.finished(False, b"\0" * 32)
    with pytest.raises(CryptoLibraryError):
        hs.master(os.urandom(32), os.urandom(32))
    with pytest.raises(ValueError):
        hs.master(b"short", os.urandom(32))


KEY_BLOCKS = [  # version, prf, cipher, mac, etm, mac_keylen, keylen, ivlen
    (0x0301, "MD5-SHA1", "DES-EDE3-CBC", "SHA1", False, 20, 24, 8),
    (0x0301, "MD5-SHA1", "AES-128-CBC", "SHA1", True, 20, 16, 16),
    (0x0302, "MD5-SHA1", "DES-CBC", "SHA1", False, 20, 8, 0),
    (0x0303, "SHA256", "AES-128-CBC", "SHA256", True, 32, 16, 0),
    (0x0303, "SHA384", "AES-256-CBC", "SHA384", False, 48, 32, 0),
    (0x0303, "SHA384", "AES-256-GCM", "NULL", False, 0, 32, 4),
]


@pytest.mark.parametrize("spec", KEY_BLOCKS, ids=lambda s: f"{s[0]:04x}-{s[2]}-{s[3]}")
def test_record_states_from_the_key_block(spec):
    version, md, cipher, mac, etm, mkl, kl, ivl = spec
    cr, sr = os.urandom(32), os.urandom(32)
    hs, _ = x25519_pair(md)
    hs.master(cr, sr)
    master = master_of(hs, cr)
    kb = tl_key(md, master, b"key expansion", 2 * (mkl + kl + ivl),
                client_random=bytearray(cr), server_random=bytearray(sr))
    keys = {}
    for i, side in enumerate(("client", "server")):
        keys[side] = (kb[2 * mkl + i * kl:2 * mkl + (i + 1) * kl], kb[i * mkl:(i + 1) * mkl],
                      kb[2 * (mkl + kl) + i * ivl:2 * (mkl + kl) + (i + 1) * ivl])
    args = (version, cipher, mac, etm, mkl, kl, ivl, cr, sr)
    client_w = hs.record_state(True, True, *args)
    server_r = hs.record_state(False, True, *args)
    server_w = hs.record_state(True, False, *args)
    client_r = hs.record_state(False, False, *args)
    assert isinstance(client_w, RecordState)
    key, mac_key, iv = keys["client"]
    ref = Ref(version, cipher, mac, etm, key, mac_key, iv, None)
    for msg in (b"", b"hello", os.urandom(5000)):
        sealed = client_w.seal(APP, msg)
        assert ref.open(sealed) == (APP, msg)
        assert bytes(server_r.open(sealed)[2]) == msg
    key, mac_key, iv = keys["server"]
    ref = Ref(version, cipher, mac, etm, key, mac_key, iv, random.Random(1))
    for msg in (b"", b"world", os.urandom(3000)):
        assert bytes(client_r.open(ref.seal(APP, msg))[2]) == msg
    assert Ref(version, cipher, mac, etm, key, mac_key, iv, None).open(
        server_w.seal(APP, b"from the server")) == (APP, b"from the server")


# ---- RSA key transport ----

def test_rsa_premaster_both_ways(rsa_key, rsa_ref):
    cr, sr = os.urandom(32), os.urandom(32)
    client, server = HandshakeSecrets("SHA256"), HandshakeSecrets("SHA256")
    enc = client.rsa_client(rsa_key, 0x0303)
    assert len(enc) == 256
    pms = rsa_ref.decrypt(enc, padding.PKCS1v15())      # independent decryption
    assert len(pms) == 48 and pms[:2] == b"\x03\x03"
    server.rsa_server(rsa_key, 0x0303, enc)
    client.master(cr, sr)
    server.master(cr, sr)
    want = tl_key("SHA256", pms, b"master secret", 48, client_random=bytearray(cr),
                  server_random=bytearray(sr))
    assert master_of(client, cr) == master_of(server, cr) == want
    # A premaster encrypted by cryptography decrypts to the same master on our side.
    pms2 = b"\x03\x01" + os.urandom(46)
    server = HandshakeSecrets("MD5-SHA1")
    server.rsa_server(rsa_key.ptr, 0x0301, rsa_ref.public_key().encrypt(pms2, padding.PKCS1v15()))
    server.master(cr, sr)
    assert master_of(server, cr) == tl_key("MD5-SHA1", pms2, b"master secret", 48,
                                           client_random=bytearray(cr),
                                           server_random=bytearray(sr))


def test_rsa_bad_ciphertexts_give_a_random_premaster(rsa_key, rsa_ref):
    """Implicit rejection: the server reports success and ends up with a different master."""
    cr, sr = os.urandom(32), os.urandom(32)
    client = HandshakeSecrets("SHA256")
    enc = client.rsa_client(rsa_key, 0x0303)
    client.master(cr, sr)
    good = master_of(client, cr)
    pub = rsa_ref.public_key()
    n = pub.public_numbers().n
    bad = {
        "flipped byte": enc[:100] + bytes([enc[100] ^ 1]) + enc[101:],
        "wrong version": pub.encrypt(b"\x03\x02" + os.urandom(46), padding.PKCS1v15()),
        "47-byte premaster": pub.encrypt(os.urandom(47), padding.PKCS1v15()),
        "short": enc[1:],
        "long": enc + b"\0",
        "not below the modulus": (n + 1).to_bytes(256, "big"),
        "zero": bytes(256),
    }
    masters = set()
    for name, ct in bad.items():
        server = HandshakeSecrets("SHA256")
        server.rsa_server(rsa_key, 0x0303, ct)          # no exception
        server.master(cr, sr)
        m = master_of(server, cr)
        assert m != good, name
        masters.add(m)
    assert len(masters) == len(bad)                      # random, not a fixed fallback
    # The version check is against the ClientHello version the server was told about.
    server = HandshakeSecrets("SHA256")
    server.rsa_server(rsa_key, 0x0302, enc)
    server.master(cr, sr)
    assert master_of(server, cr) != good


def test_rsa_needs_an_rsa_key(ec_key):
    with pytest.raises(CryptoLibraryError):
        HandshakeSecrets("SHA256").rsa_client(ec_key, 0x0303)


# ---- ephemeral (EC)DH ----

@pytest.mark.parametrize("group,bits,publen", [("x25519", 253, 32), ("P-256", 256, 65),
                                                ("P-384", 384, 97), ("ffdhe2048", 2048, None)])
def test_kx_both_sides_agree(group, bits, publen):
    a, b = EphemeralKey.generate(group), EphemeralKey.generate(group)
    assert a.bits == bits
    if publen:
        assert len(a.public_bytes()) == publen
    cr, sr = os.urandom(32), os.urandom(32)
    x, y = HandshakeSecrets("SHA256"), HandshakeSecrets("SHA256")
    x.kx_derive(a, b.public_bytes())
    y.kx_derive(b, a.public_bytes())
    x.master(cr, sr)
    y.master(cr, sr)
    assert master_of(x, cr) == master_of(y, cr)


@pytest.mark.parametrize("curve,group", [(ec.SECP256R1(), "P-256"), (ec.SECP384R1(), "P-384")])
def test_ecdh_matches_cryptography(curve, group):
    mine = EphemeralKey.generate(group)
    peer = ec.generate_private_key(curve)
    hs = HandshakeSecrets("SHA384")
    hs.kx_derive(mine, peer.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint))
    pms = peer.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
        curve, mine.public_bytes()))
    cr, sr = os.urandom(32), os.urandom(32)
    hs.master(cr, sr)
    assert master_of(hs, cr) == tl_key("SHA384", pms, b"master secret", 48,
                                       client_random=bytearray(cr), server_random=bytearray(sr))


def dh_premaster_check(server_key, client_dh_numbers):
    """Our server key vs a cryptography client: (our master, expected master)."""
    p, g = (int.from_bytes(v, "big") for v in server_key.dh_params())
    pn = dh.DHParameterNumbers(p, g)
    client = pn.parameters().generate_private_key() if client_dh_numbers is None \
        else client_dh_numbers
    y = client.public_key().public_numbers().y
    hs = HandshakeSecrets("SHA256")
    hs.kx_derive(server_key, y.to_bytes((y.bit_length() + 7) // 8, "big"))
    z = client.exchange(dh.DHPublicNumbers(int.from_bytes(server_key.public_bytes(), "big"),
                                           pn).public_key())
    return hs, z


def test_dhe_matches_cryptography_and_strips_leading_zeros():
    server_key = EphemeralKey.generate("ffdhe2048")
    p, g = server_key.dh_params()
    assert len(p) == 256 and g == b"\x02"
    seen_leading_zero = False
    for _ in range(4000):
        hs, z = dh_premaster_check(server_key, None)
        pms = z.lstrip(b"\0")     # RFC 5246 8.1.2
        cr, sr = os.urandom(32), os.urandom(32)
        hs.master(cr, sr)
        assert master_of(hs, cr) == tl_key("SHA256", pms, b"master secret", 48,
                                           client_random=bytearray(cr),
                                           server_random=bytearray(sr))
        if z[0] == 0:
            seen_leading_zero = True
            break
    assert seen_leading_zero


def test_dhe_client_side_from_server_parameters():
    params = dh.DHParameterNumbers(
        int.from_bytes(EphemeralKey.generate("ffdhe3072").dh_params()[0], "big"), 2).parameters()
    server = params.generate_private_key()
    pn = params.parameter_numbers()
    mine = EphemeralKey.from_dh_params(pn.p, pn.g)
    assert mine.bits == 3072
    assert mine.dh_params() == (pn.p.to_bytes(384, "big"), b"\x02")
    y = server.public_key().public_numbers().y
    hs = HandshakeSecrets("SHA256")
    hs.kx_derive(mine, y.to_bytes(384, "big"))             # leading zeros allowed on the wire
    z = server.exchange(dh.DHPublicNumbers(int.from_bytes(mine.public_bytes(), "big"),
                                           pn).public_key())
    cr, sr = os.urandom(32), os.urandom(32)
    hs.master(cr, sr)
    assert master_of(hs, cr) == tl_key("SHA256", z.lstrip(b"\0"), b"master secret", 48,
                                       client_random=bytearray(cr), server_random=bytearray(sr))


def test_weak_or_broken_dh_parameters_are_refused():
    p2048 = int.from_bytes(EphemeralKey.generate("ffdhe2048").dh_params()[0], "big")
    small = (1 << 1022) + 1          # 1023 bits
    with pytest.raises(TLSProtocolViolation) as exc:
        EphemeralKey.from_dh_params(small, 2)
    assert exc.value.alert == 71
    with pytest.raises(TLSProtocolViolation) as exc:
        EphemeralKey.from_dh_params((1 << 511) + 1, 2)
    assert exc.value.alert == 71
    for p, g in ((p2048 + 1, 2), (p2048, 1), (p2048, 0), (p2048, p2048 - 1), (p2048, p2048 + 5)):
        with pytest.raises(TLSProtocolViolation) as exc:
            EphemeralKey.from_dh_params(p, g)
        assert exc.value.alert == 47


def bad_peer_values():
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = p256.public_bytes(serialization.Encoding.X962,
                              serialization.PublicFormat.UncompressedPoint)
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    compressed = p256.public_bytes(serialization.Encoding.X962,
                                   serialization.PublicFormat.CompressedPoint)
    p = 2**255 - 19
    return [
        ("x25519", bytes(32)),                                  # zero point: zero secret
        ("x25519", (1).to_bytes(32, "little")),                 # order-4 point: zero secret
        ("x25519", (p - 1).to_bytes(32, "little")),             # low order
        ("x25519", bytes(31)),
        ("x25519", os.urandom(33)),
        ("P-256", off_curve),
        ("P-256", compressed),
        ("P-256", b"\x00"),                                     # point at infinity
        ("P-256", point[:-1]),
        ("P-256", b"\x04" + bytes(64)),
        ("P-384", point),                                       # a P-256 point
    ]


@pytest.mark.parametrize("group,value", bad_peer_values(),
                         ids=lambda v: v if isinstance(v, str) else v[:3].hex())
def test_bad_peer_points_are_rejected(group, value):
    hs = HandshakeSecrets("SHA256")
    with pytest.raises(TLSProtocolViolation) as exc:
        hs.kx_derive(EphemeralKey.generate(group), value)
    assert exc.value.alert == 47
    with pytest.raises(CryptoLibraryError):      # and no premaster was kept
        hs.master(os.urandom(32), os.urandom(32))


def test_bad_dh_public_values_are_rejected():
    mine = EphemeralKey.generate("ffdhe2048")
    p = int.from_bytes(mine.dh_params()[0], "big")
    for y in (0, 1, p - 1, p, p + 1, 2**2100):
        with pytest.raises(TLSProtocolViolation) as exc:
            HandshakeSecrets("SHA256").kx_derive(mine, y.to_bytes(max(1, (y.bit_length() + 7) // 8),
                                                                 "big"))
        assert exc.value.alert == 47
    with pytest.raises(TLSProtocolViolation):
        HandshakeSecrets("SHA256").kx_derive(mine, b"")


def test_unknown_group():
    with pytest.raises(CryptoLibraryError):
        EphemeralKey.generate("brainpoolP256r1")


# ---- signatures ----

def test_md5_sha1_rsa_signature_has_no_digestinfo(rsa_key, rsa_ref):
    data = os.urandom(200)
    sig = sign(rsa_key, "MD5-SHA1", False, data)
    nums = rsa_ref.private_numbers()
    n, e, d = nums.public_numbers.n, nums.public_numbers.e, nums.d
    em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(256, "big")
    digest = hashlib.md5(data).digest() + hashlib.sha1(data).digest()
    assert em == b"\x00\x01" + b"\xff" * (256 - 3 - 36) + b"\x00" + digest
    assert verify(rsa_key, "MD5-SHA1", False, data, sig)
    assert not verify(rsa_key, "MD5-SHA1", False, data + b"x", sig)
    # A signature made with plain integer RSA verifies with us too.
    theirs = pow(int.from_bytes(em, "big"), d, n).to_bytes(256, "big")
    assert verify(rsa_key, "MD5-SHA1", False, data, theirs)


@pytest.mark.parametrize("md,hash_cls", [("SHA1", hashes.SHA1), ("SHA256", hashes.SHA256),
                                         ("SHA384", hashes.SHA384), ("SHA512", hashes.SHA512)])
def test_rsa_pkcs1_and_pss_signatures_against_cryptography(rsa_key, rsa_ref, md, hash_cls):
    data = os.urandom(500)
    pub = rsa_ref.public_key()
    pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=padding.PSS.DIGEST_LENGTH)
    pub.verify(sign(rsa_key, md, False, data), data, padding.PKCS1v15(), hash_cls())
    pub.verify(sign(rsa_key, md, True, data), data, pss, hash_cls())
    assert verify(rsa_key, md, False, data, rsa_ref.sign(data, padding.PKCS1v15(), hash_cls()))
    assert verify(rsa_key, md, True, data, rsa_ref.sign(data, pss, hash_cls()))
    # PSS and PKCS#1 are not interchangeable, and tampering is caught.
    sig = sign(rsa_key, md, True, data)
    assert not verify(rsa_key, md, False, data, sig)
    assert not verify(rsa_key, md, True, data, sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not verify(rsa_key, md, True, data, b"")


def test_ecdsa_against_cryptography(ec_key):
    ref = serialization.load_pem_private_key(ec_key.export(), None)
    data = os.urandom(100)
    ref.public_key().verify(sign(ec_key, "SHA256", False, data), data, ec.ECDSA(hashes.SHA256()))
    assert verify(ec_key, "SHA256", False, data, ref.sign(data, ec.ECDSA(hashes.SHA256())))
    assert not verify(ec_key, "SHA256", False, data, b"\x30\x00")
    with pytest.raises(CryptoLibraryError):
        sign(ec_key, "SHA256", True, data)              # PSS needs RSA


def test_verify_with_a_certificate_key_and_a_cryptography_made_key(pki):
    cert = load_certificates(pki.server_cert)[0]
    key = load_private_key(pki.server_key)
    data = b"ServerKeyExchange params"
    sig = sign(key, "SHA256", True, data)
    assert verify(lib.X509_get0_pubkey(cert.ptr), "SHA256", True, data, sig)
    assert not verify(lib.X509_get0_pubkey(cert.ptr), "SHA256", True, data + b"!", sig)
    # A key generated by cryptography, loaded into our binding, signatures both ways.
    theirs = ec.generate_private_key(ec.SECP384R1())
    ours = private_key_from_bytes(theirs.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert verify(ours, "SHA384", False, data, theirs.sign(data, ec.ECDSA(hashes.SHA384())))
    theirs.public_key().verify(sign(ours, "SHA384", False, data), data, ec.ECDSA(hashes.SHA384()))
