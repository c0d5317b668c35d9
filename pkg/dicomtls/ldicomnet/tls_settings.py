"""LDicomNet facade, TLS part: LEAD's TLS constants, ``L_SSL_CTX_CREATE`` and ``TLSSettings``.

``TLSSettings`` is the part of an ``LDicomNet`` that keeps what LEAD keeps per network object
for TLS (security mode, context settings, own certificates, the 16-slot cipher proposal list)
and, once a handshake ran, its outcome (session, status, last error). It turns the settings into
one ``TLSConfig`` when the I/O thread starts a handshake. Nothing here touches a socket.

Values are LEAD's (``ltdic.h``, reference ``ldicomnet-api.md`` sections 3 and 4); suite
ordinals and the per-suite enums are in ``suites``, return codes in ``codes``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..crypto.x509 import load_certificates
from ..errors import DicomTLSError
from ..tls.config import TLSConfig, VerifyContext
from ..tls.versions import TLSVersion
from .codes import (DICOM_ERROR_CERTIFICATE_LOAD_FAILED, DICOM_ERROR_PRIVATE_KEY_LOAD_FAILED,
                    DICOM_ERROR_TLS_INVALID_CTX, DICOM_ERROR_TLS_INVALID_CTX_CAFILE,
                    DICOM_ERROR_TLS_INVALID_CTX_OPTIONS, DICOM_ERROR_TLS_INVALID_CTX_VERIFY_DEPTH,
                    DICOM_ERROR_TLS_INVALID_CTX_VERIFY_MODE, DICOM_SUCCESS,
                    SecureModeNotSupportedError, lead_code)
from .suites import TLS_NONE, suite_value, to_suite

# ---- security modes (section 3.1) ----------------------------------------------------------
DICOM_SECURE_NONE = 0xABCD0000
DICOM_SECURE_ISCL = 0xABCD0001
DICOM_SECURE_TLS = 0xABCD0002

# ---- certificate file types, cipher list ---------------------------------------------------
L_TLS_FILETYPE_PEM = 1
L_TLS_FILETYPE_ASN1 = 2
MAX_CIPHERSUITE_COUNT = 16

# ---- L_SSL_CTX_CREATE (section 4) ----------------------------------------------------------
FLAG_SSL_CTX_CREATE_METHOD_TYPE = 0x001
FLAG_SSL_CTX_CREATE_VERIFY_DEPTH = 0x002
FLAG_SSL_CTX_CREATE_VERIFY_MODE = 0x004
FLAG_SSL_CTX_CREATE_CAFILE = 0x008
FLAG_SSL_CTX_CREATE_OPTIONS = 0x010
FLAG_SSL_CTX_CREATE_ALL = 0x01F

TYPE_SSLV2_METHOD = 1
TYPE_SSLV3_METHOD = 2
TYPE_TLSV1_METHOD = 3
TYPE_SSLV23_METHOD = 4
TYPE_TLS_METHOD = 5

L_SSL_VERIFY_NONE = 0
L_SSL_VERIFY_PEER = 1
L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 2
L_SSL_VERIFY_CLIENT_ONCE = 4
L_SSL_VERIFY_ALL = 7

L_SSL_OP_NO_SSLv2 = 0x01000000
L_SSL_OP_NO_SSLv3 = 0x02000000
L_SSL_OP_NO_TLSv1 = 0x04000000
L_SSL_OP_NO_TLSv1_2 = 0x08000000
L_SSL_OP_NO_TLSv1_1 = 0x10000000
L_SSL_OP_NO_COMPRESSION = 0x00020000
L_SSL_OP_ALL = 0x80000BFF  # bug workarounds (v20+); accepted and ignored: OpenSSL 3 needs none
_KNOWN_OPTIONS = (L_SSL_OP_NO_SSLv2 | L_SSL_OP_NO_SSLv3 | L_SSL_OP_NO_TLSv1 | L_SSL_OP_NO_TLSv1_1
                  | L_SSL_OP_NO_TLSv1_2 | L_SSL_OP_NO_COMPRESSION | L_SSL_OP_ALL | 0x000FFFFF)

# GetTLSStatus
TLS_STATUS_IDLE, TLS_STATUS_CLIENT_HANDSHAKE, TLS_STATUS_SERVER_HANDSHAKE, TLS_STATUS_CONNECTED = \
    0, 1, 2, 3


@dataclass
class SslCtxCreate:
    """``L_SSL_CTX_CREATE`` / .NET ``DicomOpenSslContextCreationSettings``. ``flags`` says which
    fields count (``FLAG_SSL_CTX_CREATE_*``); ``success`` is filled in by ``initialize``."""

    method_type: int = TYPE_SSLV23_METHOD
    ca_file: Optional[str] = None
    verify_mode: int = L_SSL_VERIFY_NONE
    verify_depth: Optional[int] = None
    options: int = 0
    flags: int = FLAG_SSL_CTX_CREATE_ALL
    success: int = DICOM_SUCCESS


L_SSL_CTX_CREATE = SslCtxCreate
DicomOpenSslContextCreationSettings = SslCtxCreate


def check_ctx(ctx: SslCtxCreate) -> int:
    """0, or the LEAD code for the first invalid field (192-196)."""
    f = ctx.flags
    if f & FLAG_SSL_CTX_CREATE_METHOD_TYPE and ctx.method_type not in (3, 4, 5):
        return DICOM_ERROR_TLS_INVALID_CTX  # SSLv2/v3: no longer exist in any OpenSSL we use
    if f & FLAG_SSL_CTX_CREATE_VERIFY_DEPTH and ctx.verify_depth is not None \
            and ctx.verify_depth < 0:
        return DICOM_ERROR_TLS_INVALID_CTX_VERIFY_DEPTH
    if f & FLAG_SSL_CTX_CREATE_VERIFY_MODE and ctx.verify_mode & ~L_SSL_VERIFY_ALL:
        return DICOM_ERROR_TLS_INVALID_CTX_VERIFY_MODE
    if f & FLAG_SSL_CTX_CREATE_CAFILE and ctx.ca_file is not None \
            and not os.path.isfile(ctx.ca_file):
        return DICOM_ERROR_TLS_INVALID_CTX_CAFILE
    if f & FLAG_SSL_CTX_CREATE_OPTIONS and ctx.options & ~_KNOWN_OPTIONS:
        return DICOM_ERROR_TLS_INVALID_CTX_OPTIONS
    return DICOM_SUCCESS


def version_range(ctx: SslCtxCreate) -> tuple[Optional[TLSVersion], Optional[TLSVersion]]:
    """The (min, max) TLS versions the method type and NO_TLS* options leave; None = default."""
    low, high = None, None
    if ctx.flags & FLAG_SSL_CTX_CREATE_METHOD_TYPE and ctx.method_type == TYPE_TLSV1_METHOD:
        return TLSVersion.TLSv1_0, TLSVersion.TLSv1_0  # OpenSSL's TLSv1_method: 1.0 only
    if ctx.flags & FLAG_SSL_CTX_CREATE_OPTIONS and ctx.options:
        banned = {TLSVersion.TLSv1_0: L_SSL_OP_NO_TLSv1, TLSVersion.TLSv1_1: L_SSL_OP_NO_TLSv1_1,
                  TLSVersion.TLSv1_2: L_SSL_OP_NO_TLSv1_2}
        allowed = [v for v in TLSVersion if not ctx.options & banned.get(v, 0)]
        if len(allowed) < len(TLSVersion):
            # OpenSSL: the options leave a contiguous range from the lowest allowed version.
            low = allowed[0]
            high = low
            for v in allowed[1:]:
                if v != high + 1:
                    break
                high = v
            # Nothing below 1.2 unless asked: the range starts at our default minimum.
            low = max(low, TLSVersion.TLSv1_2) if high >= TLSVersion.TLSv1_2 else low
    return low, high


def _check_certificate_args(path, cert_type, key) -> int:
    if cert_type not in (L_TLS_FILETYPE_PEM, L_TLS_FILETYPE_ASN1):
        return DICOM_ERROR_TLS_INVALID_CTX
    if not path or not os.path.isfile(path):
        return DICOM_ERROR_CERTIFICATE_LOAD_FAILED
    if key is not None and not os.path.isfile(key):
        return DICOM_ERROR_PRIVATE_KEY_LOAD_FAILED
    return DICOM_SUCCESS


class TLSSettings:
    """One LDicomNet's TLS settings and the outcome of its last handshake.

    ``mode`` DICOM_SECURE_NONE or DICOM_SECURE_TLS (ISCL: SecureModeNotSupportedError; any
    other value becomes NONE, as in LEAD); ``ctx`` the ``SslCtxCreate`` (flags 0 when None).
    The I/O thread sets ``status``, ``session`` and ``error_secure``."""

    def __init__(self, mode: int = DICOM_SECURE_NONE, ctx: Optional[SslCtxCreate] = None):
        if mode == DICOM_SECURE_ISCL:
            raise SecureModeNotSupportedError(
                "DICOM_SECURE_ISCL (0xABCD0001) is not supported: dicomtls implements TLS "
                "(DICOM_SECURE_TLS) and plain TCP (DICOM_SECURE_NONE) only")
        self.mode = mode if mode in (DICOM_SECURE_NONE, DICOM_SECURE_TLS) else DICOM_SECURE_NONE
        self.ctx = ctx if ctx is not None else SslCtxCreate(flags=0)
        #: (certificate path, L_TLS_FILETYPE_*, key path or None) per role, as LEAD keeps them.
        self.client_certificate: Optional[tuple] = None
        self.server_certificate: Optional[tuple] = None
        self._slots: list = [None] * MAX_CIPHERSUITE_COUNT
        self.error_secure = DICOM_SUCCESS
        self.session = None
        self.status = TLS_STATUS_IDLE

    @property
    def secure(self) -> bool:
        return self.mode == DICOM_SECURE_TLS

    def set_certificate(self, role: str, path, cert_type: int, key) -> int:
        """Our certificate (and key file; None: the key is in the certificate file) for
        ``role``; 0 or the LEAD code of what is wrong with the arguments."""
        rc = _check_certificate_args(path, cert_type, key)
        if rc == DICOM_SUCCESS:
            entry = (str(path), cert_type, None if key is None else str(key))
            if role == "server":
                self.server_certificate = entry
            else:
                self.client_certificate = entry
        return rc

    # ---- cipher proposal list ----------------------------------------------------------------
    def set_cipher(self, index: int, cipher) -> int:
        """Slot ``index`` (0..15) of the proposal list; None/0 at slot 0 clears the list."""
        if not 0 <= index < MAX_CIPHERSUITE_COUNT:
            return DICOM_ERROR_TLS_INVALID_CTX
        if cipher is None or cipher == 0:
            if index == 0:
                self._slots = [None] * MAX_CIPHERSUITE_COUNT
            else:
                self._slots[index] = None
            return DICOM_SUCCESS
        try:
            self._slots[index] = to_suite(cipher)
        except DicomTLSError as exc:
            return lead_code(exc)
        return DICOM_SUCCESS

    def cipher_at(self, index: int) -> int:
        """The slot's suite as LEAD's ordinal (IANA code when LEAD has none); 0 when empty."""
        if not 0 <= index < MAX_CIPHERSUITE_COUNT or self._slots[index] is None:
            return TLS_NONE
        return suite_value(self._slots[index])

    def ciphers(self) -> list:
        """The proposal list in slot order (empty slots skipped)."""
        return [s for s in self._slots if s is not None]

    # ---- after the handshake -----------------------------------------------------------------
    def negotiated_suite(self) -> int:
        """The negotiated suite: LEAD ordinal, or the IANA code when LEAD has none; 0 before."""
        return suite_value(self.session.cipher_suite) if self.session else TLS_NONE

    def mutual_auth_key_bits(self, cipher) -> int:
        """Bits of the authenticating key when ``cipher`` is the negotiated suite: the peer
        certificate's, or our own when the peer sent none; 0 otherwise (a suite alone does not
        fix a key size)."""
        suite = to_suite(cipher)
        s = self.session
        if s is None or s.cipher_suite.code != suite.code or suite.authentication == "NULL":
            return 0
        if s.peer_certificate is not None:
            return s.peer_certificate.key_bits
        own = self.server_certificate or self.client_certificate
        if own is None:
            return 0
        try:
            return load_certificates(own[0], der=own[1] == L_TLS_FILETYPE_ASN1)[0].public_key_bits
        except DicomTLSError:
            return 0

    # ---- the configuration of one handshake ----------------------------------------------------
    def config(self, role: str, verify, password) -> TLSConfig:
        """The ``TLSConfig`` for a ``role`` handshake. ``verify(VerifyContext) -> bool`` is asked
        about each peer certificate (``on_verify``), ``password(size, flag)`` for an encrypted
        key (``on_private_key_password``)."""
        own = (self.server_certificate or self.client_certificate) if role == "server" else \
            (self.client_certificate or self.server_certificate)
        ctx = self.ctx
        kw: dict = {}
        if own is not None:
            kw.update(certificate=own[0], private_key=own[2],
                      file_format="der" if own[1] == L_TLS_FILETYPE_ASN1 else "pem",
                      key_password=password)
        ca = ctx.ca_file if ctx.flags & FLAG_SSL_CTX_CREATE_CAFILE else None
        mode = ctx.verify_mode if ctx.flags & FLAG_SSL_CTX_CREATE_VERIFY_MODE else L_SSL_VERIFY_NONE
        enforce = bool(mode & L_SSL_VERIFY_PEER)
        if role == "server":
            policy = ("require" if mode & L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT else "verify") \
                if enforce else "ignore"
        else:
            # LEAD: NONE on a client still checks the server certificate (OnVerify fires when
            # trust anchors are known) but a failure does not end the session.
            policy = "require" if enforce else ("verify" if ca else "ignore")
        if policy != "ignore":
            kw["verify_callback"] = (lambda vc: verify(vc) or not enforce)
        if ctx.flags & FLAG_SSL_CTX_CREATE_VERIFY_DEPTH and ctx.verify_depth is not None:
            kw["verify_depth"] = ctx.verify_depth
        low, high = version_range(ctx)
        return TLSConfig.from_profile(ciphers=tuple(self.ciphers()), min_version=low,
                                      max_version=high, ca_file=ca, peer_cert=policy, **kw)


def verify_args(vc: VerifyContext) -> tuple:
    """``OnVerify(ok, certificate text, X509 error, error string)`` for one certificate."""
    return (1 if vc.ok else 0, vc.certificate_text, vc.error, vc.error_string)


__all__ = [name for name in dir() if name.isupper()
           and not name.startswith(("_", "DICOM_ERROR_", "DICOM_SUCCESS", "TLS_NONE"))] + [
    "DicomOpenSslContextCreationSettings", "L_SSL_CTX_CREATE", "SslCtxCreate", "TLSSettings",
    "check_ctx", "verify_args", "version_range"]
