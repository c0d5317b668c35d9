"""Compiles a TLSConfig into a libssl SSL_CTX for one role."""

from __future__ import annotations

import logging
import threading

from .._binding import drain_errors, features, ffi, lib, libctx, raise_crypto_error
from ..errors import CertificateLoadError, EngineUnavailableError
from .config import TLSConfig
from .credentials import load_own_credentials, require_trust_source, trust_load_error
from .versions import TLSVersion

log = logging.getLogger("dicomtls.tls")

_PROTO = {
    TLSVersion.TLSv1_0: lib.TLS1_VERSION, TLSVersion.TLSv1_1: lib.TLS1_1_VERSION,
    TLSVersion.TLSv1_2: lib.TLS1_2_VERSION, TLSVersion.TLSv1_3: lib.TLS1_3_VERSION,
}

_keylog_locks: dict[str, threading.Lock] = {}
_keylog_guard = threading.Lock()


def keylog_lock(path: str) -> threading.Lock:
    with _keylog_guard:
        return _keylog_locks.setdefault(path, threading.Lock())


def libssl_missing(config: TLSConfig) -> list[str]:
    """The suites of this configuration that libssl cannot negotiate (empty: libssl can run it)."""
    codes = features().libssl_suite_codes
    return [s.name for s in config.usable_suites() if s.code not in codes]


class LibsslContext:
    """An owned SSL_CTX for one (config, role)."""

    def __init__(self, config: TLSConfig, role: str):
        missing = libssl_missing(config)
        if missing:
            raise EngineUnavailableError(
                "the system libssl cannot negotiate " + ", ".join(missing) +
                f" ({features().openssl_version} has no such suites); they need dicomtls' own "
                "TLS engine")
        self.config = config
        self.role = role
        ctx = lib.SSL_CTX_new_ex(libctx(), ffi.NULL, lib.TLS_method())
        if ctx == ffi.NULL:
            raise_crypto_error("SSL_CTX_new_ex")
        self.ptr = ffi.gc(ctx, lib.SSL_CTX_free)
        try:
            self._configure()
        finally:
            drain_errors()

    def _configure(self):
        cfg, ctx = self.config, self.ptr
        # OpenSSL 3 refuses TLS 1.0/1.1 (MD5/SHA-1 handshake signatures) and 3DES/NULL above level
        # 0; below 1.2 nothing else works, and level 2 elsewhere rejects keys under 2048 bits.
        low, high = cfg.effective_versions()
        legacy = low < TLSVersion.TLSv1_2 or any(s.legacy for s in cfg.cipher_suites)
        level = cfg.security_level
        lib.SSL_CTX_set_security_level(ctx, (0 if legacy else 2) if level is None else level)
        if not (lib.SSL_CTX_set_min_proto_version(ctx, _PROTO[low])
                and lib.SSL_CTX_set_max_proto_version(ctx, _PROTO[high])):
            raise_crypto_error("setting the protocol range")
        tls12 = [s for s in cfg.usable_suites() if not s.is_tls13]
        if tls12:
            names = ":".join(s.openssl_name for s in tls12).encode()
            if not lib.SSL_CTX_set_cipher_list(ctx, names):
                raise_crypto_error(f"libssl refused the cipher list {names.decode()}")
        tls13 = ":".join(s.name for s in cfg.tls13_suites).encode()
        if not lib.SSL_CTX_set_ciphersuites(ctx, tls13):
            raise_crypto_error(f"libssl refused the TLS 1.3 suites {tls13.decode()}")
        options = lib.SSL_OP_NO_RENEGOTIATION | lib.SSL_OP_NO_COMPRESSION
        if cfg.server_preference and self.role == "server":
            options |= lib.SSL_OP_CIPHER_SERVER_PREFERENCE
        if not cfg.encrypt_then_mac:
            options |= lib.SSL_OP_NO_ENCRYPT_THEN_MAC
        if not cfg.extended_master_secret:
            options |= lib.SSL_OP_NO_EXTENDED_MASTER_SECRET
        lib.SSL_CTX_set_options(ctx, options)
        lib.SSL_CTX_set_mode(ctx, lib.SSL_MODE_RELEASE_BUFFERS)
        lib.SSL_CTX_set_dh_auto(ctx, 1)
        if cfg.min_dhe_bits and cfg.min_dhe_bits >= 2048:
            # B.11/B.13: ECDHE >= 256 bits, DHE >= 2048 bits.
            groups = b"X25519:P-256:P-384:P-521:ffdhe2048:ffdhe3072:ffdhe4096"
        else:
            groups = b"X25519:P-256:P-384:P-521:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192"
        if cfg.groups:
            groups = ":".join(cfg.groups).encode()
        if not lib.SSL_CTX_set1_groups_list(ctx, groups):
            raise_crypto_error("setting key exchange groups")
        self._load_trust()
        self._load_own_chain()
        lib.dt_ctx_install_callbacks(ctx, self._verify_mode(), int(cfg.keylog_file is not None))
        cache = cfg.session_cache   # tls.session_cache: off (None) unless asked for
        lib.dt_ctx_session_cache(ctx, int(self.role == "server"), int(cache is not None),
                                 cache.size if cache else 0,
                                 int(cache.lifetime) if cache else 0)
        if cfg.verify_depth is not None:
            lib.SSL_CTX_set_verify_depth(ctx, cfg.verify_depth)

    def _verify_mode(self) -> int:
        policy = self.config.peer_cert
        if policy == "ignore":
            return lib.SSL_VERIFY_NONE
        if self.role == "server" and policy == "require":
            return lib.SSL_VERIFY_PEER | lib.SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        return lib.SSL_VERIFY_PEER

    def _load_trust(self):
        cfg, ctx = self.config, self.ptr
        require_trust_source(cfg)
        if cfg.ca_file and not lib.SSL_CTX_load_verify_file(ctx, cfg.ca_file.encode()):
            raise trust_load_error(cfg, drain_errors())
        if cfg.ca_dir and not lib.SSL_CTX_load_verify_dir(ctx, cfg.ca_dir.encode()):
            raise trust_load_error(cfg, drain_errors())

    def _load_own_chain(self):
        cfg, ctx = self.config, self.ptr
        chain, key = load_own_credentials(cfg, self.role)
        if not chain:
            return
        certs = ffi.new("X509 *[]", [c.ptr for c in chain])
        if not lib.dt_ctx_use_chain(ctx, certs, len(chain), key.ptr):
            errors = drain_errors()
            raise CertificateLoadError(
                f"libssl refused certificate {cfg.certificate}: "
                + "; ".join(map(str, errors)), path=cfg.certificate)
        self.own_chain = chain


def libssl_context(config: TLSConfig, role: str) -> LibsslContext:
    """The SSL_CTX for this config and role, built on first use and then shared."""
    return config.compiled(("libssl", role), lambda: LibsslContext(config, role))
