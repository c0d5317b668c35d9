"""Private keys: decoding with an OpenSSL-style password callback, generation and export.

The password callback has LEADTOOLS' ``OnPrivateKeyPassword`` semantics, which are OpenSSL's
``pem_password_cb``: it receives the buffer size and the read/write flag (0 = decrypting a key,
1 = encrypting one) and returns the password (str or bytes; longer than the buffer is an error).
Library code never prompts on a terminal.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Union

from .._binding import (bio_contents, drain_errors, ffi, lib, libctx, new_mem_bio,
                        raise_crypto_error)
from ..errors import KeyLoadError, KeyPasswordError

_PEM_KEY_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?-----END \1-----", re.S)

PasswordCallback = Callable[[int, int], Union[str, bytes, None]]
Password = Union[str, bytes, PasswordCallback, None]


class _PasswordSource:
    """Feeds the password to OpenSSL and remembers what happened, for a precise error."""

    def __init__(self, password: Password):
        self.password = password
        self.asked = False
        self.given = False
        self.error: BaseException | None = None

    def __call__(self, size: int, rwflag: int) -> bytes | None:
        self.asked = True
        pw = self.password(size, rwflag) if callable(self.password) else self.password
        if pw is None:
            return None
        if isinstance(pw, str):
            pw = pw.encode("utf-8")
        if len(pw) > size:
            raise KeyPasswordError(f"password longer than the {size}-byte buffer OpenSSL offers")
        self.given = True
        return pw


@ffi.def_extern()
def dt_py_password(buf, size, rwflag, handle):
    source: _PasswordSource = ffi.from_handle(handle)
    try:
        pw = source(size, rwflag)
    except BaseException as exc:  # re-raised by the caller once OpenSSL has returned
        source.error = exc
        return -1
    if pw is None:
        return 0
    ffi.memmove(buf, pw, len(pw))
    return len(pw)


class PrivateKey:
    """An owned EVP_PKEY."""

    __slots__ = ("_pkey",)

    def __init__(self, pkey_ptr):
        self._pkey = ffi.gc(pkey_ptr, lib.EVP_PKEY_free)

    @property
    def ptr(self):
        return self._pkey

    @property
    def key_type(self) -> str:
        return ffi.string(lib.EVP_PKEY_get0_type_name(self._pkey)).decode()

    @property
    def bits(self) -> int:
        return lib.EVP_PKEY_get_bits(self._pkey)

    @classmethod
    def generate(cls, key_type: str = "rsa", bits: int = 2048, curve: str = "P-256") -> "PrivateKey":
        kind = {"rsa": b"RSA", "ec": b"EC"}.get(key_type.lower())
        if kind is None:
            raise KeyLoadError(f"unknown key type {key_type!r} (rsa or ec)")
        pkey = lib.dt_keygen(libctx(), kind, bits, curve.encode())
        if pkey == ffi.NULL:
            raise_crypto_error(f"generating a {key_type} key")
        return cls(pkey)

    def export(self, *, form: str = "pkcs8", password: str | bytes | None = None,
               cipher: str = "AES-256-CBC") -> bytes:
        """PEM/DER bytes. form: ``pkcs8`` (PEM), ``traditional`` (PEM, OpenSSL's legacy
        ``Proc-Type: 4,ENCRYPTED`` form when encrypted) or ``der`` (PKCS#8 DER)."""
        forms = {"pkcs8": 0, "traditional": 1, "der": 2}
        if form not in forms:
            raise KeyLoadError(f"unknown key form {form!r}")
        cipher_ptr = ffi.NULL
        pw = ffi.NULL
        pw_len = 0
        if password is not None:
            if isinstance(password, str):
                password = password.encode("utf-8")
            cipher_ptr = lib.EVP_CIPHER_fetch(libctx(), cipher.encode(), ffi.NULL)
            if cipher_ptr == ffi.NULL:
                raise_crypto_error(f"fetching cipher {cipher}")
            cipher_ptr = ffi.gc(cipher_ptr, lib.EVP_CIPHER_free)
            pw = ffi.new("char[]", password)
            pw_len = len(password)
        bio = new_mem_bio()
        ok = lib.dt_write_private_key(bio, self._pkey, forms[form], cipher_ptr, pw, pw_len)
        if pw != ffi.NULL:
            lib.OPENSSL_cleanse(pw, pw_len)
        if not ok:
            raise_crypto_error("writing a private key")
        return bio_contents(bio)


def private_key_from_bytes(data: bytes, *, password: Password = None, der: bool | None = None,
                           source: str = "<memory>") -> PrivateKey:
    """Decode a private key (PKCS#8, traditional or encrypted PEM, or DER)."""
    if der is None:
        fmt = ffi.NULL
    else:
        fmt = b"DER" if der else b"PEM"
    if der is not True and b"CERTIFICATE-----" in data:
        # LEAD allows the key inside the certificate file; the decoder reads only the first
        # PEM block, so hand it the key block alone.
        match = _PEM_KEY_BLOCK.search(data)
        if match:
            data = match.group(0)
    pw_source = _PasswordSource(password)
    handle = ffi.new_handle(pw_source)
    pkey = lib.dt_load_private_key(libctx(), data, len(data), fmt, handle)
    errors = drain_errors()
    if pw_source.error is not None:
        if not isinstance(pw_source.error, Exception):  # KeyboardInterrupt, SystemExit
            raise pw_source.error
        if isinstance(pw_source.error, KeyPasswordError):
            raise KeyPasswordError(f"{source}: {pw_source.error}", path=source) from pw_source.error
        raise KeyPasswordError(
            f"the password callback raised while unlocking {source}: {pw_source.error!r}",
            path=source) from pw_source.error
    if pkey == ffi.NULL:
        if pw_source.asked and not pw_source.given:
            raise KeyPasswordError(f"private key {source} is encrypted and no password was given",
                                   path=source, missing=True)
        if pw_source.given:
            raise KeyPasswordError(f"wrong password for private key {source}", path=source)
        detail = "; ".join(str(e) for e in errors) or "unsupported format"
        raise KeyLoadError(f"cannot read a private key from {source}: {detail}", path=source)
    return PrivateKey(pkey)


def load_private_key(path: str | Path, *, password: Password = None,
                     der: bool | None = None) -> PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read key file {path}: {exc.strerror}", path=str(path)) from exc
    return private_key_from_bytes(data, password=password, der=der, source=str(path))
