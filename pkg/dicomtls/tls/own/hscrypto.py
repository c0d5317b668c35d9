"""Handshake cryptography of dicomtls' own TLS 1.0-1.2 engine: thin wrappers of
``csrc/dt_hscrypto.c``.

:class:`HandshakeSecrets` holds the premaster and master secret in C (they never become Python
objects; the master secret leaves C only in :meth:`HandshakeSecrets.keylog_line`, which the caller
asks for explicitly).  :class:`EphemeralKey` is one side's (EC)DHE key pair.  :func:`sign` and
:func:`verify` cover ServerKeyExchange and CertificateVerify.  Keys are ``EVP_PKEY *`` cdata or
objects with a ``ptr`` attribute holding one (:class:`dicomtls.crypto.keys.PrivateKey`).
"""

from __future__ import annotations

from ..._binding import drain_errors, ffi, lib, libctx, raise_crypto_error
from ...errors import CryptoLibraryError, TLSProtocolViolation
from ..protocol import AlertDescription
from .record import RecordState

__all__ = ["HandshakeSecrets", "EphemeralKey", "certificate_public_key", "prf", "sign", "verify"]

_RANDOM_LEN = 32
_MAX_PUBLIC = 1024          # ffdhe8192 Y; EC and X25519 points are far smaller


def _pkey(key):
    """EVP_PKEY * from cdata or from a wrapper with ``ptr``."""
    ptr = getattr(key, "ptr", key)
    if not isinstance(ptr, ffi.CData):
        raise TypeError("expected an EVP_PKEY (cdata or an object with .ptr)")
    return ptr


def _random(value, what: str) -> bytes:
    value = bytes(value)
    if len(value) != _RANDOM_LEN:
        raise ValueError(f"{what} must be {_RANDOM_LEN} bytes")
    return value


def prf(md: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS PRF (``md``: ``MD5-SHA1`` for TLS 1.0/1.1, ``SHA256``, ``SHA384``).  For tests and
    tools; the handshake itself derives everything inside :class:`HandshakeSecrets`."""
    out = ffi.new("uint8_t[]", length)
    if not lib.dt_prf(libctx(), md.encode(), secret, len(secret), label, len(label), seed,
                      len(seed), out, length):
        raise_crypto_error(f"PRF {md}")
    return ffi.buffer(out, length)[:]


class EphemeralKey:
    """An ephemeral key pair for ECDHE/DHE (owned EVP_PKEY)."""

    __slots__ = ("_pkey", "group")

    def __init__(self, pkey_ptr, group: str | None = None):
        self._pkey = ffi.gc(pkey_ptr, lib.EVP_PKEY_free)
        self.group = group

    @property
    def ptr(self):
        return self._pkey

    @classmethod
    def generate(cls, group: str) -> "EphemeralKey":
        """``x25519``, ``x448``, ``P-256``, ``P-384``, ``P-521``, ``ffdhe2048`` ... ``ffdhe8192``."""
        ptr = lib.dt_kx_keygen_group(libctx(), group.encode())
        if ptr == ffi.NULL:
            raise_crypto_error(f"generating a {group} key")
        return cls(ptr, group)

    @classmethod
    def from_dh_params(cls, p: bytes | int, g: bytes | int) -> "EphemeralKey":
        """Client side of DHE: a key pair in the server's group.  Raises TLSProtocolViolation
        (insufficient_security) for p under 1024 bits, (illegal_parameter) for unusable p/g."""
        if isinstance(p, int):
            p = p.to_bytes((p.bit_length() + 7) // 8 or 1, "big")
        if isinstance(g, int):
            g = g.to_bytes((g.bit_length() + 7) // 8 or 1, "big")
        p, g = bytes(p), bytes(g)
        ptr = lib.dt_kx_keygen_dh(libctx(), p, len(p), g, len(g))
        if ptr == ffi.NULL:
            errors = drain_errors()
            small = any(e.library == lib.ERR_LIB_DH and e.reason == lib.DH_R_MODULUS_TOO_SMALL
                        for e in errors)
            detail = "; ".join(str(e) for e in errors)
            raise TLSProtocolViolation(f"server DH parameters refused: {detail}",
                                       alert=(AlertDescription.INSUFFICIENT_SECURITY if small
                                              else AlertDescription.ILLEGAL_PARAMETER),
                                       openssl_errors=errors)
        return cls(ptr, None)

    def public_bytes(self) -> bytes:
        """X25519/X448 raw key, EC uncompressed point, DH Y (big-endian, no padding)."""
        out = ffi.new("uint8_t[]", _MAX_PUBLIC)
        n = ffi.new("size_t *")
        if not lib.dt_kx_public(self._pkey, out, _MAX_PUBLIC, n):
            raise_crypto_error("encoding a public key")
        return ffi.buffer(out, n[0])[:]

    def dh_params(self) -> tuple[bytes, bytes]:
        """(p, g) of a DH key, big-endian."""
        p = ffi.new("uint8_t[]", _MAX_PUBLIC)
        g = ffi.new("uint8_t[]", _MAX_PUBLIC)
        plen = ffi.new("size_t *")
        glen = ffi.new("size_t *")
        if not lib.dt_kx_dh_params(self._pkey, p, _MAX_PUBLIC, plen, g, _MAX_PUBLIC, glen):
            raise_crypto_error("reading DH parameters")
        return ffi.buffer(p, plen[0])[:], ffi.buffer(g, glen[0])[:]

    @property
    def bits(self) -> int:
        return lib.dt_kx_bits(self._pkey)


class HandshakeSecrets:
    """Premaster and master secret of one handshake (C ``dt_hs``), for a PRF digest of
    ``MD5-SHA1`` (TLS 1.0/1.1), ``SHA256`` or ``SHA384`` (TLS 1.2, by suite)."""

    __slots__ = ("_ptr", "prf_md")

    def __init__(self, prf_md: str):
        ptr = lib.dt_hs_new(libctx(), prf_md.encode())
        if ptr == ffi.NULL:
            raise_crypto_error(f"handshake secrets for PRF {prf_md}")
        self._ptr = ffi.gc(ptr, lib.dt_hs_free)
        self.prf_md = prf_md

    @property
    def _hs(self):
        if self._ptr is None:
            raise ValueError("handshake secrets already released")
        return self._ptr

    def release(self) -> None:
        """Cleanse and free the secrets now (the handshake is over and the record states exist)
        instead of whenever the garbage collector gets to them.  Idempotent."""
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None

    def rsa_client(self, pub, client_version: int) -> bytes:
        """New premaster (client_version || 46 random bytes), encrypted to the server's RSA key:
        the EncryptedPreMasterSecret body (without its length prefix).  An RSA key libcrypto
        cannot encrypt to raises TLSProtocolViolation (bad_certificate); a key that is not RSA
        at all is the caller's mistake (CryptoLibraryError)."""
        key = _pkey(pub)
        if _key_type(key).upper() != "RSA":  # client.py refuses such a certificate first (43)
            raise CryptoLibraryError("RSA key transport needs an RSA key, not "
                                     f"{_key_type(key) or 'an unknown type'}")
        cap = lib.EVP_PKEY_get_size(key)
        if cap <= 0:
            raise _bad_peer_key("the server's RSA key has no usable size")
        out = ffi.new("uint8_t[]", cap)
        n = ffi.new("size_t *")
        if not lib.dt_hs_rsa_client(self._hs, key, client_version, out, cap, n):
            # The key is the server's, from its Certificate, and was parsed but never checked
            # (with peer_cert="ignore" nobody looks at it): an even modulus gives "bignum
            # routines: no inverse". That is the peer's fault and must fail the handshake like
            # any other peer error, not as an internal error. RFC 5246 7.2.2: bad_certificate
            # ("a certificate was corrupt"): the broken value is in the certificate, not a
            # handshake field (illegal_parameter) nor a failed negotiation (handshake_failure).
            # (The other step here, RAND_priv_bytes, does not fail in a working process.)
            raise _bad_peer_key("the server's RSA key cannot encrypt the premaster")
        return ffi.buffer(out, n[0])[:]

    def rsa_client_probe(self, pub, client_version: int, variant: int) -> bytes:
        """The scanner's Bleichenbacher check: an EncryptedPreMasterSecret whose PKCS#1 block is
        correct (0) or broken one way (1 first bytes, 2 a zero in the padding, 3 no separator,
        4 wrong version; csrc/dt_hscrypto.c); our own premaster is then a random other one, so
        our Finished fails at the server's record layer whatever it decrypted."""
        key = _pkey(pub)
        cap = lib.EVP_PKEY_get_size(key)
        out = ffi.new("uint8_t[]", max(cap, 1))
        n = ffi.new("size_t *")
        if cap <= 0 or not lib.dt_hs_rsa_client_probe(self._hs, key, client_version, variant,
                                                      out, cap, n):
            raise_crypto_error("building a premaster probe")
        return ffi.buffer(out, n[0])[:]

    def rsa_server(self, key, client_version: int, enc: bytes) -> None:
        """Decrypt the client's premaster.  A bad padding or version yields a random premaster,
        in constant time, and no error: the handshake then fails at Finished."""
        enc = bytes(enc)
        if not lib.dt_hs_rsa_server(self._hs, _pkey(key), client_version, enc, len(enc)):
            raise_crypto_error("RSA premaster decryption")

    def kx_derive(self, ours: EphemeralKey, peer_pub: bytes) -> None:
        """premaster = (EC)DH(ours, peer).  A peer value that is not a valid public key of our
        group raises TLSProtocolViolation (illegal_parameter)."""
        peer_pub = bytes(peer_pub)
        if not lib.dt_hs_kx_derive(self._hs, _pkey(ours), peer_pub, len(peer_pub)):
            errors = drain_errors()
            detail = "; ".join(str(e) for e in errors)
            raise TLSProtocolViolation(f"peer key exchange value refused: {detail}",
                                       alert=AlertDescription.ILLEGAL_PARAMETER,
                                       openssl_errors=errors)

    def master(self, client_random: bytes, server_random: bytes,
               session_hash: bytes | None = None) -> None:
        """Derive the master secret (RFC 7627 extended master secret when ``session_hash`` is
        given); the premaster is cleansed."""
        cr = _random(client_random, "client_random")
        sr = _random(server_random, "server_random")
        sh = bytes(session_hash) if session_hash else ffi.NULL
        if not lib.dt_hs_master(self._hs, cr, sr, sh, len(session_hash) if session_hash else 0):
            raise_crypto_error("deriving the master secret")

    def keylog_line(self, client_random: bytes) -> str:
        """NSS key log line ``CLIENT_RANDOM <client_random hex> <master secret hex>``."""
        cr = _random(client_random, "client_random")
        out = ffi.new("char[]", 200)
        if not lib.dt_hs_keylog_line(self._hs, cr, out, 200):
            raise_crypto_error("key log line")
        return ffi.string(out).decode("ascii")

    def finished(self, from_server: bool, handshake_hash: bytes) -> bytes:
        """verify_data (12 bytes) of the client's or the server's Finished."""
        out = ffi.new("uint8_t[12]")
        handshake_hash = bytes(handshake_hash)
        if not lib.dt_hs_finished(self._hs, int(bool(from_server)), handshake_hash,
                                  len(handshake_hash), out):
            raise_crypto_error("Finished verify_data")
        return ffi.buffer(out, 12)[:]

    def record_state(self, encrypt: bool, for_client_write: bool, version: int, cipher: str,
                     mac: str, etm: bool, mac_key_len: int, key_len: int, iv_len: int,
                     client_random: bytes, server_random: bytes) -> RecordState:
        """One direction's record state from the key block.  ``for_client_write``: the client's
        write keys (the client seals with them, the server opens with them)."""
        cr = _random(client_random, "client_random")
        sr = _random(server_random, "server_random")
        ptr = lib.dt_hs_record_state(self._hs, int(bool(encrypt)), int(bool(for_client_write)),
                                     version, cipher.encode(), mac.encode(), int(bool(etm)),
                                     mac_key_len, key_len, iv_len, cr, sr)
        if ptr == ffi.NULL:
            raise_crypto_error(f"{cipher}/{mac} record state from the key block")
        return RecordState.from_ptr(ptr, encrypt, version, cipher, mac, etm)


def sign(key, md: str, pss: bool, data: bytes) -> bytes:
    """Signature over ``data``.  ``md``: ``MD5-SHA1`` (TLS 1.0/1.1 RSA), ``SHA1``, ``SHA256``,
    ``SHA384``, ``SHA512``; ``pss``: RSA-PSS, salt = hash length (rsa_pss_rsae_*)."""
    pkey = _pkey(key)
    cap = max(lib.EVP_PKEY_get_size(pkey), 1)
    out = ffi.new("uint8_t[]", cap)
    n = ffi.new("size_t *")
    data = bytes(data)
    if not lib.dt_sign(libctx(), pkey, md.encode(), int(bool(pss)), data, len(data), out, cap, n):
        raise_crypto_error(f"signing with {md}{' PSS' if pss else ''}")
    return ffi.buffer(out, n[0])[:]


def verify(pubkey, md: str, pss: bool, data: bytes, sig: bytes) -> bool:
    """True when ``sig`` is a valid signature of ``data``; a malformed signature is False; a
    key that cannot make this kind of signature at all raises TLSProtocolViolation
    (unsupported_certificate)."""
    data, sig = bytes(data), bytes(sig)
    rc = lib.dt_verify(libctx(), _pkey(pubkey), md.encode(), int(bool(pss)), data, len(data),
                       sig, len(sig))
    if rc < 0:
        # Only the set-up fails (dt_verify): the digests come from our own scheme table, so it
        # is the key, always the peer's (its certificate's), that cannot do this signature, e.g.
        # a client certificate with an EC key whose CertificateVerify claims RSA-PSS. The
        # peer's fault, like a bad signature: RFC 5246 7.2.2 unsupported_certificate.
        errors = drain_errors()
        raise TLSProtocolViolation(
            f"the peer's {_key_type(_pkey(pubkey)) or 'unknown'} key cannot verify a {md}"
            f"{' PSS' if pss else ''} signature: " + "; ".join(str(e) for e in errors),
            alert=AlertDescription.UNSUPPORTED_CERTIFICATE, openssl_errors=errors)
    drain_errors()  # a bad signature leaves OpenSSL's reasons behind; False says it all
    return rc == 1


def certificate_public_key(cert):
    """The public key of a peer certificate (``crypto.x509.Certificate``) as the ``EVP_PKEY *``
    :func:`verify` and :meth:`HandshakeSecrets.rsa_client` take. Borrowed from the certificate:
    valid while ``cert`` lives (the connection keeps the peer chain for its whole life)."""
    pkey = lib.X509_get0_pubkey(cert.ptr)
    if pkey == ffi.NULL:
        # A public key libcrypto cannot decode: the certificate is corrupt (the peer's fault).
        raise _bad_peer_key("the peer certificate's public key cannot be read")
    return pkey


def _key_type(pkey) -> str:
    name = lib.EVP_PKEY_get0_type_name(pkey)
    return "" if name == ffi.NULL else ffi.string(name).decode()


def _bad_peer_key(what: str) -> TLSProtocolViolation:
    """A peer certificate's key that libcrypto refuses: bad_certificate (RFC 5246 7.2.2),
    carrying OpenSSL's reasons (and leaving its error queue empty)."""
    errors = drain_errors()
    detail = "; ".join(str(e) for e in errors)
    return TLSProtocolViolation(f"{what}: {detail}" if detail else what,
                                alert=AlertDescription.BAD_CERTIFICATE, openssl_errors=errors)
