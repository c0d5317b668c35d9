"""Query/Retrieve SCU: ``find``, ``move`` and ``get`` (PS3.4 Annex C), plain or TLS.

``identifier``: a pydicom Dataset, or DCMTK-style ``-k`` keys (``["QueryRetrieveLevel=STUDY",
"PatientID=123", "StudyInstanceUID"]``). ``model``: "study" (Study Root, the default) or
"patient" (Patient Root).

``get`` receives the C-STORE sub-operations on its own association (it proposes the storage
SOP classes with SCP/SCU Role Selection, SCP role) and writes them with the Storage SCP's
streaming writer (``storage.scp.StorageService``: temporary file, fsync, rename). Each storage
SOP class gets a context with the uncompressed little-endian syntaxes; the common image classes
(``GET_COMPRESSED_KEYWORDS``, or the first of the caller's classes while the 128 contexts
last) also get one context per compressed syntax (``GET_COMPRESSED_SYNTAXES``), so compressed
objects come back as stored (an SCP accepts one syntax per context).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Optional, Sequence

from ..dimse.messages import C_CANCEL_RQ, C_FIND_RQ, C_GET_RQ, C_MOVE_RQ
from ..io.association_runner import associate
from ..io.served import ServedAssociation
from ..io.services import ServiceLink, ServiceRegistry
from ..io.worker import JobDone
from ..storage.part10 import COMPRESSED_TRANSFER_SYNTAXES, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
from ..ul.association import (Aborted, DatasetComplete, DatasetFragment, DatasetStarted,
                              MessageReceived)
from ..ul.user_info import SCPSCURoleSelection
from ..ul.negotiation import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from ._dataset import SOP_CLASS, decode_identifier, encode_identifier, identifier_from_keys

log = logging.getLogger(__name__)

#: Storage SOP classes a C-GET proposes by default (pydicom keywords; 120 at most fit).
GET_STORAGE_KEYWORDS = (
    "CTImageStorage", "EnhancedCTImageStorage", "MRImageStorage", "EnhancedMRImageStorage",
    "ComputedRadiographyImageStorage", "DigitalXRayImageStorageForPresentation",
    "DigitalXRayImageStorageForProcessing", "DigitalMammographyXRayImageStorageForPresentation",
    "UltrasoundImageStorage", "UltrasoundMultiFrameImageStorage",
    "SecondaryCaptureImageStorage", "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "MultiFrameTrueColorSecondaryCaptureImageStorage", "NuclearMedicineImageStorage",
    "PositronEmissionTomographyImageStorage", "EnhancedPETImageStorage",
    "XRayAngiographicImageStorage", "XRayRadiofluoroscopicImageStorage",
    "RTImageStorage", "RTDoseStorage", "RTStructureSetStorage", "RTPlanStorage",
    "RTIonPlanStorage", "BasicTextSRStorage", "EnhancedSRStorage", "ComprehensiveSRStorage",
    "GrayscaleSoftcopyPresentationStateStorage", "EncapsulatedPDFStorage",
    "VLPhotographicImageStorage", "VLEndoscopicImageStorage", "SegmentationStorage",
    "RawDataStorage", "SpatialRegistrationStorage", "KeyObjectSelectionDocumentStorage",
    "OphthalmicPhotography8BitImageStorage", "XRay3DAngiographicImageStorage",
    "BreastTomosynthesisImageStorage", "LegacyConvertedEnhancedCTImageStorage",
    "LegacyConvertedEnhancedMRImageStorage",
)
GET_TRANSFER_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
#: Compressed syntaxes a C-GET also proposes (one context each) for the classes below.
GET_COMPRESSED_SYNTAXES = COMPRESSED_TRANSFER_SYNTAXES + (DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,)
#: The default classes that get the compressed contexts: 40 + 8 x 10 + 1 (Q/R) = 121 <= 128.
GET_COMPRESSED_KEYWORDS = (
    "CTImageStorage", "MRImageStorage", "ComputedRadiographyImageStorage",
    "DigitalXRayImageStorageForPresentation",
    "DigitalMammographyXRayImageStorageForPresentation", "UltrasoundImageStorage",
    "UltrasoundMultiFrameImageStorage", "SecondaryCaptureImageStorage",
)
MAX_CONTEXTS = 128


def get_storage_classes() -> tuple[str, ...]:
    import pydicom.uid
    return tuple(str(getattr(pydicom.uid, k)) for k in GET_STORAGE_KEYWORDS
                 if hasattr(pydicom.uid, k))


def plan_get_contexts(classes: Sequence[str], compressed_for: Optional[Sequence[str]] = None,
                      reserved: int = 1) -> list[tuple[str, list[str]]]:
    """The storage contexts a C-GET proposes: one uncompressed context per class, then one
    context per compressed syntax for the classes of ``compressed_for`` (default: all of
    ``classes`` in order) while the total stays within 128 (``reserved``: the Q/R contexts)."""
    classes = list(dict.fromkeys(classes))
    budget = MAX_CONTEXTS - reserved
    if len(classes) > budget:
        raise ValueError(f"{len(classes)} storage SOP classes do not fit in {budget} "
                         "presentation contexts")
    contexts = [(uid, list(GET_TRANSFER_SYNTAXES)) for uid in classes]
    for uid in (classes if compressed_for is None else
                [u for u in dict.fromkeys(compressed_for) if u in classes]):
        if len(contexts) + len(GET_COMPRESSED_SYNTAXES) > budget:
            break
        contexts.extend((uid, [ts]) for ts in GET_COMPRESSED_SYNTAXES)
    return contexts


def _default_compressed() -> tuple[str, ...]:
    import pydicom.uid
    return tuple(str(getattr(pydicom.uid, k)) for k in GET_COMPRESSED_KEYWORDS
                 if hasattr(pydicom.uid, k))


@dataclass
class QueryResult:
    """What a C-FIND/C-MOVE/C-GET returned: the final status, the matches (C-FIND), the
    sub-operation counts (C-MOVE/C-GET) and, for C-GET, the files written."""

    status: Optional[int] = None
    matches: list = field(default_factory=list)
    responses: int = 0
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list = field(default_factory=list)
    stored: list = field(default_factory=list)
    session: object = None
    error_comment: Optional[str] = None

    def to_dict(self) -> dict:
        return {"status": self.status, "matches": [_json(m) for m in self.matches],
                "completed": self.completed, "failed": self.failed, "warning": self.warning,
                "failed_uids": self.failed_uids, "stored": self.stored,
                "error_comment": self.error_comment,
                "session": self.session.to_dict() if self.session is not None else None}


def _json(ds) -> dict:
    out = {}
    for elem in ds:
        if elem.VR == "SQ":
            continue
        value = elem.value
        if type(value).__name__ == "MultiValue":
            value = [str(v) for v in value]
        elif value is not None and not isinstance(value, (int, float)):
            value = str(value)
        out[elem.keyword or str(elem.tag)] = value
    return out


def _identifier(identifier):
    if isinstance(identifier, (list, tuple)):
        identifier = identifier_from_keys(identifier)
    if "QueryRetrieveLevel" not in identifier:
        identifier.QueryRetrieveLevel = "STUDY"
    return identifier


def _update(result: QueryResult, msg) -> None:
    for name in ("completed", "failed", "warning"):
        value = getattr(msg, f"number_of_{name}_suboperations", None)
        if value is not None:
            setattr(result, name, value)
    result.status = msg.status
    result.error_comment = getattr(msg, "error_comment", None)


def _run(assoc, context_id, rq, ts, identifier, result, *, on_store=None,
         max_results: Optional[int] = None, on_match: Optional[Callable] = None,
         cancel_after: Optional[int] = None):
    """Send ``rq`` and read until its final response; C-CANCEL once ``max_results`` matches
    or ``cancel_after`` Pending responses arrived. ``on_store(event)``: the C-STORE
    sub-operations of a C-GET, as streaming events."""
    pending = 0
    assoc.send_message(context_id, rq, encode_identifier(identifier, ts))
    cancelled = False
    while True:
        event = assoc.next_event()
        if event is None or isinstance(event, Aborted):
            assoc._unexpected(event)
        if on_store is not None and isinstance(event, _STORE_EVENTS):
            on_store(event)
            assoc.driver.flush()
            continue
        if not isinstance(event, MessageReceived):
            continue
        msg = event.message
        if msg.is_request or getattr(msg, "message_id_being_responded_to", None) != rq.message_id:
            assoc.dispatch_request(event)  # a request from the peer is answered, not dropped
            continue
        result.responses += 1
        _update(result, msg)
        if msg.status in (0xFF00, 0xFF01):
            if event.dataset and isinstance(rq, C_FIND_RQ):
                ds = decode_identifier(event.dataset, ts)
                result.matches.append(ds)
                if on_match is not None:
                    on_match(ds)
            pending += 1
            if not cancelled and (
                    (max_results is not None and len(result.matches) >= max_results) or
                    (cancel_after is not None and pending >= cancel_after)):
                assoc.send_message(context_id, C_CANCEL_RQ(
                    message_id_being_responded_to=rq.message_id))
                cancelled = True
            continue
        if event.dataset:
            ds = decode_identifier(event.dataset, ts)
            result.failed_uids = list(getattr(ds, "FailedSOPInstanceUIDList", []) or [])
            if isinstance(result.failed_uids, str):
                result.failed_uids = [result.failed_uids]
        return result


#: What the storage service of a C-GET SCU receives (JobDone: should it finish objects on a
#: background worker, its results come back on this association too).
_STORE_EVENTS = (DatasetStarted, DatasetFragment, DatasetComplete, JobDone)


def _query(host, port, service: str, identifier, model: str, assoc_kw: dict, *,
           rq_fields=None, storage_contexts=(), extra_user_items=(), on_open=None,
           **run_kw) -> QueryResult:
    """One C-FIND/C-MOVE/C-GET on its own association: open it, send the request, read to the
    final response, release. ``on_open(assoc, result)`` returns the ``on_store`` of a C-GET."""
    identifier = _identifier(identifier)
    sop_class = SOP_CLASS[(model, service)]
    contexts = [(sop_class, [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]),
                *storage_contexts]
    assoc = associate(host, port, contexts=contexts, extra_user_items=extra_user_items,
                      stream_datasets=bool(storage_contexts), **assoc_kw)
    result = QueryResult(session=assoc.session)
    rq_type = {"find": C_FIND_RQ, "move": C_MOVE_RQ, "get": C_GET_RQ}[service]
    with assoc:
        on_store = on_open(assoc, result) if on_open is not None else None
        ctx = assoc.context_for(sop_class)
        rq = rq_type(message_id=assoc.next_message_id(), affected_sop_class_uid=sop_class,
                     **(rq_fields or {}))
        _run(assoc, ctx, rq, assoc.contexts[ctx].transfer_syntax, identifier, result,
             on_store=on_store, **run_kw)
    return result


def find(host: str, port: int, identifier, *, model: str = "study",
         max_results: Optional[int] = None, on_match: Optional[Callable] = None,
         **assoc_kw) -> QueryResult:
    """C-FIND; ``max_results``: send a C-CANCEL once that many matches arrived (the SCP then
    ends with 0xFE00). ``assoc_kw``: ``associate``'s options (tls_config, called_ae, ...)."""
    return _query(host, port, "find", identifier, model, assoc_kw, max_results=max_results,
                  on_match=on_match)


def move(host: str, port: int, destination: str, identifier, *, model: str = "study",
         cancel_after: Optional[int] = None, **assoc_kw) -> QueryResult:
    """C-MOVE to the AE title ``destination`` (which the SCP must know). ``cancel_after``:
    send a C-CANCEL once that many Pending responses arrived (the SCP then stops between
    sub-operations and ends with 0xFE00)."""
    return _query(host, port, "move", identifier, model, assoc_kw,
                  rq_fields={"move_destination": destination}, cancel_after=cancel_after)


def get(host: str, port: int, out_dir, identifier, *, model: str = "study",
        storage_classes: Optional[Sequence[str]] = None, cancel_after: Optional[int] = None,
        **assoc_kw) -> QueryResult:
    """C-GET: the matching instances come back on this association and are written into
    ``out_dir`` as ``<SOPInstanceUID>.dcm``. ``storage_classes``: the SOP classes to accept
    (default ``get_storage_classes()``); compressed contexts go to the first of them while
    the 128 presentation contexts last (by default to ``GET_COMPRESSED_KEYWORDS``).
    ``cancel_after``: as for ``move``."""
    from ..storage.scp import StorageService
    classes = tuple(storage_classes or get_storage_classes())
    os.makedirs(out_dir, exist_ok=True)
    opened = []

    def on_open(assoc, result):
        """We are the Storage SCP of the sub-operations: the storage service writes them, on
        a link over this association (the source of the files is the AE we called)."""
        writer = StorageService(out_dir, on_stored=lambda path, msg: result.stored.append(path),
                                sop_classes=classes)
        link = ServiceLink(assoc.assoc, assoc.driver, ServedAssociation(),
                           calling_ae=assoc.assoc.request_pdu.called_ae_title.strip())
        registry = ServiceRegistry([writer])
        opened.append((registry, link))
        return partial(registry.dispatch, link)

    try:
        return _query(host, port, "get", identifier, model, assoc_kw,
                      storage_contexts=plan_get_contexts(
                          classes, None if storage_classes else _default_compressed()),
                      extra_user_items=[SCPSCURoleSelection(uid, False, True)
                                        for uid in classes],
                      on_open=on_open, cancel_after=cancel_after)
    finally:
        for registry, link in opened:
            registry.close(link)   # a partial object is discarded


__all__ = ["GET_COMPRESSED_KEYWORDS", "GET_COMPRESSED_SYNTAXES", "GET_STORAGE_KEYWORDS",
           "QueryResult", "find", "get", "get_storage_classes", "move", "plan_get_contexts"]
