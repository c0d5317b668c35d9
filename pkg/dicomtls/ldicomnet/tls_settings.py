"""LDicomNet facade, TLS part: LEAD's constants, ``L_SSL_CTX_CREATE`` and the ``*TLS`` members.

``TLSSettings`` is a mixin of ``dicomtls.net.LDicomNet``: it keeps what LEAD keeps per network
object (own certificate, the 16-slot cipher proposal list, the context settings) and turns it into
one ``TLSConfig`` when the I/O thread starts the handshake. Nothing here touches a socket.

Values are LEAD's (``ltdic.h``, reference ``ldicomnet-api.md`` sections 3, 4 and 8); getters return
LEAD enum ints (``CipherSuite.lead_*``). Where LEAD has no value (TLS 1.3, ECDHE, GCM ...) the
dicomtls extension values of ``tls.suites`` are returned; ``get_ciphersuite_tls`` returns LEAD's
ordinal when the negotiated suite has one and the IANA code otherwise (LEAD ordinals are
0x12..0x1A, which no suite we can negotiate uses as an IANA code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ..errors import (LEAD_INVALID_CTX, LEAD_INVALID_CTX_CAFILE, LEAD_INVALID_CTX_OPTIONS,
                     LEAD_INVALID_CTX_VERIFY_DEPTH, DicomTLSError, LocalProtocolError)
from ..tls.config import TLSConfig, VerifyContext
from ..tls.suites import LEAD_SUITES, CipherSuite, lookup
from ..tls.versions import TLSVersion

# ---- security modes (section 3.1) ----------------------------------------------------------
DICOM_SECURE_NONE = 0xABCD0000
DICOM_SECURE_ISCL = 0xABCD0001
DICOM_SECURE_TLS = 0xABCD0002

# ---- return codes (section 8) --------------------------------------------------------------
DICOM_SUCCESS = 0
DICOM_ERROR_NET_FAILURE = 29
DICOM_ERROR_NET_CONNECTION_REFUSED = 35
DICOM_ERROR_NET_CONNECTION_RESET = 36
DICOM_ERROR_NET_NOT_CONNECTED = 49
DICOM_ERROR_NET_TIME_OUT = 56
DICOM_ERROR_NET_HOST_NOT_FOUND = 58
DICOM_ERROR_NET_SECURITY_BREACH = 65
DICOM_ERROR_TLS = 66
DICOM_ERROR_BAD_SECURE_MODE = 69
DICOM_ERROR_TLS_APPLICATION_VERIFICATION = 191
DICOM_ERROR_TLS_INVALID_CTX = LEAD_INVALID_CTX
DICOM_ERROR_TLS_INVALID_CTX_VERIFY_DEPTH = LEAD_INVALID_CTX_VERIFY_DEPTH
DICOM_ERROR_TLS_INVALID_CTX_VERIFY_MODE = 194
DICOM_ERROR_TLS_INVALID_CTX_CAFILE = LEAD_INVALID_CTX_CAFILE
DICOM_ERROR_TLS_INVALID_CTX_OPTIONS = LEAD_INVALID_CTX_OPTIONS
DICOM_ERROR_NET_HOST_UN_REACH = 423

# ---- certificate file types, cipher list ---------------------------------------------------
L_TLS_FILETYPE_PEM = 1
L_TLS_FILETYPE_ASN1 = 2
MAX_CIPHERSUITE_COUNT = 16

# L_CIPHERSUITE: LEAD's private ordinals (not IANA code points).
TLS_NONE = 0
TLS_DHE_RSA_WITH_DES_CBC_SHA = 0x12
TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA = 0x13
TLS_DHE_RSA_AES256_SHA = 0x14
TLS_RSA_WITH_AES_128_CBC_SHA = 0x15
TLS_RSA_WITH_3DES_EDE_CBC_SHA = 0x16
TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 = 0x17
TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0x18
TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 = 0x19
TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0x1A

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


class SecureModeNotSupportedError(LocalProtocolError):
    """DICOM_SECURE_ISCL (or an unknown mode) was asked for: dicomtls speaks TLS or plain TCP."""

    lead_code = DICOM_ERROR_BAD_SECURE_MODE


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
    if f & FLAG_SSL_CTX_CREATE_CAFILE and ctx.ca_file is not None:
        import os
        if not os.path.isfile(ctx.ca_file):
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


def to_suite(value: Union[int, str, CipherSuite]) -> CipherSuite:
    """A LEAD ordinal (0x12..0x1A), an IANA/OpenSSL/.NET name, or a CipherSuite. An int outside
    LEAD's ordinals is taken as an IANA code point."""
    if isinstance(value, int) and not isinstance(value, bool) and value in LEAD_SUITES:
        return LEAD_SUITES[value]
    return lookup(value)


def lead_suite_value(suite: CipherSuite) -> int:
    """LEAD's ordinal when LEAD has one, else the IANA code point."""
    return suite.lead_value if suite.lead_value is not None else suite.code


class TLSSettings:
    """The ``*TLS`` members of LDicomNet (mixin; state initialised by ``_init_tls``)."""

    def _init_tls(self, mode: int, ctx: Optional[SslCtxCreate]) -> None:
        if mode == DICOM_SECURE_ISCL:
            raise SecureModeNotSupportedError(
                "DICOM_SECURE_ISCL (0xABCD0001) is not supported: dicomtls implements TLS "
                "(DICOM_SECURE_TLS) and plain TCP (DICOM_SECURE_NONE) only")
        if mode not in (DICOM_SECURE_NONE, DICOM_SECURE_TLS):
            mode = DICOM_SECURE_NONE  # LEAD: an invalid mode silently becomes NONE
        self._secure_mode = mode
        self._ctx = ctx if ctx is not None else SslCtxCreate(flags=0)
        self._client_cert: Optional[tuple] = None
        self._server_cert: Optional[tuple] = None
        self._ciphers: list = [None] * MAX_CIPHERSUITE_COUNT
        self._error_secure = DICOM_SUCCESS
        self._session = None
        self._tls_status = TLS_STATUS_IDLE

    # ---- construction-time settings ----------------------------------------------------------
    def initialize(self, path: Optional[str] = None, mode: int = DICOM_SECURE_NONE,
                   ctx_create: Optional[SslCtxCreate] = None) -> int:
        """``Initialize(pszPath, nMode, pCtxCreate)``: set the mode and the context settings."""
        try:
            self._init_tls(mode, ctx_create)
        except SecureModeNotSupportedError as exc:
            return exc.lead_code
        if ctx_create is not None:
            ctx_create.success = check_ctx(ctx_create)
            return ctx_create.success
        return DICOM_SUCCESS

    def ctx_set_options(self, options: int) -> int:
        """``CTXSetOptions``: the ``L_SSL_OP_*`` options of the context settings."""
        self._ctx.options = options
        self._ctx.flags |= FLAG_SSL_CTX_CREATE_OPTIONS
        return check_ctx(self._ctx)

    def set_sll_method_type(self, method_type: int) -> int:
        """``SetSLLMethodType`` (sic): the ``TYPE_*_METHOD`` of the context settings."""
        self._ctx.method_type = method_type
        self._ctx.flags |= FLAG_SSL_CTX_CREATE_METHOD_TYPE
        return check_ctx(self._ctx)

    def get_ctx(self) -> SslCtxCreate:
        """``GetCTX``: LEAD hands out the raw ``SSL_CTX*``; we give the settings it is built from
        (the SSL_CTX is built per connection on the I/O thread and owned by the TLS engine)."""
        return self._ctx

    @staticmethod
    def get_open_ssl_version() -> dict:
        """``GetOpenSslVersion``: ``DICOMOPENSSLVERSION`` as a dict."""
        try:
            from ..tls.engines import features
            installed = features().openssl_version
        except Exception:  # noqa: BLE001 - informational only
            installed = ""
        return {"required_version": "3.0", "installed_version": installed,
                "is_available": bool(installed), "download_message": ""}

    # ---- certificates ------------------------------------------------------------------------
    @staticmethod
    def _check_cert_args(path, cert_type, key) -> int:
        import os
        if cert_type not in (L_TLS_FILETYPE_PEM, L_TLS_FILETYPE_ASN1):
            return DICOM_ERROR_TLS_INVALID_CTX
        if not path or not os.path.isfile(path):
            return 219  # CERTIFICATE_LOAD_FAILED
        if key is not None and not os.path.isfile(key):
            return 218  # PRIVATE_KEY_LOAD_FAILED
        return DICOM_SUCCESS

    def set_client_certificate_tls(self, path_to_certificate: str, cert_type: int = 1,
                                   path_to_key_file: Optional[str] = None) -> int:
        """``SetClientCertificateTLS``; the key may be in the certificate file (key None)."""
        rc = self._check_cert_args(path_to_certificate, cert_type, path_to_key_file)
        if rc == 0:
            self._client_cert = (str(path_to_certificate), cert_type,
                                 None if path_to_key_file is None else str(path_to_key_file))
        return rc

    def set_server_certificate_tls(self, path_to_certificate: str, cert_type: int = 1,
                                   path_to_key_file: Optional[str] = None) -> int:
        """``SetServerCertificateTLS`` (the file may hold a chain, leaf first)."""
        rc = self._check_cert_args(path_to_certificate, cert_type, path_to_key_file)
        if rc == 0:
            self._server_cert = (str(path_to_certificate), cert_type,
                                 None if path_to_key_file is None else str(path_to_key_file))
        return rc

    # ---- cipher proposal list ----------------------------------------------------------------
    def set_cipher_to_index_tls(self, index: int, cipher) -> int:
        """Slot ``index`` (0..15) of the proposal list; None/0 at slot 0 clears the list."""
        if not 0 <= index < MAX_CIPHERSUITE_COUNT:
            return DICOM_ERROR_TLS_INVALID_CTX
        if cipher is None or cipher == 0:
            if index == 0:
                self._ciphers = [None] * MAX_CIPHERSUITE_COUNT
            else:
                self._ciphers[index] = None
            return DICOM_SUCCESS
        try:
            self._ciphers[index] = to_suite(cipher)
        except DicomTLSError as exc:
            return exc.lead_code
        return DICOM_SUCCESS

    def get_cipher_from_index_tls(self, index: int) -> int:
        """The slot's suite as LEAD's ordinal (IANA code when LEAD has none); 0 when empty."""
        if not 0 <= index < MAX_CIPHERSUITE_COUNT or self._ciphers[index] is None:
            return TLS_NONE
        return lead_suite_value(self._ciphers[index])

    def cipher_list(self) -> list[CipherSuite]:
        """The proposal list in slot order (empty slots skipped)."""
        return [s for s in self._ciphers if s is not None]

    # ---- after the handshake -----------------------------------------------------------------
    def get_ciphersuite_tls(self) -> int:
        """The negotiated suite: LEAD ordinal, or the IANA code when LEAD has none; 0 before."""
        return lead_suite_value(self._session.cipher_suite) if self._session else TLS_NONE

    def get_tls_session(self):
        """dicomtls extension: the negotiated ``SessionInfo`` (None before/without TLS)."""
        return self._session

    def get_error_secure(self) -> int:
        return self._error_secure

    def get_secure_mode(self) -> int:
        return self._secure_mode

    def get_is_secure_connected(self) -> bool:
        return self._tls_status == TLS_STATUS_CONNECTED

    def set_is_secure_connected(self, value: bool) -> int:
        """Internal in LEAD ("not to be documented"); the I/O thread owns this state here."""
        return DICOM_ERROR_BAD_SECURE_MODE

    def get_tls_status(self) -> int:
        return self._tls_status

    def set_handshake_debug(self, *args) -> int:
        """Internal in LEAD; use ``TLSConfig.keylog_file`` / logging ``dicomtls.tls`` instead."""
        return DICOM_SUCCESS

    # ---- per-suite lookups (pure) ------------------------------------------------------------
    def get_encryption_algorithm_tls(self, cipher) -> int:
        return int(to_suite(cipher).lead_encryption_method())

    def get_authentication_algorithm_tls(self, cipher) -> int:
        return int(to_suite(cipher).lead_auth_method())

    def get_integrity_algorithm_tls(self, cipher) -> int:
        return int(to_suite(cipher).lead_mac_method())

    def get_key_exchange_algorithm_tls(self, cipher) -> int:
        return int(to_suite(cipher).lead_key_exchange_method())

    def get_encrypt_key_length_tls(self, cipher) -> int:
        """Bulk cipher key length in bits (3DES: 168)."""
        return to_suite(cipher).encryption_bits

    def get_mutual_auth_key_length_tls(self, cipher) -> int:
        """Bits of the authenticating key: the peer certificate's key (our own when the peer
        sent none) when ``cipher`` is the negotiated suite; 0 otherwise (a suite alone does not
        fix a key size)."""
        suite = to_suite(cipher)
        s = self._session
        if s is None or s.cipher_suite.code != suite.code or suite.authentication == "NULL":
            return 0
        if s.peer_certificate is not None:
            return s.peer_certificate.key_bits
        chain = getattr(self, "_own_chain", None)
        return chain[0].public_key_bits if chain else 0

    # ---- building the configuration (I/O thread) ---------------------------------------------
    def _build_tls_config(self, role: str, verify, password) -> TLSConfig:
        own = (self._server_cert or self._client_cert) if role == "server" else \
            (self._client_cert or self._server_cert)
        ctx = self._ctx
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
        return TLSConfig.from_profile(ciphers=tuple(self.cipher_list()), min_version=low,
                                      max_version=high, ca_file=ca, peer_cert=policy, **kw)

    def _verify_args(self, vc: VerifyContext) -> tuple:
        """``OnVerify(ok, certificate text, X509 error, error string)``."""
        return (1 if vc.ok else 0, vc.certificate_text, vc.error, vc.error_string)


__all__ = [name for name in dir() if name.isupper() and not name.startswith(("_", "LEAD_"))] + [
    "L_SSL_CTX_CREATE", "DicomOpenSslContextCreationSettings", "SecureModeNotSupportedError",
    "SslCtxCreate", "TLSSettings", "check_ctx", "lead_suite_value", "to_suite", "version_range"]
