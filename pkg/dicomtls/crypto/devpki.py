"""A throw-away PKI for development and tests: a CA, a server and a client certificate.

Nothing here is meant for production trust. It exists so examples, the CLI and the test suite can
run real TLS (with client authentication and encrypted keys, as DICOM deployments use them) without
shipping key material in the repository or depending on the ``openssl`` command line tool.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import secrets
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._binding import drain_errors, ffi, lib, libctx, raise_crypto_error
from ..errors import KeyMismatchError
from .keys import PrivateKey
from .x509 import Certificate, load_certificates

try:  # only to serialise concurrent ensure_dev_pki() calls; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

__all__ = ["DevPKI", "create_dev_pki", "ensure_dev_pki", "issue_certificate"]

# Back-date notBefore a little: a peer whose clock runs slightly behind ours would otherwise
# reject a certificate issued a second ago as "not yet valid".
_CLOCK_SKEW = _dt.timedelta(minutes=5)
# 825 days is the longest leaf lifetime browsers and most TLS stacks accept (CA/B Forum).
_LEAF_LIFETIME = _dt.timedelta(days=825)
_CA_LIFETIME = _dt.timedelta(days=365 * 10)
# ensure_dev_pki() replaces a set that would expire during a typical test/CI cycle.
_MIN_REMAINING = _dt.timedelta(days=7)
_MAX_SERIAL = 2**63 - 1  # the C helper takes a signed long


def _offset_seconds(when: _dt.datetime | _dt.timedelta | None, default: _dt.timedelta,
                    now: _dt.datetime) -> int:
    """The C helper wants offsets from "now"; a datetime is converted against one shared now."""
    if when is None:
        when = default
    if isinstance(when, _dt.timedelta):
        return int(when.total_seconds())
    if when.tzinfo is None:  # certificates speak UTC; a naive datetime is taken to be UTC
        when = when.replace(tzinfo=_dt.timezone.utc)
    return int((when - now).total_seconds())


def _check_config_value(kind: str, value: str) -> str:
    # Values end up inside OpenSSL v3 config strings, where ',' separates items: refuse
    # anything that could smuggle in a second name or option.
    if not value or any(c in value for c in ",\n\r\0"):
        raise ValueError(f"invalid {kind} {value!r}")
    return value


def _extensions(subject_key: PrivateKey, *, ca: bool, purposes, san_dns,
                san_ip) -> list[tuple[str, str]]:
    if ca:
        ext = [("basicConstraints", "critical,CA:TRUE"),
               ("keyUsage", "critical,keyCertSign,cRLSign")]
    else:
        # keyEncipherment only makes sense for RSA key transport; an EC key cannot do it and
        # strict verifiers reject EC certificates that claim it.
        usage = ("digitalSignature,keyEncipherment" if subject_key.key_type == "RSA"
                 else "digitalSignature")
        ext = [("basicConstraints", "critical,CA:FALSE"), ("keyUsage", f"critical,{usage}")]
        if purposes:
            ext.append(("extendedKeyUsage",
                        ",".join(_check_config_value("purpose", p) for p in purposes)))
    # Order matters: for a self-signed certificate the AKI is copied from the SKI of the
    # certificate being built, so the SKI must already be present.
    ext.append(("subjectKeyIdentifier", "hash"))
    ext.append(("authorityKeyIdentifier", "keyid:always"))
    names = [f"DNS:{_check_config_value('DNS name', d)}" for d in san_dns]
    names += [f"IP:{ipaddress.ip_address(ip)}" for ip in san_ip]  # ValueError if not an IP
    if names:
        ext.append(("subjectAltName", ",".join(names)))
    return ext


def issue_certificate(subject_key: PrivateKey, common_name: str, *,
                      issuer: tuple[Certificate, PrivateKey] | None = None,
                      organization: str = "dicomtls dev PKI", serial: int | None = None,
                      not_before: _dt.datetime | _dt.timedelta | None = None,
                      not_after: _dt.datetime | _dt.timedelta | None = None,
                      ca: bool = False, purposes: tuple[str, ...] = (),
                      san_dns: tuple[str, ...] = (), san_ip: tuple[str, ...] = ()) -> Certificate:
    """Issue an X.509 v3 certificate for ``subject_key``, self-signed when ``issuer`` is None.

    ``not_before``/``not_after`` accept datetimes or offsets from now (negative allowed, so tests
    can build expired and not-yet-valid certificates). Signed with SHA-256.
    """
    if serial is None:
        # Random serials keep re-issued dev certificates from colliding in peers' caches.
        serial = secrets.randbelow(_MAX_SERIAL) + 1
    if not 1 <= serial <= _MAX_SERIAL:
        raise ValueError(f"serial must be in 1..2**63-1, got {serial}")
    now = _dt.datetime.now(_dt.timezone.utc)
    nb = _offset_seconds(not_before, -_CLOCK_SKEW, now)
    na = _offset_seconds(not_after, _CA_LIFETIME if ca else _LEAF_LIFETIME, now)
    if na <= nb:
        raise ValueError("not_after must be later than not_before")

    issuer_cert = issuer_key = ffi.NULL
    if issuer is not None:
        issuer_cert, issuer_key = issuer[0].ptr, issuer[1].ptr
        # A mismatched pair would silently produce a certificate nothing can verify.
        if lib.X509_check_private_key(issuer_cert, issuer_key) != 1:
            drain_errors()
            raise KeyMismatchError("the issuer key does not belong to the issuer certificate")

    ext = _extensions(subject_key, ca=ca, purposes=purposes, san_dns=san_dns, san_ip=san_ip)
    # These cdata objects must stay referenced until the C call returns.
    names = [ffi.new("char[]", n.encode()) for n, _ in ext]
    values = [ffi.new("char[]", v.encode()) for _, v in ext]
    x509 = lib.dt_issue_certificate(
        libctx(), subject_key.ptr, common_name.encode("utf-8"), organization.encode("utf-8"),
        issuer_cert, issuer_key, serial, nb, na,
        ffi.new("char *[]", names), ffi.new("char *[]", values), len(ext))
    if x509 == ffi.NULL:
        raise_crypto_error(f"issuing a certificate for {common_name!r}", drain_errors())
    return Certificate(x509, owned=True)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Readers (another process, a server reloading) never see a half-written file, and a key
    never exists even briefly with permissive modes: mkstemp creates it 0600 before we write."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass(frozen=True)
class DevPKI:
    """Paths of a development PKI written by :func:`create_dev_pki`."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    server_key_encrypted: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    password: str

    @property
    def server_chain(self) -> Path:
        """Server certificate followed by the CA, for servers that send the whole chain."""
        return self.directory / "server-chain.pem"

    @classmethod
    def at(cls, directory: str | Path, password: str = "secret") -> "DevPKI":
        d = Path(directory)
        return cls(directory=d, ca_cert=d / "ca.pem", ca_key=d / "ca.key",
                   server_cert=d / "server.pem", server_key=d / "server.key",
                   server_key_encrypted=d / "server-encrypted.key",
                   client_cert=d / "client.pem", client_key=d / "client.key",
                   client_key_encrypted=d / "client-encrypted.key", password=password)

    def files(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.ca_key, self.server_cert, self.server_key,
                self.server_key_encrypted, self.client_cert, self.client_key,
                self.client_key_encrypted, self.server_chain)


@contextmanager
def _locked(directory: Path):
    # Parallel test workers may all call ensure_dev_pki(); without a lock one could read a
    # server.pem from one run next to a server.key from another.
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(directory / ".lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _create(pki: DevPKI, key_type: str, bits: int, overwrite: bool) -> DevPKI:
    if not overwrite:
        existing = [str(p) for p in pki.files() if p.exists()]
        if existing:
            raise FileExistsError(f"dev PKI files already exist: {', '.join(existing)}")

    def new_key() -> PrivateKey:
        # key_type "ec" means P-256 everywhere: the curve every TLS 1.2/1.3 stack supports.
        return PrivateKey.generate(key_type, bits=bits, curve="P-256")

    ca_key = new_key()
    ca_cert = issue_certificate(ca_key, "dicomtls dev CA", ca=True)
    server_key, client_key = new_key(), new_key()
    server_cert = issue_certificate(server_key, "localhost", issuer=(ca_cert, ca_key),
                                    purposes=("serverAuth",), san_dns=("localhost",),
                                    san_ip=("127.0.0.1",))
    client_cert = issue_certificate(client_key, "dicomtls client", issuer=(ca_cert, ca_key),
                                    purposes=("clientAuth",))

    # Keys first, certificates last: a reader checking certificates sees a complete set.
    for path, key in ((pki.ca_key, ca_key), (pki.server_key, server_key),
                      (pki.client_key, client_key)):
        _write_atomic(path, key.export(), 0o600)
    for path, key in ((pki.server_key_encrypted, server_key),
                      (pki.client_key_encrypted, client_key)):
        _write_atomic(path, key.export(password=pki.password, cipher="AES-256-CBC"), 0o600)
    _write_atomic(pki.ca_cert, ca_cert.to_pem(), 0o644)
    _write_atomic(pki.client_cert, client_cert.to_pem(), 0o644)
    _write_atomic(pki.server_chain, server_cert.to_pem() + ca_cert.to_pem(), 0o644)
    _write_atomic(pki.server_cert, server_cert.to_pem(), 0o644)
    return pki


def create_dev_pki(directory: str | Path, *, key_type: str = "rsa", bits: int = 2048,
                   password: str = "secret", overwrite: bool = True) -> DevPKI:
    """Write a fresh CA, server and client certificate with plain and encrypted keys."""
    pki = DevPKI.at(directory, password)
    pki.directory.mkdir(parents=True, exist_ok=True)
    with _locked(pki.directory):
        return _create(pki, key_type, bits, overwrite)


def _default_directory() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dicomtls" / "dev-pki"


def _reusable(pki: DevPKI, key_type: str) -> bool:
    if not all(p.is_file() for p in pki.files()):
        return False
    try:
        certs = [load_certificates(p)[0] for p in (pki.ca_cert, pki.server_cert, pki.client_cert)]
    except Exception:  # unreadable or corrupt: regenerate rather than fail
        return False
    limit = _dt.datetime.now(_dt.timezone.utc) + _MIN_REMAINING
    # A cached set of the other key type would silently test the wrong thing.
    # (an unreadable notAfter, None, means a damaged cache: made again)
    return all(c.not_after is not None and c.not_after > limit
               and c.public_key_type == key_type.upper() for c in certs)


def ensure_dev_pki(directory: str | Path | None = None, *, key_type: str = "rsa") -> DevPKI:
    """The dev PKI in ``directory`` (default ``$XDG_CACHE_HOME/dicomtls/dev-pki``), created or
    renewed only when a file is missing, a certificate has 7 days or less left, or the set is
    of another key type. Password ``secret``; RSA 2048 or EC P-256."""
    pki = DevPKI.at(directory if directory is not None else _default_directory())
    pki.directory.mkdir(parents=True, exist_ok=True)
    with _locked(pki.directory):
        if _reusable(pki, key_type):
            return pki
        return _create(pki, key_type, 2048, overwrite=True)
