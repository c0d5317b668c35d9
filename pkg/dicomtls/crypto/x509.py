"""X.509 certificates: loading (PEM chains or DER) and the details dicomtls reports."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .._binding import (bio_contents, drain_errors, ffi, lib, libctx, new_mem_bio,
                        raise_crypto_error)
from ..errors import CertificateLoadError

MAX_CHAIN = 32


@dataclass(frozen=True)
class CertificateInfo:
    """What a session reports of a peer certificate (JSON-ready through ``to_dict``).

    ``not_before``/``not_after`` are None when the certificate's time field cannot be read (a
    peer may present anything): the rest still says who it was."""

    subject: str
    issuer: str
    serial: str
    not_before: Optional[_dt.datetime]
    not_after: Optional[_dt.datetime]
    sha256_fingerprint: str
    key_type: str
    key_bits: int
    signature_algorithm: str = ""
    # subjectAltName entries a client matches the host against: ("DNS", name) / ("IP", address)
    alt_names: tuple = ()
    # Extended key usage: None when the certificate has no EKU extension (any use allowed)
    server_auth: Optional[bool] = None
    client_auth: Optional[bool] = None

    def to_dict(self) -> dict:
        return {
            "subject": self.subject, "issuer": self.issuer, "serial": self.serial,
            "not_before": _iso(self.not_before), "not_after": _iso(self.not_after),
            "sha256_fingerprint": self.sha256_fingerprint,
            "key_type": self.key_type, "key_bits": self.key_bits,
            "signature_algorithm": self.signature_algorithm,
            "alt_names": [f"{kind}:{value}" for kind, value in self.alt_names],
            "server_auth": self.server_auth, "client_auth": self.client_auth,
        }

    def names_host(self, host: str) -> bool:
        """Whether a subjectAltName entry names ``host`` (an address, or a DNS name with at most
        a whole left-most ``*`` label), as RFC 6125 matches; the subject CN is not consulted."""
        import ipaddress
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        if address is not None:
            return any(kind == "IP" and ipaddress.ip_address(value) == address
                       for kind, value in self.alt_names)
        want = host.rstrip(".").lower().split(".")
        for kind, value in self.alt_names:
            have = value.rstrip(".").lower().split(".")
            if kind == "DNS" and len(have) == len(want) and len(have) >= 2 and all(
                    h == w or (i == 0 and h == "*") for i, (h, w) in enumerate(zip(have, want))):
                return True
        return False

    def describe(self) -> str:
        """LEAD's OnVerify certificate string: subject, issuer, validity, serial, on separate lines."""
        return (f"subject={self.subject}\nissuer={self.issuer}\n"
                f"notBefore={_iso(self.not_before) or 'unreadable'}\n"
                f"notAfter={_iso(self.not_after) or 'unreadable'}\n"
                f"serial={self.serial}\nsha256={self.sha256_fingerprint}")


def _iso(when: Optional[_dt.datetime]) -> Optional[str]:
    return None if when is None else when.isoformat()


class Certificate:
    """An owned reference to an OpenSSL X509."""

    __slots__ = ("_x509", "__weakref__")

    def __init__(self, x509_ptr, *, owned: bool):
        """Wrap a pointer; ``owned=False`` takes a new reference (the pointer is borrowed)."""
        if not owned:
            lib.X509_up_ref(x509_ptr)
        self._x509 = ffi.gc(x509_ptr, lib.X509_free)

    @property
    def ptr(self):
        return self._x509

    def _name(self, name_ptr) -> str:
        bio = new_mem_bio()
        lib.X509_NAME_print_ex(bio, name_ptr, 0, lib.XN_FLAG_RFC2253)
        return bio_contents(bio).decode("utf-8", "replace")

    @property
    def subject(self) -> str:
        return self._name(lib.X509_get_subject_name(self._x509))

    @property
    def issuer(self) -> str:
        return self._name(lib.X509_get_issuer_name(self._x509))

    @property
    def serial(self) -> str:
        bn = lib.ASN1_INTEGER_to_BN(lib.X509_get_serialNumber(self._x509), ffi.NULL)
        if bn == ffi.NULL:
            raise_crypto_error("reading a certificate serial number")
        bn = ffi.gc(bn, lib.BN_free)
        text = lib.BN_bn2hex(bn)
        try:
            return ffi.string(text).decode()
        finally:
            lib.OPENSSL_free(text)

    @staticmethod
    def _time(asn1_time) -> Optional[_dt.datetime]:
        """The time, or None when it is not a valid ASN.1 time ("29030822q028Z"). OpenSSL parses
        a certificate without checking its validity fields, so a peer's certificate (or a file)
        can carry one; raising here made ``info()`` raise, and the handshake error the engine
        was reporting about that very certificate was lost (fuzz_tls_own finding)."""
        tm = ffi.new("struct tm *")
        if not lib.ASN1_TIME_to_tm(asn1_time, tm):
            drain_errors()  # leave no stale entry for the next OpenSSL call's error report
            return None
        try:
            return _dt.datetime(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec, tzinfo=_dt.timezone.utc)
        except (ValueError, OverflowError):  # e.g. a leap second OpenSSL let through
            return None

    @property
    def not_before(self) -> Optional[_dt.datetime]:
        """Start of validity; None if unreadable (see ``_time``)."""
        return self._time(lib.X509_get0_notBefore(self._x509))

    @property
    def not_after(self) -> Optional[_dt.datetime]:
        """End of validity; None if unreadable (see ``_time``)."""
        return self._time(lib.X509_get0_notAfter(self._x509))

    def fingerprint(self, algorithm: str = "SHA256") -> str:
        md = lib.EVP_MD_fetch(libctx(), algorithm.encode(), ffi.NULL)
        if md == ffi.NULL:
            raise_crypto_error(f"fetching digest {algorithm}")
        md = ffi.gc(md, lib.EVP_MD_free)
        out = ffi.new("unsigned char[64]")
        n = ffi.new("unsigned int *")
        if not lib.X509_digest(self._x509, md, out, n):
            raise_crypto_error("X509_digest")
        return ":".join(f"{b:02X}" for b in ffi.buffer(out, n[0])[:])

    @property
    def public_key_type(self) -> str:
        key = lib.X509_get0_pubkey(self._x509)
        return "?" if key == ffi.NULL else ffi.string(lib.EVP_PKEY_get0_type_name(key)).decode()

    @property
    def public_key_bits(self) -> int:
        key = lib.X509_get0_pubkey(self._x509)
        return 0 if key == ffi.NULL else lib.EVP_PKEY_get_bits(key)

    def info(self) -> CertificateInfo:
        return CertificateInfo(
            subject=self.subject, issuer=self.issuer, serial=self.serial,
            not_before=self.not_before, not_after=self.not_after,
            sha256_fingerprint=self.fingerprint("SHA256"),
            key_type=self.public_key_type, key_bits=self.public_key_bits,
            signature_algorithm=self.signature_algorithm, alt_names=self.alt_names,
            server_auth=self._eku(lib.XKU_SSL_SERVER), client_auth=self._eku(lib.XKU_SSL_CLIENT))

    @property
    def signature_algorithm(self) -> str:
        name = lib.OBJ_nid2ln(lib.X509_get_signature_nid(self._x509))
        return ffi.string(name).decode() if name != ffi.NULL else "unknown"

    @property
    def alt_names(self) -> tuple:
        """subjectAltName DNS names and IP addresses, in order: (("DNS", name), ("IP", addr))."""
        cap = 1024
        while True:
            buf = ffi.new("char[]", cap)
            need = lib.dt_x509_alt_names(self._x509, buf, cap)
            if need < cap:
                text = ffi.string(buf).decode("ascii", "replace")
                return tuple(tuple(line.split(":", 1)) for line in text.splitlines())
            cap = need + 1

    def _eku(self, bit: int) -> Optional[bool]:
        """None without an extendedKeyUsage extension; else whether it allows ``bit`` (or
        anyExtendedKeyUsage)."""
        usage = lib.X509_get_extended_key_usage(self._x509)
        if usage == 0xFFFFFFFF:
            return None
        return bool(usage & (bit | lib.XKU_ANYEKU))

    def to_pem(self) -> bytes:
        bio = new_mem_bio()
        if not lib.PEM_write_bio_X509(bio, self._x509):
            raise_crypto_error("PEM_write_bio_X509")
        return bio_contents(bio)

    def to_der(self) -> bytes:
        bio = new_mem_bio()
        if not lib.i2d_X509_bio(bio, self._x509):
            raise_crypto_error("i2d_X509_bio")
        return bio_contents(bio)

    def __repr__(self) -> str:
        return f"<Certificate subject={self.subject!r}>"


def certificates_from_bytes(data: bytes, *, der: bool | None = None,
                            source: str = "<memory>") -> list[Certificate]:
    """Every certificate in a PEM buffer, or the one in a DER buffer (format guessed if None)."""
    if der is None:
        der = b"-----BEGIN" not in data
    out = ffi.new("X509 *[]", MAX_CHAIN)
    n = lib.dt_load_certificates(libctx(), data, len(data), int(der), out, MAX_CHAIN)
    errors = drain_errors()
    if n <= 0 or errors:
        for i in range(max(n, 0)):
            lib.X509_free(out[i])
        detail = "; ".join(str(e) for e in errors) or "no certificate found"
        raise CertificateLoadError(f"cannot read a certificate from {source}: {detail}",
                                   path=source)
    return [Certificate(out[i], owned=True) for i in range(n)]


def load_certificates(path: str | Path, *, der: bool | None = None) -> list[Certificate]:
    """Read a certificate chain file (leaf first for an own chain)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CertificateLoadError(f"cannot read certificate file {path}: {exc.strerror}",
                                   path=str(path)) from exc
    return certificates_from_bytes(data, der=der, source=str(path))


_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


def locate_certificate_problem(path: str | Path) -> str | None:
    """Which PEM certificate of a file OpenSSL could not read, as "certificate N (line L): why";
    None when every block parses. OpenSSL's own error names no position, and an operator with a
    bundle of 40 CA certificates needs one."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    if _PEM_BEGIN not in data:
        return ("no PEM certificate in it (a trust file is PEM: convert DER with "
                "'openssl x509 -inform der')")
    start, index = 0, 0
    while True:
        begin = data.find(_PEM_BEGIN, start)
        if begin < 0:
            return None
        index += 1
        line = data.count(b"\n", 0, begin) + 1
        end = data.find(_PEM_END, begin)
        if end < 0:
            return f"certificate {index} (line {line}): no END CERTIFICATE line"
        block = data[begin:end + len(_PEM_END)]
        try:
            certificates_from_bytes(block, der=False)
        except CertificateLoadError as exc:
            reason = str(exc).split(": ", 1)[-1]
            return f"certificate {index} (line {line}): {reason}"
        start = end + len(_PEM_END)
