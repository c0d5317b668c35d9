"""Storage SCP (plus Verification): received data sets stream to disk as Part 10 files.

Per C-STORE-RQ (``StorageHandler``, plugged into ``association_runner.serve_association``):

1. ``DatasetStarted``: open ``.<uid>.<random>.partial`` in the output directory with
   ``O_CREAT | O_EXCL`` and write the preamble and file meta (the context's transfer syntax,
   the calling AE title as Source Application Entity Title);
2. every ``DatasetFragment`` (a view of the received PDU) is written as it is, gathered into
   one ``writev`` per 256 KiB: the data set bytes are never copied or gathered in memory;
3. ``DatasetComplete``: fsync, close, rename to ``<SOPInstanceUID>.dcm`` and answer status
   0x0000. Only then does the file exist under its name.

Pipelining: when the requestor negotiated an Asynchronous Operations Window (ours proposes 8),
step 3 runs on the association's background worker (``io.worker``, a few threads: fsyncs in
flight together share a journal commit) while the next object is received, and the worker
also creates the next ``.partial`` files; responses still go out in order, each once its file
is complete under its name, all of them before our A-RELEASE-RP. Without a window (DCMTK,
pynetdicom) each object is finished before the next is read, as above.

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
from typing import Optional, Sequence

from ..dimse.messages import C_STORE_RSP
from ..io.association_runner import ServedAssociation, VerificationServer, serve_association
from ..io.worker import JobDone, OrderedWorker
from ..ul.association import (Aborted, DatasetComplete, DatasetFragment, DatasetStarted,
                              ReleaseRequested)
from ..ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
                              VERIFICATION_SOP_CLASS, accept_in_proposer_order,
                              answer_async_window)
from .incoming import (STATUS_OUT_OF_RESOURCES, STATUS_SUCCESS, IncomingObject, create_partial,
                       discard_partial, fsync_directory, safe_filename)

log = logging.getLogger(__name__)

ASYNC_WINDOW = 8            # outstanding C-STOREs we accept from a requestor that proposes more
FINISH_THREADS = 4          # fsyncs in flight at once: the file system commits them together

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

def accept_contexts(proposed, supported=SUPPORTED) -> tuple:
    """The storage SCP's answer: the proposer's first supported syntax, for every storage class."""
    return accept_in_proposer_order(proposed, supported)


_SPARE = "spare .partial file"   # the job tag of ``StorageHandler._order_spare``


class StorageHandler:
    """The Storage SCP service for ``serve_association``: streams C-STORE data sets to
    ``out_dir``. ``on_stored(path, message)`` is called after each successful rename.
    ``fsync`` False skips every fsync (see the module docstring: faster, not crash-safe).

    ``async_window``: how many C-STOREs a requestor may have outstanding when it proposes an
    Asynchronous Operations Window (we answer with at most this; without a proposal, one).
    Then the fsync and rename of object n run on the association's background worker while
    object n+1 is received; the responses still go out in order, each only once its file is
    complete under its name."""

    stream_datasets = True

    def __init__(self, out_dir: str, *, on_stored=None, fsync: bool = True,
                 async_window: int = ASYNC_WINDOW):
        self.out_dir = os.fspath(out_dir)
        self.on_stored = on_stored
        self.fsync = fsync
        self.async_window = async_window
        self.current: Optional[IncomingObject] = None
        self.calling_ae: Optional[str] = None
        self.driver = None
        self._worker: Optional[OrderedWorker] = None
        self._spares: list = []        # (fd, path) of .partial files the worker created
        self._unsynced_renames = 0

    # -- serve_association hooks --
    def attach(self, driver) -> None:
        self.driver = driver

    def accept_contexts(self, rq):
        self.calling_ae = rq.calling_ae_title.strip()
        return accept_contexts(rq.presentation_contexts)

    def accept_user_items(self, rq) -> tuple:
        item = answer_async_window(rq, invoked=self.async_window)
        return () if item is None else (item,)

    def handle(self, assoc, event, result: ServedAssociation) -> bool:
        if isinstance(event, DatasetFragment):
            if self.current is not None:
                self.current.write(event.data)
                result.bytes_received += len(event.data)
            return True
        if isinstance(event, DatasetStarted):
            ts = assoc.contexts[event.context_id].transfer_syntax
            self.current = IncomingObject(self.out_dir, event.context_id, event.message, ts,
                                          self.calling_ae, fsync=self.fsync,
                                          spare=self._spares.pop(0) if self._spares else None)
            return True
        if isinstance(event, DatasetComplete):
            incoming, self.current = self.current, None
            worker = self._background(assoc)
            if worker is not None:
                worker.submit(incoming, incoming.finish)
                self._order_spare()
            else:
                self._respond(assoc, incoming, incoming.finish(), result)
            return True
        if isinstance(event, JobDone) and (event.job is _SPARE or
                                           isinstance(event.job, IncomingObject)):
            self._done(assoc, event, result)
            return True
        if isinstance(event, ReleaseRequested):
            if self._worker is not None:  # every response before our A-RELEASE-RP
                for done in self._worker.drain():
                    self._done(assoc, done, result)
            self._sync_directory()  # then every rename answered is durable too
        elif isinstance(event, Aborted):
            self.close(result)
        return False

    def _background(self, assoc) -> Optional[OrderedWorker]:
        """The worker finishing objects, when the requestor may have several outstanding."""
        if self._worker is None and self.driver is not None and \
                assoc.async_window[0] != 1:
            self._worker = self.driver.background = OrderedWorker("dicomtls-storage",
                                                                  threads=FINISH_THREADS)
        return self._worker

    def _order_spare(self) -> None:
        """Have the worker create the .partial file of the next object, if one comes (it
        arrives as a ``JobDone``; an unused one is removed at the end): creating it here, when
        that object starts, would wait behind the worker's fsyncs."""
        self._worker.submit(_SPARE, lambda: create_partial(self.out_dir))

    def _done(self, assoc, done: JobDone, result) -> None:
        """A worker job ended: a spare file to keep, or an object to answer (``assoc`` None:
        the association is over, only count it)."""
        if done.job is _SPARE:
            if isinstance(done.result, tuple):
                self._spares.append(done.result)
            return
        status = done.result if isinstance(done.result, int) else STATUS_OUT_OF_RESOURCES
        self._respond(assoc, done.job, status, result)

    def _respond(self, assoc, incoming: IncomingObject, status: int, result) -> None:
        msg = incoming.message
        if status == STATUS_SUCCESS:
            result.stored += 1
            self._unsynced_renames += 1
            if self.on_stored is not None:
                self.on_stored(incoming.final, msg)
        else:
            result.failed += 1
        if assoc is not None and assoc.is_established:
            assoc.send_message(incoming.context_id, C_STORE_RSP(
                message_id_being_responded_to=msg.message_id, status=status,
                affected_sop_class_uid=msg.affected_sop_class_uid,
                affected_sop_instance_uid=msg.affected_sop_instance_uid,
                error_comment=(incoming.error or "")[:64] or None))

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
        if self._worker is not None:
            # Objects received whole are finished (they are complete); nobody hears about it.
            worker, self._worker = self._worker, None
            for done in worker.close():
                self._done(None, done, result)
            if self.driver is not None:
                self.driver.background = None
        while self._spares:
            discard_partial(self._spares.pop())
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
