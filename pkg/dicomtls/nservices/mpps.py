"""Modality Performed Procedure Step SCP (PS3.4 F.7), an ``NServiceHandler`` for ``NServices``.

Each instance is a DICOM JSON file (PS3.18 F) ``<directory>/<SOP Instance UID>.json``, written
whole (temporary file, fsync, rename: never half a file), so any tool can read what the
modalities reported.

* N-CREATE: the instance the SCU names (or one we make). 0x0111 Duplicate SOP Instance when it
  exists; Performed Procedure Step Status (0040,0252) must be IN PROGRESS, else 0x0106 Invalid
  Attribute Value (F.7.2.1.3). The response carries the attributes as created.
* N-SET: 0x0112 No such SOP Instance for an unknown one. Accepted only while the status is
  IN PROGRESS (F.7.2.2.3); once COMPLETED or DISCONTINUED: 0x0110 Processing failure with Error
  Comment "Performed Procedure Step Object may no longer be updated" and Error ID A710H
  (F.7.2.2.4). A new status must be IN PROGRESS, COMPLETED or DISCONTINUED (0x0106). Each
  attribute of the modification list replaces the stored one; the response carries them.

N-GET, N-ACTION and N-DELETE are not operations of this SOP class (0x0211). One instance
serves every association: a lock orders the updates.
"""

from __future__ import annotations

import os
import threading
from typing import Optional

from ..dimse.status import Status
from ..storage.incoming import create_partial, discard_partial, fsync_directory, safe_filename
from .scp import NRequest, NServiceBase, NServiceRefusal
from .scu import decode_dataset, encode_dataset

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"

IN_PROGRESS = "IN PROGRESS"
STEP_STATUSES = (IN_PROGRESS, "COMPLETED", "DISCONTINUED")
DUPLICATE_SOP_INSTANCE = 0x0111
INVALID_ATTRIBUTE_VALUE = 0x0106
NO_LONGER_UPDATABLE = 0xA710   # PS3.4 Table F.7.2-2: the Error ID of the refused N-SET


def _step_status(ds) -> str:
    return str(ds.get("PerformedProcedureStepStatus", "") or "").strip().upper()


class MPPSService(NServiceBase):
    """The MPPS SCP over ``directory`` (created when the first instance is). ``fsync`` False
    skips the fsyncs (faster; a system crash may then lose an answered update)."""

    def __init__(self, directory, *, fsync: bool = True):
        self.directory = os.fspath(directory)
        self.fsync = fsync
        self._lock = threading.Lock()

    def path(self, instance: str) -> str:
        return os.path.join(self.directory, safe_filename(instance, ".json"))

    def load(self, instance: str):
        """The stored instance as a pydicom Dataset, or None."""
        from pydicom.dataset import Dataset
        try:
            with open(self.path(instance), encoding="utf-8") as f:
                return Dataset.from_json(f.read())
        except FileNotFoundError:
            return None

    def n_create(self, instance: Optional[str], attrs: Optional[bytes], req: NRequest):
        from pydicom.dataset import Dataset
        from pydicom.uid import generate_uid
        ds = decode_dataset(attrs, req.transfer_syntax) if attrs else Dataset()
        if _step_status(ds) != IN_PROGRESS:
            raise NServiceRefusal(f"Performed Procedure Step Status must be {IN_PROGRESS}, "
                                  f"not {_step_status(ds) or 'empty'}",
                                  status=INVALID_ATTRIBUTE_VALUE)
        instance = instance or generate_uid()
        stored = Dataset()
        stored.update(ds)
        stored.SOPClassUID, stored.SOPInstanceUID = MPPS_SOP_CLASS, instance
        with self._lock:
            if os.path.exists(self.path(instance)):
                return DUPLICATE_SOP_INSTANCE, instance
            self._write(instance, stored)
        return Status.SUCCESS, instance, encode_dataset(ds, req.transfer_syntax)

    def n_set(self, instance: str, modification: Optional[bytes], req: NRequest):
        from pydicom.dataset import Dataset
        changes = decode_dataset(modification, req.transfer_syntax) if modification \
            else Dataset()
        new_status = changes.get("PerformedProcedureStepStatus")
        if new_status is not None and _step_status(changes) not in STEP_STATUSES:
            raise NServiceRefusal(f"Performed Procedure Step Status {new_status!r} is none of "
                                  f"{', '.join(STEP_STATUSES)}", status=INVALID_ATTRIBUTE_VALUE)
        with self._lock:
            ds = self.load(instance)
            if ds is None:
                return None
            if _step_status(ds) != IN_PROGRESS:
                raise NServiceRefusal("Performed Procedure Step Object may no longer be updated",
                                      status=Status.PROCESSING_FAILURE,
                                      error_id=NO_LONGER_UPDATABLE)
            for elem in changes:
                ds[elem.tag] = elem
            self._write(instance, ds)
        return Status.SUCCESS, encode_dataset(changes, req.transfer_syntax)

    def _write(self, instance: str, ds) -> None:
        """Replace the instance's file whole: a reader sees the old one or the new one."""
        os.makedirs(self.directory, exist_ok=True)
        fd, temp = create_partial(self.directory, "mpps")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                fd = None   # the file object owns it now
                f.write(ds.to_json())
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(temp, self.path(instance))
        except BaseException:
            discard_partial((fd, temp))
            raise
        if self.fsync:
            fsync_directory(self.directory)


__all__ = ["IN_PROGRESS", "MPPSService", "MPPS_SOP_CLASS", "NO_LONGER_UPDATABLE",
           "STEP_STATUSES"]
