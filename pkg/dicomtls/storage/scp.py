"""Storage SCP: received data sets stream to disk as Part 10 files.

Per C-STORE-RQ (``StorageService``, an ``io.services.StoreHandler``):

1. ``DatasetStarted``: open ``.<uid>.<random>.partial`` in the output directory with
   ``O_CREAT | O_EXCL`` and write the preamble and file meta (the context's transfer syntax,
   the calling AE title as Source Application Entity Title);
2. every ``DatasetFragment`` (a view of the received PDU) is written as it is, gathered into
   ``writev`` calls of 64 KiB once 256 KiB are pending: the data set bytes are never copied;
   past the first 4 MiB of an object the writes run on the association's ``writer.FileWriter``
   thread, overlapping the receiving of what follows (a capped queue: 2 MiB);
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

Validation (``validate="structure"``, the default; ``dicomtls serve --validate``): every
fragment is also fed to a ``structure.StructureValidator``, which walks the element headers as
they pass (values are skipped by arithmetic, nothing is kept), and at ``DatasetComplete`` the
data set must have ended where a well-built one can, before anything is published. A Pixel
Data declaring 2 GiB that carries 16 bytes, tags out of order, a sequence never closed: the
C-STORE-RSP is 0xC000 (Error: Cannot understand) with the reason (tag and byte offset) in
Error Comment (0000,0902) and the tag in Offending Element (0000,0901), the ``.partial`` is
removed, nothing appears under the final name, and the association goes on. Why 0xC000: of
PS3.4 Table B.2-1's failures it is the one for a data set the SCP cannot make sense of, which
a broken encoding is; 0xA900 (Data Set does not match SOP Class) is for a well-formed data
set that is the wrong thing, and is what a data set whose SOP Class or Instance UID
(0008,0016)/(0008,0018) differs from the C-STORE-RQ's Affected SOP Class/Instance UID gets.
DCMTK's storescp answers the same two cases the same way. ``validate="none"`` stores what
arrives.

Layout (``layout="flat"``, the default; ``dicomtls serve --layout``): ``patient`` and ``study``
publish each object in subdirectories named after its Patient ID / Study / Series Instance UID
(``layout``: safe path components), read from the stream by the same validator (it records
those top-level values as they pass; with ``validate="none"`` it runs for them alone and its
verdict is ignored). The directories are made when the object is complete, on the worker; the
release fsyncs each directory renamed into and those above it.

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
from ..dimse.status import Status
from ..io.server import AssociationServer
from ..io.services import ServiceBase, ServiceLink, VerificationService
from ..ul.negotiation import answer_async_window
from .incoming import (STATUS_OUT_OF_RESOURCES, STATUS_SUCCESS, DiscardedObject, IncomingObject,
                       create_partial, discard_partial, fsync_directory, safe_filename)
from .layout import SORT_TAGS, check_layout, directories_to_sync, layout_components
from .part10 import COMPRESSED_TRANSFER_SYNTAXES, CONVERTIBLE, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
from .structure import (SOP_CLASS_UID, SOP_INSTANCE_UID, DatasetStructureError,
                        StructureValidator)
from .writer import FileWriter

log = logging.getLogger(__name__)

ASYNC_WINDOW = 8            # outstanding C-STOREs we accept from a requestor that proposes more
FINISH_THREADS = 4          # fsyncs in flight at once: the file system commits them together
VALIDATE_CHOICES = ("structure", "none")
#: Top-level elements the validator keeps as they pass: compared with the C-STORE-RQ.
RECORDED = (SOP_CLASS_UID, SOP_INSTANCE_UID)


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
    pydicom knows). ``validate``: "structure" (check each data set as it streams in, refuse a
    malformed one: see the module docstring) or "none". ``layout``: "flat", "patient" or
    "study" (``storage.layout``). ``ignore``: receive, validate and answer, but write
    nothing (``incoming.DiscardedObject``; storescp's ``--ignore``). One instance serves one
    association."""

    def __init__(self, out_dir, *, on_stored=None, fsync: bool = True,
                 async_window: int = ASYNC_WINDOW, sop_classes: Optional[Iterable[str]] = None,
                 validate: str = "structure", layout: str = "flat", ignore: bool = False):
        if validate not in VALIDATE_CHOICES:
            raise ValueError(f"validate={validate!r}: choose from {', '.join(VALIDATE_CHOICES)}")
        self.supported = SUPPORTED if sop_classes is None else \
            {uid: TRANSFER_SYNTAXES for uid in sop_classes}
        self.out_dir = os.fspath(out_dir)
        self.on_stored = on_stored
        self.fsync = fsync
        self.async_window = async_window
        self.validate = validate
        self.ignore = ignore
        self.layout = check_layout(layout)
        self._recorded = RECORDED + SORT_TAGS[layout]
        self._values: dict = {}        # what the current object's validator recorded
        self.current: Optional[IncomingObject] = None
        self.validator: Optional[StructureValidator] = None   # the current object's validator
        self._spares: list = []        # (fd, path) of .partial files the worker created
        self._unsynced: set = set()    # directories renamed into since the last sync
        self._writer: Optional[FileWriter] = None   # the file writes' thread, from the 1st object

    def accept_user_items(self, link: ServiceLink, rq) -> tuple:
        item = answer_async_window(rq, invoked=self.async_window)
        return () if item is None else (item,)

    def store_started(self, link: ServiceLink, event) -> None:
        syntax = link.transfer_syntax(event.context_id)
        if self.ignore:
            self.current = DiscardedObject(event.context_id, event.message)
        else:
            if self._writer is None:
                self._writer = FileWriter()
            self.current = IncomingObject(
                self.out_dir, event.context_id, event.message, syntax, link.calling_ae, fsync=self.fsync,
                spare=self._spares.pop(0) if self._spares else None, writer=self._writer)
        self.validator = None
        if self.validate == "structure" or self.layout != "flat":
            self.validator = StructureValidator(syntax, record=self._recorded)
        # The validator fills this as the data set passes; kept if it is dropped halfway.
        self._values = {} if self.validator is None else self.validator.values

    def store_fragment(self, link: ServiceLink, event) -> None:
        current = self.current
        if current is not None:
            if self.validator is not None:
                try:
                    self.validator.feed(event.data)
                except DatasetStructureError as exc:   # refused now: the rest is not written
                    self.validator = None
                    if self.validate == "structure":
                        self._refuse(link, current, Status.CANNOT_UNDERSTAND, exc.comment,
                                     str(exc), exc.tag)
            current.write(event.data)
            link.result.bytes_received += len(event.data)

    def store_complete(self, link: ServiceLink, event) -> None:
        incoming, self.current = self.current, None
        validator, self.validator = self.validator, None
        if validator is not None and incoming.error is None and self.validate == "structure":
            self._check_complete(link, incoming, validator)
        if self.layout != "flat" and incoming.error is None:
            incoming.place(layout_components(self.layout, self._values))
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
        if not self.ignore:
            link.submit(lambda: create_partial(self.out_dir), self._keep_spare)

    def _check_complete(self, link: ServiceLink, incoming: IncomingObject,
                        validator: StructureValidator) -> None:
        """The data set has ended: refuse it unless it ended whole and names the object the
        C-STORE-RQ named (an absent (0008,0016)/(0008,0018) is not checked here)."""
        try:
            validator.finish()
        except DatasetStructureError as exc:
            self._refuse(link, incoming, Status.CANNOT_UNDERSTAND, exc.comment, str(exc),
                         exc.tag)
            return
        msg = incoming.message
        for tag, name, requested in ((SOP_CLASS_UID, "Class", msg.affected_sop_class_uid),
                                     (SOP_INSTANCE_UID, "Instance",
                                      msg.affected_sop_instance_uid)):
            found = validator.text(tag)
            if found is not None and found != (requested or "").strip("\0 "):
                self._refuse(link, incoming, Status.DATASET_DOES_NOT_MATCH,
                             f"data set's SOP {name} UID is not the request's",
                             f"the data set's SOP {name} UID {found} is not the C-STORE-RQ's "
                             f"Affected SOP {name} UID {requested}", tag)
                return

    def _refuse(self, link: ServiceLink, incoming: IncomingObject, status: int, comment: str,
                reason: str, offending: Optional[int] = None) -> None:
        """Answer ``status`` with ``comment`` (Error Comment) and ``offending`` (Offending
        Element, PS3.4 Table B.2-1) instead of storing; ``reason``, the long form, is logged."""
        self.validator = None
        log.warning("refusing %s from %s (status 0x%04X): %s",
                    incoming.message.affected_sop_instance_uid, link.calling_ae, status, reason)
        incoming.reject(status, comment, offending)

    def _keep_spare(self, link: ServiceLink, spare) -> None:
        if isinstance(spare, tuple):
            self._spares.append(spare)

    def _respond(self, link: ServiceLink, incoming: IncomingObject, status: int) -> None:
        msg = incoming.message
        if status == STATUS_SUCCESS:
            link.result.stored += 1
            if incoming.final is not None:   # None: ``ignore``, nothing was written
                self._unsynced.add(os.path.dirname(incoming.final))
                if self.on_stored is not None:
                    self.on_stored(incoming.final, msg)
        else:
            link.result.failed += 1
        if link.can_send:
            link.send(incoming.context_id, C_STORE_RSP(
                message_id_being_responded_to=msg.message_id, status=status,
                affected_sop_class_uid=msg.affected_sop_class_uid,
                affected_sop_instance_uid=msg.affected_sop_instance_uid,
                offending_element=None if incoming.offending is None else (incoming.offending,),
                error_comment=(incoming.error or "")[:64] or None))

    def release_requested(self, link: ServiceLink) -> None:
        link.drain_background()  # every response before our A-RELEASE-RP
        self._sync_directory()   # then every rename answered is durable too

    def _sync_directory(self) -> None:
        """fsync the directories renamed into (and, for a layout's subdirectories, those
        above them: their entries may be another association's, not synced yet)."""
        if not (self.fsync and self._unsynced):
            return
        directories = dict.fromkeys(d for leaf in sorted(self._unsynced)
                                    for d in directories_to_sync(self.out_dir, leaf))
        self._unsynced.clear()
        for directory in directories:
            try:
                fsync_directory(directory)
            except OSError as exc:
                log.warning("fsync of %s failed: %s", directory, exc)

    def close(self, link: ServiceLink) -> None:
        """Discard the object being received; objects received whole were finished by the
        worker before this (they are complete, nobody hears about it)."""
        if self.current is not None:
            log.info("discarding the partial object %s", self.current.final)
            self.current.discard()
            self.current = None
        while self._spares:
            discard_partial(self._spares.pop())
        if self._writer is not None:
            self._writer.close()
        self._sync_directory()


def StorageServer(out_dir, host: str = "127.0.0.1", port: int = 0, *, on_stored=None,
                  fsync: bool = True, async_window: int = ASYNC_WINDOW,
                  validate: str = "structure", layout: str = "flat", **kwargs):
    """Verification + Storage SCP writing into ``out_dir``: an ``io.server.AssociationServer``
    (``kwargs``: ``tls_config``, ``ae_title``, ``timeout``, ``on_result``, ...); ``validate``
    and ``layout`` as for ``StorageService``."""
    if validate not in VALIDATE_CHOICES:   # here, not in every association's thread
        raise ValueError(f"validate={validate!r}: choose from {', '.join(VALIDATE_CHOICES)}")
    storage = partial(StorageService, out_dir, on_stored=on_stored, fsync=fsync,
                      async_window=async_window, validate=validate, layout=check_layout(layout))
    return AssociationServer(host, port, services=(VerificationService, storage), **kwargs)


__all__ = ["ASYNC_WINDOW", "STORAGE_SOP_CLASSES", "STATUS_OUT_OF_RESOURCES", "SUPPORTED",
           "StorageServer", "StorageService", "TRANSFER_SYNTAXES", "VALIDATE_CHOICES",
           "safe_filename"]
