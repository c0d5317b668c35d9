"""Receiving one object into a file that appears under its name only when it is complete.

``IncomingObject`` writes the preamble, the file meta and the data set fragments as they come
into a ``.partial`` file (``O_CREAT | O_EXCL``, a random name), then ``finish()`` fsyncs it
(unless ``fsync`` is off), closes it and renames it to ``<SOPInstanceUID>.dcm``; ``discard()``
removes it. ``reject(status, reason)`` refuses an object whose data set proved malformed: the
rest is not written and ``finish()`` removes the file and returns ``status``.
``create_partial`` makes such a file ahead of time: on this kind of file system a create costs
a quarter of a millisecond and waits behind journal commits, so a Storage SCP with a
background worker creates the next ones there (see ``scp.StorageHandler``). ``place`` puts
the object in subdirectories of the output directory (``layout``): ``finish`` makes them
(``make_directories``) and renames the file into them.
``fsync_directory`` makes the renames in a directory durable; ``sweep_partials`` removes the
``.partial`` files a crash or power loss left behind (a server calls it before it starts).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
from typing import Optional

from .part10 import file_meta_bytes

log = logging.getLogger(__name__)

# Indirections the tests wrap (to count calls, or to simulate a full disk).
_os_writev = os.writev
_os_fsync = os.fsync
_fadvise = getattr(os, "posix_fadvise", None)

WRITE_BATCH = 256 << 10     # received fragments are written in runs of at least this much
MAX_IOVECS = 512            # ... or of this many fragments (IOV_MAX is 1024 on Linux)
# ... but no system call writes more than this. Measured on the Linux 6.18 / ext4 VMs we run on:
# writes of 1 MiB or 256 KiB into a new file ran at 420-580 MB/s (the kernel's copy into fresh
# page cache dominated the SCP's profile), writes of 64 KiB of the same data at 1.4-1.6 GB/s
# (serve, plain C-STORE of 4 x 64 MiB, medians of 5; TLS 1.3 0.42 -> 0.93 GB/s). DCMTK's storescp
# writes 128 KiB at a time. The extra system calls cost about 2 us per 64 KiB.
WRITE_CALL = 64 << 10
# An object's writes move to the association's ``writer.FileWriter`` once this much of it has
# arrived: a large object's writes then overlap its receiving, while a small one is written
# at once, from the cache, without three thread hand-offs per object (measured, 200 x 0.5 MiB
# over TLS 1.3: 552 -> 456 objects' MB/s with every object on the writer).
WRITER_FROM = 4 << 20
WRITEBACK_STEP = 16 << 20   # with fsync: start the writeback of every 16 MiB as it is written

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700

_UNSAFE = re.compile(r"[^0-9A-Za-z.\-]")
#: The names ``create_partial`` makes: ``.<stem>.<12 hex digits>.partial``.
_PARTIAL_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.partial")


def safe_filename(sop_instance_uid: str, suffix: str = ".dcm") -> str:
    """``<uid><suffix>`` with only [0-9A-Za-z.-] kept (anything else becomes '_'), never a
    path."""
    name = _UNSAFE.sub("_", (sop_instance_uid or "").strip("\0 "))[:200].lstrip(".")
    return (name or "unnamed") + suffix


def create_partial(out_dir: str, stem: str = "incoming") -> tuple[int, str]:
    """(fd, path) of a new hidden ``.<stem>.<random>.partial`` file in ``out_dir``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):  # 48 random bits: a clash is already unlikely once
        temp = os.path.join(out_dir, f".{stem}.{secrets.token_hex(6)}.partial")
        try:
            return os.open(temp, flags, 0o644), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {out_dir}")


def sweep_partials(out_dir: str) -> int:
    """Remove the ``.partial`` files (``create_partial``'s names only) directly in ``out_dir``:
    what a crash or power loss left of objects never answered. Only safe while nothing writes
    into ``out_dir``: call it before the server starts. Returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(out_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not _PARTIAL_NAME.fullmatch(entry.name) or entry.is_dir(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the stale %s: %s", entry.path, exc)
    if removed:
        log.info("removed %d stale .partial files from %s", removed, out_dir)
    return removed


def discard_partial(spare: tuple[Optional[int], Optional[str]]) -> None:
    """Close and remove a file ``create_partial`` made (either part may be None: already
    closed, already gone)."""
    fd, path = spare
    with contextlib.suppress(OSError):
        if fd is not None:
            os.close(fd)
    with contextlib.suppress(OSError):
        if path is not None:
            os.unlink(path)


class IncomingObject:
    """One object being received into a ``.partial`` file.

    Fragments are views of the received PDUs (each PDU has a buffer of its own, never reused),
    so they are kept as they are and written once ``WRITE_BATCH`` bytes are pending, with
    ``writev`` calls of ``WRITE_CALL`` bytes each: a peer sending 16 KiB PDUs costs one system
    call per four PDUs, and nothing is copied.
    With ``fsync``, writeback of every ``WRITEBACK_STEP`` bytes is started as they are written,
    so the fsync at the end has little left to wait for (a large object does not leave the SCU
    waiting for a whole object's writeback before its C-STORE-RSP)."""

    def __init__(self, out_dir: str, context_id: int, message, transfer_syntax: str,
                 calling_ae: Optional[str], *, fsync: bool = True, spare=None, writer=None):
        self.context_id = context_id
        self.message = message
        self.fsync = fsync
        self.out_dir = out_dir
        self.subdirectories: tuple = ()   # under out_dir, made at ``finish`` (``place``)
        self.final = os.path.join(out_dir, safe_filename(message.affected_sop_instance_uid))
        self.fd: Optional[int] = None
        self.temp: Optional[str] = None
        self.error: Optional[str] = None
        self.failure_status = STATUS_OUT_OF_RESOURCES   # what ``finish`` answers after an error
        self.offending: Optional[int] = None    # the tag a ``reject`` names, if any
        self.length = 0          # data set bytes received
        self._pending: list = []
        self._pending_bytes = 0
        self._written = 0        # bytes in the file
        self._kicked = 0         # bytes whose writeback has been started
        self._writer = writer    # a ``writer.FileWriter``: the writes run on its thread
        self._write_error: Optional[BaseException] = None   # met there; reported here
        if spare is not None:    # a file created ahead of time (``create_partial``)
            self.fd, self.temp = spare
        else:
            try:
                self.fd, self.temp = create_partial(out_dir, os.path.basename(self.final))
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
        views, self._pending, nbytes = self._pending, [], self._pending_bytes
        self._pending_bytes = 0
        if self._writer is not None and self.length >= WRITER_FROM:
            self._writer.write(self, views, nbytes)
        else:
            self._write_views(views)
        self._check_write()

    def _write_views(self, views: list) -> None:
        """Write ``views`` at the end of the file (on the writer's thread when there is one);
        a failure is kept in ``_write_error`` and the writes after it are skipped."""
        if self._write_error is not None:
            return
        try:
            for group in _write_groups(views):
                while group:
                    n = _os_writev(self.fd, group)
                    self._written += n
                    while group and n >= len(group[0]):  # drop what went out whole
                        n -= len(group[0])
                        group.pop(0)
                    if n:
                        group[0] = group[0][n:]
        except OSError as exc:
            self._write_error = exc
            return
        if self.fsync and _fadvise is not None and \
                self._written - self._kicked >= WRITEBACK_STEP:
            try:  # DONTNEED starts writeback of the dirty range without waiting for it
                _fadvise(self.fd, self._kicked, self._written - self._kicked,
                         os.POSIX_FADV_DONTNEED)
            except OSError:
                pass  # advice only
            self._kicked = self._written

    def _check_write(self) -> None:
        """On the receiving thread: a write that failed (here or on the writer) fails the
        object now."""
        exc = self._write_error
        if exc is not None and self.error is None:
            if self._writer is not None:
                self._writer.wait(self)   # nothing of ours may still use the descriptor
            self._fail(exc if isinstance(exc, OSError) else OSError(str(exc)))

    def _fail(self, exc: OSError) -> None:
        self.error = f"{exc.strerror or exc} ({os.path.basename(self.final)})"
        log.warning("cannot store %s", self.error)
        self._pending, self._pending_bytes = [], 0
        self.discard()

    def write(self, data: memoryview) -> None:
        if self.error is None:
            self.length += len(data)
            self._queue(data)
            if self._write_error is not None:
                self._check_write()

    def place(self, subdirectories: tuple) -> None:
        """Publish the file in ``out_dir/<subdirectories...>/`` (safe path components, e.g.
        ``layout.layout_components``): ``finish`` makes them, on the worker, and renames the
        ``.partial`` (which stays in ``out_dir``: the same file system) into them."""
        self.subdirectories = tuple(subdirectories)
        self.final = os.path.join(self.out_dir, *self.subdirectories,
                                  os.path.basename(self.final))

    def reject(self, status: int, reason: str, offending: Optional[int] = None) -> None:
        """Refuse the object with ``status`` (``reason``: the Error Comment; ``offending``:
        the tag at fault, for Offending Element): what is still to come is dropped, and
        ``finish`` removes the file (on the worker, where the fsync it replaces would have run)
        instead of renaming it."""
        if self.error is None:
            self.error = reason
            self.failure_status = status
            self.offending = offending
            self._pending, self._pending_bytes = [], 0

    def finish(self) -> int:
        """Write what is left, fsync (unless disabled), rename; the C-STORE status. After an
        error or a ``reject`` the file is removed and the failure status returned."""
        if self.error is None and self._pending:
            self._flush()
        if self._writer is not None:
            self._writer.wait(self)
        self._check_write()
        if self.error is None:
            try:
                if self.fsync:
                    _os_fsync(self.fd)
                os.close(self.fd)
                self.fd = None
                if self.subdirectories:
                    make_directories(self.out_dir, self.subdirectories, fsync=self.fsync)
                os.replace(self.temp, self.final)
                self.temp = None
                return STATUS_SUCCESS
            except OSError as exc:
                self._fail(exc)
        self.discard()           # a rejected object's file (after ``_fail`` nothing is left)
        return self.failure_status

    def discard(self) -> None:
        self._pending, self._pending_bytes = [], 0
        if self._writer is not None:
            self._writer.wait(self)
        discard_partial((self.fd, self.temp))
        self.fd = self.temp = None


def _write_groups(views: list):
    """``views`` regrouped for ``writev`` calls of at most ``WRITE_CALL`` bytes each (a larger
    view is cut into pieces; small ones are gathered, in order)."""
    group, size = [], 0
    for view in views:
        start, end = 0, len(view)
        while start < end:
            take = min(end - start, WRITE_CALL - size)
            group.append(view[start:start + take] if take < end or start else view)
            size += take
            start += take
            if size == WRITE_CALL:
                yield group
                group, size = [], 0
    if group:
        yield group


class DiscardedObject:
    """What ``IncomingObject`` is for a Storage SCP that writes nothing (``serve --ignore``,
    as storescp's ``--ignore``: to measure a network path without the disk): it counts the
    data set bytes, keeps a ``reject`` and answers its status; no file is ever made."""

    def __init__(self, context_id: int, message):
        self.context_id, self.message = context_id, message
        self.final: Optional[str] = None
        self.error: Optional[str] = None
        self.failure_status = STATUS_OUT_OF_RESOURCES
        self.offending: Optional[int] = None
        self.length = 0

    def write(self, data) -> None:
        if self.error is None:
            self.length += len(data)

    def place(self, subdirectories: tuple) -> None:
        pass

    def reject(self, status: int, reason: str, offending: Optional[int] = None) -> None:
        if self.error is None:
            self.error, self.failure_status, self.offending = reason, status, offending

    def finish(self) -> int:
        return STATUS_SUCCESS if self.error is None else self.failure_status

    def discard(self) -> None:
        pass


def make_directories(root: str, components, *, fsync: bool = True) -> str:
    """``root/<components...>``, made as needed (``root`` itself must exist). With ``fsync``
    the parent of each directory made here is fsynced, so its entry is durable before a file is
    renamed into it. Safe when several threads make the same directories at once."""
    path = root
    for component in components:
        parent, path = path, os.path.join(path, component)
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if not os.path.isdir(path):
                raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory",
                                         path) from None
            continue
        if fsync:
            fsync_directory(parent)
    return path


def fsync_directory(path: str) -> None:
    """Make the renames done in ``path`` durable (the file contents were fsynced before)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _os_fsync(fd)
    finally:
        os.close(fd)


__all__ = ["DiscardedObject", "IncomingObject", "STATUS_OUT_OF_RESOURCES", "STATUS_SUCCESS", "create_partial",
           "discard_partial", "fsync_directory", "make_directories", "safe_filename",
           "sweep_partials"]
