"""Storage SCP: received data sets stream to disk as Part 10 files.

Per C-STORE-RQ (``StorageService``, an ``io.services.StoreHandler``):

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

``StorageServer`` composes it with Verification on an ``io.server.AssociationServer``: one
thread per association, many at once.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Iterable, Optional

from ..dimse.messages import C_STORE_RSP
from ..io.server import AssociationServer
from ..io.services import ServiceBase, ServiceLink, VerificationService
from ..ul.negotiation import answer_async_window
from .incoming import (STATUS_OUT_OF_RESOURCES, STATUS_SUCCESS, IncomingObject, create_partial,
                       discard_partial, fsync_directory, safe_filename)
from .part10 import COMPRESSED_TRANSFER_SYNTAXES, CONVERTIBLE, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN

log = logging.getLogger(__name__)

ASYNC_WINDOW = 8            # outstanding C-STOREs we accept from a requestor that proposes more
FINISH_THREADS = 4          # fsyncs in flight at once: the file system commits them together


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
TRANSFER_SYNTAXES = CONVERTIBLE + (
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    "1.2.840.10008.1.2.2",        # Explicit VR Big Endian (retired; accepted)
) + COMPRESSED_TRANSFER_SYNTAXES + (
    "1.2.840.10008.1.2.4.201",    # HTJ2K Lossless
    "1.2.840.10008.1.2.4.203",    # HTJ2K
)

#: The storage SCP's contexts (the server accepts the proposer's first syntax we support, so
#: an object travels as its sender stored it whenever the sender proposes that first).
SUPPORTED = {uid: TRANSFER_SYNTAXES for uid in STORAGE_SOP_CLASSES}


class StorageService(ServiceBase):
    """The Storage SCP service (an ``io.services.StoreHandler``): streams C-STORE data sets to
    ``out_dir``. ``on_stored(path, message)`` is called after each successful rename.
    ``fsync`` False skips every fsync (see the module docstring: faster, not crash-safe).

    ``async_window``: how many C-STOREs a requestor may have outstanding when it proposes an
    Asynchronous Operations Window (we answer with at most this; without a proposal, one).
    Then the fsync and rename of object n run on the association's background worker while
    object n+1 is received; the responses still go out in order, each only once its file is
    complete under its name. ``sop_classes``: what it accepts (default every storage SOP class
    pydicom knows). One instance serves one association."""

    def __init__(self, out_dir, *, on_stored=None, fsync: bool = True,
                 async_window: int = ASYNC_WINDOW, sop_classes: Optional[Iterable[str]] = None):
        self.supported = SUPPORTED if sop_classes is None else \
            {uid: TRANSFER_SYNTAXES for uid in sop_classes}
        self.out_dir = os.fspath(out_dir)
        self.on_stored = on_stored
        self.fsync = fsync
        self.async_window = async_window
        self.current: Optional[IncomingObject] = None
        self._spares: list = []        # (fd, path) of .partial files the worker created
        self._unsynced_renames = 0

    def accept_user_items(self, link: ServiceLink, rq) -> tuple:
        item = answer_async_window(rq, invoked=self.async_window)
        return () if item is None else (item,)

    def store_started(self, link: ServiceLink, event) -> None:
        self.current = IncomingObject(self.out_dir, event.context_id, event.message,
                                      link.transfer_syntax(event.context_id), link.calling_ae,
                                      fsync=self.fsync,
                                      spare=self._spares.pop(0) if self._spares else None)

    def store_fragment(self, link: ServiceLink, event) -> None:
        if self.current is not None:
            self.current.write(event.data)
            link.result.bytes_received += len(event.data)

    def store_complete(self, link: ServiceLink, event) -> None:
        incoming, self.current = self.current, None
        if link.assoc.async_window[0] == 1:   # one at a time: finish it before reading on
            self._respond(link, incoming, incoming.finish())
            return

        def answer(link, status):
            self._respond(link, incoming, status if isinstance(status, int)
                          else STATUS_OUT_OF_RESOURCES)

        link.submit(incoming.finish, answer, threads=FINISH_THREADS)
        # The next object's .partial file, created on the worker too (it arrives with the
        # results; an unused one is removed at the end): creating it when that object starts
        # would wait behind the worker's fsyncs.
        link.submit(lambda: create_partial(self.out_dir), self._keep_spare)

    def _keep_spare(self, link: ServiceLink, spare) -> None:
        if isinstance(spare, tuple):
            self._spares.append(spare)

    def _respond(self, link: ServiceLink, incoming: IncomingObject, status: int) -> None:
        msg = incoming.message
        if status == STATUS_SUCCESS:
            link.result.stored += 1
            self._unsynced_renames += 1
            if self.on_stored is not None:
                self.on_stored(incoming.final, msg)
        else:
            link.result.failed += 1
        if link.can_send:
            link.send(incoming.context_id, C_STORE_RSP(
                message_id_being_responded_to=msg.message_id, status=status,
                affected_sop_class_uid=msg.affected_sop_class_uid,
                affected_sop_instance_uid=msg.affected_sop_instance_uid,
                error_comment=(incoming.error or "")[:64] or None))

    def release_requested(self, link: ServiceLink) -> None:
        link.drain_background()  # every response before our A-RELEASE-RP
        self._sync_directory()   # then every rename answered is durable too

    def _sync_directory(self) -> None:
        if self.fsync and self._unsynced_renames:
            self._unsynced_renames = 0
            try:
                fsync_directory(self.out_dir)
            except OSError as exc:
                log.warning("fsync of %s failed: %s", self.out_dir, exc)

    def close(self, link: ServiceLink) -> None:
        """Discard the object being received; objects received whole were finished by the
        worker before this (they are complete, nobody hears about it)."""
        if self.current is not None:
            log.info("discarding the partial object %s", self.current.final)
            self.current.discard()
            self.current = None
        while self._spares:
            discard_partial(self._spares.pop())
        self._sync_directory()


def StorageServer(out_dir, host: str = "127.0.0.1", port: int = 0, *, on_stored=None,
                  fsync: bool = True, async_window: int = ASYNC_WINDOW, **kwargs):
    """Verification + Storage SCP writing into ``out_dir``: an ``io.server.AssociationServer``
    (``kwargs``: ``tls_config``, ``ae_title``, ``timeout``, ``on_result``, ...)."""
    storage = partial(StorageService, out_dir, on_stored=on_stored, fsync=fsync,
                      async_window=async_window)
    return AssociationServer(host, port, services=(VerificationService, storage), **kwargs)


__all__ = ["ASYNC_WINDOW", "STORAGE_SOP_CLASSES", "STATUS_OUT_OF_RESOURCES", "SUPPORTED",
           "StorageServer", "StorageService", "TRANSFER_SYNTAXES", "safe_filename"]
