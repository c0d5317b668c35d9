"""Loads the compiled module once and owns dicomtls' own OpenSSL library context.

dicomtls' keys, certificates and SSL_CTXs live in a private ``OSSL_LIB_CTX`` with the ``default`` and
``legacy`` providers (single DES exists only in ``legacy``), so nothing here changes the process-wide
OpenSSL state that Python's ``ssl`` or other libraries in the same process rely on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .errors import CryptoLibraryError, EngineUnavailableError

try:
    from ._dicomtls_c import ffi, lib
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise EngineUnavailableError(
        "the dicomtls C extension is not built; install with `pip install .` "
        f"(needs libssl-dev): {exc}") from exc


@dataclass(frozen=True)
class OpenSSLError:
    """One entry of OpenSSL's error queue."""

    code: int
    library: int
    reason: int
    library_name: str
    reason_text: str
    data: str

    def __str__(self) -> str:
        text = f"{self.library_name}: {self.reason_text}"
        return f"{text} ({self.data})" if self.data else text


def drain_errors() -> tuple[OpenSSLError, ...]:
    """Empty this thread's OpenSSL error queue and return what was in it, oldest first."""
    errors = []
    data_p = ffi.new("const char **")
    flags_p = ffi.new("int *")
    while True:
        code = lib.ERR_get_error_all(ffi.NULL, ffi.NULL, ffi.NULL, data_p, flags_p)
        if code == 0:
            return tuple(errors)
        data = ""
        if flags_p[0] & lib.ERR_TXT_STRING and data_p[0] != ffi.NULL:
            data = ffi.string(data_p[0]).decode("utf-8", "replace")
        lib_name = lib.ERR_lib_error_string(code)
        reason = lib.ERR_reason_error_string(code)
        errors.append(OpenSSLError(
            code=code,
            library=lib.ERR_GET_LIB(code),
            reason=lib.ERR_GET_REASON(code),
            library_name=ffi.string(lib_name).decode() if lib_name != ffi.NULL else "?",
            reason_text=(ffi.string(reason).decode() if reason != ffi.NULL
                         else f"reason {lib.ERR_GET_REASON(code)}"),
            data=data,
        ))


def raise_crypto_error(what: str, errors: tuple[OpenSSLError, ...] | None = None):
    """Raise CryptoLibraryError for an unexpected OpenSSL failure, with the drained queue."""
    if errors is None:
        errors = drain_errors()
    detail = "; ".join(str(e) for e in errors) or "no error detail from OpenSSL"
    raise CryptoLibraryError(f"{what}: {detail}", openssl_errors=errors)


def cstr(text: str | bytes | None):
    """A char* argument: ffi.NULL for None, else a NUL-terminated copy owned by the caller's frame."""
    if text is None:
        return ffi.NULL
    if isinstance(text, str):
        text = text.encode("utf-8")
    return ffi.new("char[]", text)


def to_str(ptr) -> str | None:
    return None if ptr == ffi.NULL else ffi.string(ptr).decode("utf-8", "replace")


def bio_contents(bio) -> bytes:
    buf = ffi.new("char **")
    n = lib.BIO_get_mem_data(bio, buf)
    return ffi.buffer(buf[0], n)[:] if n > 0 else b""


def new_mem_bio():
    bio = lib.BIO_new(lib.BIO_s_mem())
    if bio == ffi.NULL:
        raise_crypto_error("BIO_new")
    return ffi.gc(bio, lib.BIO_free)


class _LibraryContext:
    """The private OSSL_LIB_CTX, created on first use and kept for the life of the process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ctx = None
        self.legacy_available = False

    def get(self):
        if self._ctx is not None:
            return self._ctx
        with self._lock:
            if self._ctx is None:
                ctx = lib.OSSL_LIB_CTX_new()
                if ctx == ffi.NULL:
                    raise_crypto_error("OSSL_LIB_CTX_new")
                # Providers are loaded for the life of the process: never unloaded, never freed.
                if lib.OSSL_PROVIDER_load(ctx, b"default") == ffi.NULL:
                    raise_crypto_error("loading the OpenSSL default provider")
                self.legacy_available = lib.OSSL_PROVIDER_load(ctx, b"legacy") != ffi.NULL
                drain_errors()  # a missing legacy provider is a feature flag, not an error
                if not lib.dt_init():
                    raise_crypto_error("SSL_get_ex_new_index")
                self._ctx = ctx
        return self._ctx


_LIBCTX = _LibraryContext()


def libctx():
    """dicomtls' OSSL_LIB_CTX (default + legacy providers)."""
    return _LIBCTX.get()


@dataclass(frozen=True)
class Features:
    """What this OpenSSL build can do, decided at run time."""

    openssl_version: str
    openssl_version_number: int
    legacy_provider: bool      # single DES (DES-CBC) is usable by our own code
    libssl_suite_codes: frozenset  # IANA codes of every suite libssl can negotiate
    libssl_has_3des_suites: bool   # DES-CBC3-SHA compiled in (enable-weak-ssl-ciphers)
    libssl_has_des_suites: bool    # never true since OpenSSL 1.1.0


_FEATURES: Features | None = None


def features() -> Features:
    """What this build and the system OpenSSL can do (libssl suites, legacy provider, version),
    probed once per process."""
    global _FEATURES
    if _FEATURES is None:
        ctx = libctx()
        codes = ffi.new("int[]", 512)
        n = lib.dt_libssl_suite_codes(ctx, codes, 512)
        if n < 0:
            raise_crypto_error("listing libssl ciphersuites")
        drain_errors()
        suite_codes = frozenset(codes[i] for i in range(n))
        _FEATURES = Features(
            openssl_version=ffi.string(lib.OpenSSL_version(lib.OPENSSL_VERSION)).decode(),
            openssl_version_number=lib.OpenSSL_version_num(),
            legacy_provider=_LIBCTX.legacy_available,
            libssl_suite_codes=suite_codes,
            libssl_has_3des_suites=0x000A in suite_codes,
            libssl_has_des_suites=0x0009 in suite_codes,
        )
    return _FEATURES
