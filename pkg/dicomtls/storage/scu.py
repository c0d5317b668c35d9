"""Storage SCU: send files and directories (recursive) on one association.

1. ``scan(paths)`` reads only the file meta of every file (``part10.read_meta``); a file that is
   not Part 10 is reported as failed and skipped.
2. ``plan_contexts(metas)`` proposes, per SOP class, one presentation context per stored transfer
   syntax (so the data set can go as stored), plus one offering both uncompressed little-endian
   syntaxes when a file has one of them (the conversion fallback).
3. ``store(...)`` sends each file's data set as stored when its context accepted the stored
   syntax, read from disk straight into the association's reusable send buffer (a 1 GiB file
   never sits in memory, and each byte is copied once in user space); converts Implicit
   <-> Explicit VR LE when only the other was accepted; any other mismatch fails that file with
   a clear error and the rest go on. ``progress(Progress)`` is called as bytes go out.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from ..dimse.messages import C_STORE_RQ, C_STORE_RSP
from ..dimse.status import category, status_name
from ..errors import AssociationError, DicomTLSError
from ..io.association_runner import associate
from ..ul.negotiation import DEFAULT_MAX_PDU_LENGTH
from ..ul.user_info import AsynchronousOperationsWindow
from .part10 import (CONVERTIBLE, HEAD_LENGTH, DatasetReader, FileMeta, Part10Error,
                     convert_dataset, open_dataset, prefetch, read_dataset, read_meta)

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128
#: C-STORE-RQs proposed to be outstanding at once: enough to keep the next object travelling
#: while the SCP fsyncs the previous one (a few ms), small enough to bound a failure's reach.
ASYNC_WINDOW = 8


@dataclass
class FileResult:
    path: str
    sop_class_uid: Optional[str] = None
    sop_instance_uid: Optional[str] = None
    transfer_syntax: Optional[str] = None       # as stored
    sent_syntax: Optional[str] = None           # as sent (differs only after a conversion)
    status: Optional[int] = None                # the C-STORE-RSP status; None if not sent
    error: Optional[str] = None
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and category(self.status) in ("Success", "Warning")

    def to_dict(self) -> dict:
        return {"path": self.path, "sop_instance_uid": self.sop_instance_uid,
                "status": self.status, "error": self.error, "bytes": self.bytes,
                "converted": self.sent_syntax not in (None, self.transfer_syntax)}


@dataclass
class Progress:
    objects_done: int
    objects_total: int
    bytes_done: int
    bytes_total: int
    seconds: float

    @property
    def objects_per_second(self) -> float:
        return self.objects_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes_done / 1e6 / self.seconds if self.seconds > 0 else 0.0


@dataclass
class StoreSummary:
    results: list = field(default_factory=list)
    seconds: float = 0.0
    session: object = None

    @property
    def sent(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.results if r.ok)

    def to_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "bytes": self.bytes,
                "seconds": round(self.seconds, 6),
                "objects_per_second": round(self.sent / self.seconds, 3) if self.seconds else None,
                "mb_per_second": round(self.bytes / 1e6 / self.seconds, 3) if self.seconds
                else None,
                "session": self.session.to_dict() if self.session is not None else None,
                "failures": [r.to_dict() for r in self.results if not r.ok]}


def iter_files(paths: Iterable) -> Iterable[str]:
    """Files named, and every file under the directories named (sorted, recursive)."""
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield os.path.join(root, name)
        else:
            yield p


def scan(paths: Iterable) -> tuple[list[FileMeta], list[FileResult]]:
    """(metas of the Part 10 files, failed results for everything else). The heads of all
    files are prefetched first: on a cold page cache the reads then overlap instead of
    waiting for the disk one file at a time."""
    metas, bad = [], []
    files = list(iter_files(paths))
    for path in files:
        prefetch(path, 0, HEAD_LENGTH)
    for path in files:
        try:
            metas.append(read_meta(path))
        except Part10Error as exc:
            bad.append(FileResult(path, error=str(exc)))
    return metas, bad


def plan_contexts(metas: Iterable[FileMeta]) -> list[tuple[str, list[str]]]:
    """(abstract syntax, [transfer syntaxes]) proposals, at most 128."""
    by_class: dict[str, list[str]] = {}
    for m in metas:
        syntaxes = by_class.setdefault(m.sop_class_uid, [])
        if m.transfer_syntax_uid not in syntaxes:
            syntaxes.append(m.transfer_syntax_uid)
    out = []
    for sop_class, syntaxes in by_class.items():
        out.extend((sop_class, [ts]) for ts in syntaxes)
        if any(ts in CONVERTIBLE for ts in syntaxes):
            out.append((sop_class, list(CONVERTIBLE)))
    return out[:MAX_CONTEXTS]


def choose_context(contexts, meta: FileMeta) -> tuple[Optional[int], Optional[str]]:
    """(context id, accepted syntax) among an association's ``contexts`` ({id: negotiated
    context}) for ``meta``: the stored syntax if accepted, else a convertible one."""
    fallback = None
    for ctx in contexts.values():
        if not ctx.accepted or ctx.abstract_syntax != meta.sop_class_uid:
            continue
        if ctx.transfer_syntax == meta.transfer_syntax_uid:
            return ctx.context_id, ctx.transfer_syntax
        if fallback is None and ctx.transfer_syntax in CONVERTIBLE and \
                meta.transfer_syntax_uid in CONVERTIBLE:
            fallback = (ctx.context_id, ctx.transfer_syntax)
    return fallback or (None, None)


def _why_no_context(contexts, meta: FileMeta) -> str:
    accepted = sorted({c.transfer_syntax for c in contexts.values()
                       if c.accepted and c.abstract_syntax == meta.sop_class_uid})
    if not any(c.abstract_syntax == meta.sop_class_uid for c in contexts.values()):
        return f"SOP class {meta.sop_class_uid} was not proposed (over {MAX_CONTEXTS} contexts)"
    if not accepted:
        return f"the peer accepted no presentation context for SOP class {meta.sop_class_uid}"
    return (f"stored transfer syntax {meta.transfer_syntax_uid} was not accepted (accepted: "
            f"{', '.join(accepted)}) and cannot be converted")


def store(host: str, port: int, paths: Iterable, *, tls_config=None,
          called_ae: str = "ANY-SCP", calling_ae: str = "DICOMTLS",
          timeout: Optional[float] = 30.0, max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
          server_name: Optional[str] = None, async_window: int = ASYNC_WINDOW,
          progress: Optional[Callable[[Progress], None]] = None) -> StoreSummary:
    """C-STORE every Part 10 file under ``paths`` on one association; never raises for a single
    file (its ``FileResult`` says why). Raises when the association cannot be opened; once it
    is, a failure fails the files not answered yet (with the reason), and an unexpected
    exception carries ``summary`` (the ``StoreSummary`` so far).

    ``async_window``: how many C-STORE-RQs we propose to keep outstanding (PS3.7 D.3.3.3
    Asynchronous Operations Window); the SCP's answer decides, and an SCP that does not
    negotiate it gets one at a time. With more than one, object n+1 travels while the SCP
    writes and fsyncs object n. 1 proposes nothing (like storescu)."""
    if async_window < 1:
        raise ValueError(f"async_window must be 1 or more, not {async_window}")
    metas, bad = scan(paths)
    summary = StoreSummary(results=list(bad))
    if not metas:
        return summary
    prefetch(metas[0].path, metas[0].dataset_offset, metas[0].dataset_length)
    extra = (AsynchronousOperationsWindow(async_window, 1),) if async_window > 1 else ()
    started = time.monotonic()
    assoc = associate(host, port, tls_config=tls_config, called_ae=called_ae,
                      calling_ae=calling_ae, contexts=plan_contexts(metas), timeout=timeout,
                      max_pdu_length=max_pdu_length, server_name=server_name,
                      extra_user_items=extra)
    summary.session = assoc.session
    try:
        _Sender(assoc, metas, summary, async_window, progress, started).run()
    except BaseException as exc:
        # The association failed part-way: what was answered before stays known (the
        # caller must not send again what the SCP already confirmed, nor assume the rest).
        exc.summary = summary
        raise
    finally:
        summary.seconds = time.monotonic() - started
    return summary


class _Sender:
    """One ``store`` run on an established association: sends each file, keeps up to
    ``window`` requests outstanding, collects the responses as they come."""

    def __init__(self, assoc, metas: list, summary: StoreSummary, async_window: int,
                 progress, started: float):
        self.assoc = assoc
        self.metas = metas
        self.summary = summary
        invoked = assoc.assoc.async_window[0]   # 0: unlimited
        self.window = async_window if invoked == 0 else max(1, min(invoked, async_window))
        self.progress = progress
        self.started = started
        self.total_bytes = sum(m.dataset_length for m in metas)
        self.done_objects = self.done_bytes = 0
        self.outstanding: dict[int, FileResult] = {}
        self.broken: Optional[str] = None   # why the association cannot go on

    def run(self) -> None:
        try:
            for index, meta in enumerate(self.metas):
                result = FileResult(meta.path, meta.sop_class_uid, meta.sop_instance_uid,
                                    meta.transfer_syntax_uid)
                self.summary.results.append(result)
                if self.broken is not None:
                    result.error = self.broken
                elif self._send(meta, result):
                    if index + 1 < len(self.metas):  # read ahead while the SCP answers
                        nxt = self.metas[index + 1]
                        prefetch(nxt.path, nxt.dataset_offset, nxt.dataset_length)
                    self._collect(self.window - 1)
            if self.broken is None:
                self._collect(0)
            if self.broken is None:
                self.assoc.release()
        except BaseException:
            self.assoc.abort()
            raise
        if self.broken is not None:
            self.assoc.abort()

    def _send(self, meta: FileMeta, result: FileResult) -> bool:
        """Send one file's C-STORE-RQ; True when it is outstanding."""
        context_id, syntax = choose_context(self.assoc.contexts, meta)
        if context_id is None:
            result.error = _why_no_context(self.assoc.contexts, meta)
            return False
        try:
            if syntax == meta.transfer_syntax_uid:
                dataset = open_dataset(meta)
            else:
                dataset = convert_dataset(read_dataset(meta), meta.transfer_syntax_uid, syntax)
        except (Part10Error, OSError) as exc:
            result.error = str(exc)
            return False
        result.sent_syntax = syntax
        message_id = self.assoc.next_message_id()
        rq = C_STORE_RQ(message_id=message_id, affected_sop_class_uid=meta.sop_class_uid,
                        affected_sop_instance_uid=meta.sop_instance_uid, priority=0)

        def sent(n):
            self.done_bytes += n
            result.bytes += n
            self._report()

        try:
            try:
                self.assoc.send_message(context_id, rq, dataset, progress=sent)
            finally:
                if isinstance(dataset, DatasetReader):
                    dataset.close()
        except (AssociationError, DicomTLSError) as exc:
            result.error = self._break(f"association failed: {exc}")
            return False
        except OSError as exc:  # reading the file failed half-way: the message is broken
            result.error = f"{meta.path}: {exc}"
            self._break(f"association aborted after a read error on {meta.path}")
            self.assoc.abort()
            return False
        self.outstanding[message_id] = result
        return True

    def _break(self, reason: str) -> str:
        """The association cannot go on: every outstanding request fails with ``reason``."""
        self.broken = reason
        for r in self.outstanding.values():
            r.error = reason
        self.outstanding.clear()
        return reason

    def _collect(self, keep: int) -> None:
        """Wait until at most ``keep`` requests are outstanding, then take whatever other
        responses have arrived already."""
        try:
            while len(self.outstanding) > keep:
                self._finish(self.assoc.wait_response(self.outstanding.keys(), C_STORE_RSP))
            while self.outstanding:
                got = self.assoc.poll_response(self.outstanding.keys(), C_STORE_RSP)
                if got is None:
                    break
                self._finish(got)
        except (OSError, AssociationError, DicomTLSError) as exc:
            self._break(f"association failed: {exc}")

    def _finish(self, got) -> None:
        rsp = got.message
        result = self.outstanding.pop(rsp.message_id_being_responded_to)
        result.status = rsp.status
        if not result.ok:
            result.error = (f"C-STORE status 0x{result.status:04X} "
                            f"({status_name(result.status, 'storage')})"
                            + (f": {rsp.error_comment}" if rsp.error_comment else ""))
        self.done_objects += 1
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(Progress(self.done_objects, len(self.metas), self.done_bytes,
                                   self.total_bytes, time.monotonic() - self.started))


__all__ = ["FileResult", "Progress", "StoreSummary", "choose_context", "iter_files",
           "plan_contexts", "scan", "store"]
