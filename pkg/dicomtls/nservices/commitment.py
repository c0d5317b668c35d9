"""Storage Commitment Push Model SCP (PS3.4 J.3), an ``NServiceHandler`` for ``NServices``.

N-ACTION Request Storage Commitment (Action Type ID 1) on the well-known SOP instance
1.2.840.10008.1.20.1.1, with a Transaction UID and a Referenced SOP Sequence. We answer the
N-ACTION-RSP, then send the result as an N-EVENT-REPORT-RQ on the same association: each
referenced instance is looked up in what the storage service holds (``index``: the storage
directory's ``qr.index.StorageIndex``, re-read for each request) and is committed when it is
there with the SOP class named; event type 1 when all are, else event type 2 with a Failed SOP
Sequence giving each failure's reason (0x0112 No such object instance, 0x0119 Class/Instance
conflict, 0x0110 Processing failure for an item without both UIDs).

Refusals of the request itself: another action 0x0123 No such action, another instance 0x0112,
a missing Transaction UID or Referenced SOP Sequence 0x0120 Missing Attribute.
"""

from __future__ import annotations

import logging
from typing import Optional

from ..dimse.status import Status
from .scp import NRequest, NServiceBase, NServiceRefusal
from .scu import decode_dataset, encode_dataset

log = logging.getLogger(__name__)

STORAGE_COMMITMENT_SOP_CLASS = "1.2.840.10008.1.20.1"
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"   # the well-known SOP instance
REQUEST_STORAGE_COMMITMENT = 1
ALL_COMMITTED = 1       # event type: Storage Commitment Request Successful
SOME_FAILED = 2         # event type: Storage Commitment Request Complete - Failures Exist

NO_SUCH_ACTION = 0x0123
MISSING_ATTRIBUTE = 0x0120
#: Failure Reason (0008,1197) values, PS3.4 J.3.3.1.1.
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119
PROCESSING_FAILURE = 0x0110


class StorageCommitmentService(NServiceBase):
    """The Storage Commitment Push Model SCP. ``index``: what the storage service holds,
    anything with ``instances()`` -> {SOP Instance UID: SOP Class UID} (``qr.index.
    StorageIndex`` over the storage directory). ``retrieve_ae``: our AE title, named in the
    report as where the committed instances can be retrieved (None: not named)."""

    def __init__(self, index, *, retrieve_ae: Optional[str] = None):
        self.index = index
        self.retrieve_ae = retrieve_ae

    def n_action(self, instance: str, action_type_id: int, info: Optional[bytes],
                 req: NRequest):
        if action_type_id != REQUEST_STORAGE_COMMITMENT:
            return NO_SUCH_ACTION
        if instance != STORAGE_COMMITMENT_INSTANCE:
            return None   # No such SOP Instance: the service has one, the well-known one
        request = decode_dataset(info, req.transfer_syntax) if info else None
        for keyword in ("TransactionUID", "ReferencedSOPSequence"):
            if request is None or keyword not in request:
                raise NServiceRefusal(f"the request has no {keyword}", status=MISSING_ATTRIBUTE)
        report, event_type = self.commit(request)
        req.event_report(event_type, encode_dataset(report, req.transfer_syntax))
        return Status.SUCCESS

    def commit(self, request) -> tuple:
        """(event information, event type) for a Storage Commitment request data set."""
        from pydicom.dataset import Dataset
        held = self.index.instances()
        committed, failed = [], []
        for item in request.ReferencedSOPSequence:
            sop_class = str(item.get("ReferencedSOPClassUID", "") or "")
            sop_instance = str(item.get("ReferencedSOPInstanceUID", "") or "")
            stored_class = held.get(sop_instance)
            if not sop_class or not sop_instance:
                reason = PROCESSING_FAILURE
            elif stored_class is None:
                reason = NO_SUCH_OBJECT_INSTANCE
            elif stored_class != sop_class:
                reason = CLASS_INSTANCE_CONFLICT
            else:
                reason = None
            ref = Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = sop_class, sop_instance
            if reason is None:
                committed.append(ref)
            else:
                ref.FailureReason = reason
                failed.append(ref)
        report = Dataset()
        report.TransactionUID = request.TransactionUID
        if self.retrieve_ae and committed:
            report.RetrieveAETitle = self.retrieve_ae
        if committed or not failed:   # event type 1 always has it, even empty
            report.ReferencedSOPSequence = committed
        if failed:
            report.FailedSOPSequence = failed
        log.info("storage commitment %s: %d committed, %d failed", request.TransactionUID,
                 len(committed), len(failed))
        return report, SOME_FAILED if failed else ALL_COMMITTED


__all__ = ["ALL_COMMITTED", "CLASS_INSTANCE_CONFLICT", "NO_SUCH_OBJECT_INSTANCE",
           "SOME_FAILED", "STORAGE_COMMITMENT_INSTANCE", "STORAGE_COMMITMENT_SOP_CLASS",
           "StorageCommitmentService"]
