"""Storage SCP (plus Verification): received data sets stream to disk as Part 10 files.

Per C-STORE-RQ (``StorageHandler``, plugged into ``association_runner.serve_association``):

1. ``DatasetStarted``: open ``.<uid>.<random>.partial`` in the output directory with
   ``O_CREAT | O_EXCL`` and write the preamble and file meta (the context's transfer syntax,
   the calling AE title as Source Application Entity Title);
2. every ``DatasetFragment`` (a view of the received PDU) is written as it is, gathered into
   one ``writev`` per MiB: the data set bytes are never copied or gathered in memory;
3. ``DatasetComplete``: fsync, close, rename to ``<SOPInstanceUID>.dcm`` and answer status
   0x0000. Only then does the file exist under its name.

Durability: the file's contents are fsynced before the rename, so even after a system crash a
file is complete or absent (at worst a ``.partial`` is left). The directory is fsynced once per
association, when the peer asks to release, before our A-RELEASE-RP (and when the association
ends otherwise): an object answered with success is on disk under its name once the release
is answered. ``fsync=False`` (``dicomtls serve --no-fsync``) skips both fsyncs, which is what
DCMTK's storescp does: faster, and still complete-or-absent if only the process dies, but a
system crash or power loss can then lose or truncate files that were already answered.

If the association is aborted, the peer vanishes or the socket times out mid-object, the partial
file is deleted (``close``). If the directory is unwritable or the disk fills, the rest of that
object's fragments are dropped, the partial file is deleted and the C-STORE-RSP carries 0xA700
(Refused: Out of resources); the association and the server go on.

``StorageServer`` is the accept loop: one thread per association, many at once.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from typing import Optional, Sequence

from ..dimse.messages import C_STORE_RQ, C_STORE_RSP
from ..io.association_runner import ServedAssociation, VerificationServer, serve_association
from ..ul.association import (Aborted, DatasetComplete, DatasetFragment, DatasetStarted,
                              ReleaseRequested)
from ..ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
                              VERIFICATION_SOP_CLASS, accept_in_proposer_order)
from .part10 import file_meta_bytes

log = logging.getLogger(__name__)

# Indirections the tests replace to simulate a full disk.
_os_writev = os.writev
_os_fsync = os.fsync
_fadvise = getattr(os, "posix_fadvise", None)

WRITE_BATCH = 256 << 10     # received fragments are written in runs of at least this much
MAX_IOVECS = 512            # ... or of this many fragments (IOV_MAX is 1024 on Linux)
WRITEBACK_STEP = 16 << 20   # with fsync: start the writeback of every 16 MiB as it is written

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000


def _storage_sop_classes() -> frozenset:
    """Every storage SOP class pydicom's UID dictionary knows (generated, not hand-typed)."""
    from pydicom._uid_dict import UID_dictionary
    out = set()
    for uid, (name, kind, *_rest) in UID_dictionary.items():
        if kind != "SOP Class" or "Storage" not in name:
            continue
        if name.startswith("Storage ") or "Media Storage Directory" in name:
            continue  # Storage Commitment / Management, DICOMDIR: not C-STORE targets
        out.add(uid)
    return frozenset(out)


STORAGE_SOP_CLASSES = _storage_sop_classes()

#: The transfer syntaxes we accept, in no particular preference: the proposer's order decides.
TRANSFER_SYNTAXES = (
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    "1.2.840.10008.1.2.1.99",     # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",        # Explicit VR Big Endian (retired; accepted)
    "1.2.840.10008.1.2.4.50",     # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",     # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",     # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70",     # JPEG Lossless, First-Order Prediction (Process 14 SV1)
    "1.2.840.10008.1.2.4.80",     # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",     # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",     # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.4.91",     # JPEG 2000
    "1.2.840.10008.1.2.5",        # RLE Lossless
    "1.2.840.10008.1.2.4.201",    # HTJ2K Lossless
    "1.2.840.10008.1.2.4.203",    # HTJ2K
)

SUPPORTED = {uid: TRANSFER_SYNTAXES for uid in STORAGE_SOP_CLASSES}
SUPPORTED[VERIFICATION_SOP_CLASS] = (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)

_UNSAFE = re.compile(r"[^0-9A-Za-z.\-]")


def safe_filename(sop_instance_uid: str) -> str:
    """``<uid>.dcm`` with only [0-9A-Za-z.-] kept (anything else becomes '_'), never a path."""
    name = _UNSAFE.sub("_", (sop_instance_uid or "").strip("\0 "))[:200].lstrip(".")
    return (name or "unnamed") + ".dcm"


def accept_contexts(proposed, supported=SUPPORTED) -> tuple:
    """The storage SCP's answer: the proposer's first supported syntax, for every storage class."""
    return accept_in_proposer_order(proposed, supported)


class _Incoming:
    """One object being received into a ``.partial`` file.

    Fragments are views of the received PDUs (each PDU has a buffer of its own, never reused),
    so they are kept as they are and written with one ``writev`` per ``WRITE_BATCH`` bytes: a
    peer sending 16 KiB PDUs costs one system call per MiB, not 64, and nothing is copied.
    With ``fsync``, writeback of every ``WRITEBACK_STEP`` bytes is started as they are written,
    so the fsync at the end has little left to wait for (a large object does not leave the SCU
    waiting for a whole object's writeback before its C-STORE-RSP)."""

    def __init__(self, out_dir: str, context_id: int, message: C_STORE_RQ, transfer_syntax: str,
                 calling_ae: Optional[str], *, fsync: bool = True):
        self.context_id = context_id
        self.message = message
        self.fsync = fsync
        self.final = os.path.join(out_dir, safe_filename(message.affected_sop_instance_uid))
        self.fd: Optional[int] = None
        self.temp: Optional[str] = None
        self.error: Optional[str] = None
        self.length = 0          # data set bytes received
        self._pending: list = []
        self._pending_bytes = 0
        self._written = 0        # bytes in the file
        self._kicked = 0         # bytes whose writeback has been started
        try:
            while True:
                temp = os.path.join(out_dir, "." + os.path.basename(self.final) +
                                    f".{secrets.token_hex(6)}.partial")
                try:
                    self.fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                                      getattr(os, "O_CLOEXEC", 0), 0o644)
                except FileExistsError:
                    continue
                self.temp = temp
                break
        except OSError as exc:
            self._fail(exc)
            return
        self._queue(memoryview(file_meta_bytes(
            message.affected_sop_class_uid, message.affected_sop_instance_uid,
            transfer_syntax, source_ae=calling_ae)))

    def _queue(self, view) -> None:
        self._pending.append(view)
        self._pending_bytes += len(view)
        if self._pending_bytes >= WRITE_BATCH or len(self._pending) >= MAX_IOVECS:
            self._flush()

    def _flush(self) -> None:
        views, self._pending, self._pending_bytes = self._pending, [], 0
        try:
            while views:
                n = _os_writev(self.fd, views)
                self._written += n
                while views and n >= len(views[0]):  # drop what went out whole
                    n -= len(views[0])
                    views.pop(0)
                if n:
                    views[0] = views[0][n:]
        except OSError as exc:
            self._fail(exc)
            return
        if self.fsync and _fadvise is not None and \
                self._written - self._kicked >= WRITEBACK_STEP:
            try:  # DONTNEED starts writeback of the dirty range without waiting for it
                _fadvise(self.fd, self._kicked, self._written - self._kicked,
                         os.POSIX_FADV_DONTNEED)
            except OSError:
                pass  # advice only
            self._kicked = self._written

    def _fail(self, exc: OSError) -> None:
        self.error = f"{exc.strerror or exc} ({os.path.basename(self.final)})"
        log.warning("cannot store %s", self.error)
        self._pending, self._pending_bytes = [], 0
        self.discard()

    def write(self, data: memoryview) -> None:
        if self.error is None:
            self.length += len(data)
            self._queue(data)

    def finish(self) -> int:
        """Write what is left, fsync (unless disabled), rename; the C-STORE status."""
        if self.error is None and self._pending:
            self._flush()
        if self.error is None:
            try:
                if self.fsync:
                    _os_fsync(self.fd)
                os.close(self.fd)
                self.fd = None
                os.replace(self.temp, self.final)
                self.temp = None
                return STATUS_SUCCESS
            except OSError as exc:
                self._fail(exc)
        return STATUS_OUT_OF_RESOURCES

    def discard(self) -> None:
        self._pending, self._pending_bytes = [], 0
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
        if self.temp is not None:
            try:
                os.unlink(self.temp)
            except OSError:
                pass
            self.temp = None


def fsync_directory(path: str) -> None:
    """Make the renames done in ``path`` durable (the file contents were fsynced before)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _os_fsync(fd)
    finally:
        os.close(fd)


class StorageHandler:
    """The Storage SCP service for ``serve_association``: streams C-STORE data sets to
    ``out_dir``. ``on_stored(path, message)`` is called after each successful rename.
    ``fsync`` False skips every fsync (see the module docstring: faster, not crash-safe)."""

    stream_datasets = True

    def __init__(self, out_dir: str, *, on_stored=None, fsync: bool = True):
        self.out_dir = os.fspath(out_dir)
        self.on_stored = on_stored
        self.fsync = fsync
        self.current: Optional[_Incoming] = None
        self.calling_ae: Optional[str] = None
        self._unsynced_renames = 0

    def accept_contexts(self, rq):
        self.calling_ae = rq.calling_ae_title.strip()
        return accept_contexts(rq.presentation_contexts)

    def handle(self, assoc, event, result: ServedAssociation) -> bool:
        if isinstance(event, DatasetFragment):
            if self.current is not None:
                self.current.write(event.data)
                result.bytes_received += len(event.data)
            return True
        if isinstance(event, DatasetStarted):
            ts = assoc.contexts[event.context_id].transfer_syntax
            self.current = _Incoming(self.out_dir, event.context_id, event.message, ts,
                                     self.calling_ae, fsync=self.fsync)
            return True
        if isinstance(event, DatasetComplete):
            incoming, self.current = self.current, None
            msg = incoming.message
            status = incoming.finish()
            if status == STATUS_SUCCESS:
                result.stored += 1
                self._unsynced_renames += 1
                if self.on_stored is not None:
                    self.on_stored(incoming.final, msg)
            else:
                result.failed += 1
            assoc.send_message(event.context_id, C_STORE_RSP(
                message_id_being_responded_to=msg.message_id, status=status,
                affected_sop_class_uid=msg.affected_sop_class_uid,
                affected_sop_instance_uid=msg.affected_sop_instance_uid,
                error_comment=(incoming.error or "")[:64] or None))
            return True
        if isinstance(event, ReleaseRequested):
            self._sync_directory()  # before our A-RELEASE-RP: then every rename is durable
        elif isinstance(event, Aborted):
            self.close(result)
        return False

    def _sync_directory(self) -> None:
        if self.fsync and self._unsynced_renames:
            self._unsynced_renames = 0
            try:
                fsync_directory(self.out_dir)
            except OSError as exc:
                log.warning("fsync of %s failed: %s", self.out_dir, exc)

    def close(self, result: ServedAssociation) -> None:
        if self.current is not None:
            log.info("discarding the partial object %s", self.current.final)
            self.current.discard()
            self.current = None
        self._sync_directory()


def serve_storage_association(transport, out_dir, *, ae_title: Optional[str] = None,
                              calling_aes: Optional[Sequence[str]] = None,
                              timeout: Optional[float] = 30.0, on_stored=None,
                              fsync: bool = True) -> ServedAssociation:
    """Run one association as a Storage + Verification SCP writing into ``out_dir``."""
    return serve_association(transport, ae_title=ae_title, calling_aes=calling_aes,
                             supported=SUPPORTED, timeout=timeout,
                             handler=StorageHandler(out_dir, on_stored=on_stored, fsync=fsync))


class StorageServer(VerificationServer):
    """Storage + Verification SCP: one thread per association, files into ``out_dir``.

    ``StorageServer(out_dir, host, port, tls_config=..., ae_title=...)``; ``start()`` /
    ``close()`` or a ``with`` block; ``serve_one()`` serves one connection in this thread.
    """

    def __init__(self, out_dir, host: str = "127.0.0.1", port: int = 0, **kwargs):
        self.on_stored = kwargs.pop("on_stored", None)
        self.fsync = kwargs.pop("fsync", True)
        super().__init__(host, port, **kwargs)
        self.out_dir = os.fspath(out_dir)

    def serve_transport(self, transport) -> ServedAssociation:
        result = serve_storage_association(transport, self.out_dir, ae_title=self.ae_title,
                                           timeout=self.timeout, on_stored=self.on_stored,
                                           fsync=self.fsync)
        log.info("%s", result.summary())
        return result


__all__ = ["STORAGE_SOP_CLASSES", "STATUS_OUT_OF_RESOURCES", "SUPPORTED", "StorageHandler",
           "StorageServer", "TRANSFER_SYNTAXES", "accept_contexts", "safe_filename",
           "serve_storage_association"]
