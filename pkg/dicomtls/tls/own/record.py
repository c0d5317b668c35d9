"""Record protection of dicomtls' own TLS 1.0-1.2 engine: a thin wrapper of ``csrc/dt_record.c``.

A :class:`RecordState` is one direction's protection state (the C ``dt_rec``): sealing turns a run
of plaintext into records with one C call, opening turns a buffer of records of one content type
into plaintext with one C call.  No protocol logic lives here; the caller decides when states
change and what a content type means.
"""

from __future__ import annotations

from ..._binding import drain_errors, ffi, lib, libctx, raise_crypto_error
from ...errors import TLSProtocolViolation, alert_name
from ..protocol import MAX_PLAINTEXT_LENGTH

__all__ = ["RecordState"]


def _bytes_arg(data) -> bytes:
    """Secrets and small parameters go to C as bytes (a copy Python owns, cleared by GC)."""
    return bytes(data) if data is not None else b""


class RecordState:
    """One direction's record protection (seal when ``encrypt``, open otherwise).

    ``cipher``: ``NULL``, ``DES-CBC``, ``DES-EDE3-CBC``, ``AES-128-CBC``, ``AES-256-CBC``,
    ``AES-128-GCM``, ``AES-256-GCM``; ``mac``: ``SHA1``, ``SHA256``, ``SHA384`` or ``NULL``
    (GCM, and the plaintext state); ``iv``: TLS 1.0 CBC the key-block IV, GCM the 4-byte salt,
    TLS 1.1+ CBC empty.  Version 0 is accepted for an opening plaintext state only and then takes
    any 3.x record version (before the version is negotiated).
    """

    __slots__ = ("_rec", "encrypt", "version", "cipher", "mac", "etm")

    def __init__(self, encrypt: bool, version: int, cipher: str = "NULL", mac: str = "NULL",
                 etm: bool = False, key: bytes = b"", mac_key: bytes = b"", iv: bytes = b""):
        key, mac_key, iv = _bytes_arg(key), _bytes_arg(mac_key), _bytes_arg(iv)
        ptr = lib.dt_rec_new(libctx(), int(bool(encrypt)), version, cipher.encode(),
                             mac.encode(), int(bool(etm)), key, len(key), mac_key, len(mac_key),
                             iv, len(iv))
        if ptr == ffi.NULL:
            raise_crypto_error(f"creating a {cipher}/{mac} record state")
        self._adopt(ptr, encrypt, version, cipher, mac, etm)

    def _adopt(self, ptr, encrypt, version, cipher, mac, etm):
        self._rec = ffi.gc(ptr, lib.dt_rec_free)
        self.encrypt = bool(encrypt)
        self.version = version
        self.cipher = cipher
        self.mac = mac
        self.etm = bool(etm)

    @classmethod
    def from_ptr(cls, ptr, encrypt: bool, version: int, cipher: str, mac: str,
                 etm: bool) -> "RecordState":
        """Take ownership of a ``dt_rec *`` built in C (``dt_hs_record_state``)."""
        self = cls.__new__(cls)
        self._adopt(ptr, encrypt, version, cipher, mac, etm)
        return self

    @classmethod
    def plaintext(cls, encrypt: bool, version: int) -> "RecordState":
        """The NULL/NULL state every connection starts in (and keeps until ChangeCipherSpec)."""
        return cls(encrypt, version)

    def __repr__(self) -> str:
        return (f"<RecordState {'seal' if self.encrypt else 'open'} 0x{self.version:04x} "
                f"{self.cipher}/{self.mac}{' EtM' if self.etm else ''}>")

    # -- sealing --

    def seal_bound(self, length: int, max_fragment: int = MAX_PLAINTEXT_LENGTH) -> int:
        """Most bytes :meth:`seal` can produce for ``length`` bytes of plaintext."""
        return lib.dt_rec_seal_bound(self._rec, length, max_fragment)

    def seal_into(self, content_type: int, data, out, offset: int = 0,
                  max_fragment: int = MAX_PLAINTEXT_LENGTH, split_first: bool = False) -> int:
        """Seal ``data`` into ``out[offset:]`` (a writable buffer with :meth:`seal_bound` room);
        returns the number of bytes written.  For callers that reuse one send buffer."""
        src = ffi.from_buffer(data)
        dst = ffi.from_buffer(out, require_writable=True)
        if offset < 0 or offset > len(dst):
            raise ValueError("offset outside the output buffer")
        written = ffi.new("size_t *")
        if not lib.dt_rec_seal(self._rec, content_type, src, len(src), max_fragment,
                               int(bool(split_first)), dst + offset, len(dst) - offset,
                               written):
            raise_crypto_error("sealing records")
        return written[0]

    def seal(self, content_type: int, data, max_fragment: int = MAX_PLAINTEXT_LENGTH,
             split_first: bool = False) -> bytearray:
        """Records carrying ``data`` (may be empty: one empty record) as ``content_type``, in
        fragments of at most ``max_fragment`` bytes; ``split_first``: TLS 1.0 CBC 1/n-1 split."""
        src = ffi.from_buffer(data)
        out = bytearray(lib.dt_rec_seal_bound(self._rec, len(src), max_fragment))
        written = ffi.new("size_t *")
        if not lib.dt_rec_seal(self._rec, content_type, src, len(src), max_fragment,
                               int(bool(split_first)), ffi.from_buffer(out), len(out), written):
            raise_crypto_error("sealing records")
        del out[written[0]:]
        return out

    # -- opening --

    def open(self, buf, offset: int = 0) -> tuple[int, int, bytearray, int]:
        """Open the complete records at ``buf[offset:]`` that share the first one's content type.

        Returns ``(records, consumed, plaintext, content_type)``: ``consumed`` counts bytes from
        ``offset``; ``records == 0`` means more input is needed (``content_type`` is then 0).
        Raises :class:`TLSProtocolViolation` with the alert to send (20 bad_record_mac, 22
        record_overflow, 50 decode_error, 70 protocol_version, 80 internal_error); the state is
        unusable afterwards.  Records opened before a bad one in the same buffer are returned
        first and the error is raised by the next call.
        """
        src = ffi.from_buffer(buf)
        if offset < 0 or offset > len(src):
            raise ValueError("offset outside the input buffer")
        avail = len(src) - offset
        # Opening never produces more bytes than it consumes, so the input size is enough room.
        out = bytearray(avail)
        consumed = ffi.new("size_t *")
        produced = ffi.new("size_t *")
        ctype = ffi.new("int *")
        rc = lib.dt_rec_open(self._rec, src + offset, avail, ffi.from_buffer(out), avail,
                             consumed, produced, ctype)
        if rc < 0:
            errors = drain_errors()
            detail = "; ".join(str(e) for e in errors)
            raise TLSProtocolViolation(
                f"record layer: {alert_name(-rc)}" + (f" ({detail})" if detail else ""),
                alert=-rc, openssl_errors=errors)
        del out[produced[0]:]
        return rc, consumed[0], out, ctype[0]
