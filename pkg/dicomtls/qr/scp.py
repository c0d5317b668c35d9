"""Query/Retrieve SCP (PS3.4 Annex C) over a storage directory.

``QueryRetrieveService`` is an ``io.services.QueryRetrieveHandler``; ``QRServer`` composes it
with Verification and Storage, so one association can C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET:

* C-FIND: one Pending (0xFF00) response per match with its identifier, then Success; a C-CANCEL
  for the request (looked for between responses, without blocking) ends it with 0xFE00.
* C-MOVE: opens a sub-association to the destination looked up in ``ae_table``
  ({AE title: (host, port)}; unknown: 0xA801) *with the TLS settings of the association that
  asked* (plain stays plain, TLS uses ``tls_config``), sends each instance by C-STORE (as
  stored, or converted between the uncompressed little-endian syntaxes), and reports Pending
  responses with remaining/completed/failed/warning counts.
* C-GET: the same C-STORE sub-operations on the asking association, over the storage contexts
  the requestor proposed with SCP/SCU Role Selection (we accept the roles it proposed).

Final status: 0x0000, 0xB000 (some sub-operations failed; the Failed SOP Instance UID List
comes with it), 0xA702 (all failed), 0xFE00 (cancelled).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Mapping, Optional

from ..dimse.messages import C_FIND_RSP, C_GET_RSP, C_MOVE_RSP, C_STORE_RQ, C_STORE_RSP
from ..dimse.status import category
from ..errors import DicomTLSError
from ..io.association_runner import associate
from ..io.server import AssociationServer
from ..io.services import OperationStopped, ServiceBase, ServiceLink, VerificationService
from ..storage.part10 import (DatasetReader, Part10Error, convert_dataset, open_dataset,
                              read_dataset, read_meta)
from ..storage.scp import ASYNC_WINDOW, STORAGE_SOP_CLASSES, SUPPORTED, StorageService
from ..storage.scu import choose_context, plan_contexts
from ..ul.user_info import SCPSCURoleSelection
from ._dataset import QR_SOP_CLASSES, QR_TRANSFER_SYNTAXES, decode_identifier, encode_identifier
from .index import QueryError, StorageIndex

log = logging.getLogger(__name__)

PENDING = 0xFF00
CANCEL = 0xFE00
SUCCESS = 0x0000
SUBOPS_FAILED = 0xB000
UNABLE_SUBOPS = 0xA702
MOVE_DESTINATION_UNKNOWN = 0xA801
UNABLE_TO_PROCESS = 0xC000

#: The Q/R contexts, and the storage contexts a C-GET sends its sub-operations on.
QR_SUPPORTED = dict(SUPPORTED)
QR_SUPPORTED.update({uid: QR_TRANSFER_SYNTAXES for uid in QR_SOP_CLASSES})


class _Operation:
    """One C-FIND/C-MOVE/C-GET being answered: its responses and the record in ``operations``
    (the same dict as in ``ServedAssociation.operations``: it fills in as the operation goes)."""

    def __init__(self, link: ServiceLink, event, rsp_cls, service: str):
        self.link, self.event, self.rsp_cls = link, event, rsp_cls
        self.msg = event.message
        self.ts = link.transfer_syntax(event.context_id)
        self.record: dict = {"service": service, "status": None}
        link.result.operations.append(self.record)

    def respond(self, status: int, identifier=None, *, error_comment: Optional[str] = None,
                **counts) -> None:
        if not self.link.can_send:
            raise OperationStopped()
        if status in (PENDING, 0xFF01):
            if "matches" in self.record:
                self.record["matches"] += 1
        else:
            self.record["status"] = status
            for name in ("completed", "failed", "warning"):
                value = counts.get(f"number_of_{name}_suboperations")
                if value is not None:
                    self.record[name] = value
        self.link.send(self.event.context_id, self.rsp_cls(
            message_id_being_responded_to=self.msg.message_id, status=status,
            affected_sop_class_uid=self.msg.affected_sop_class_uid,
            error_comment=error_comment[:64] if error_comment else None, **counts),
            None if identifier is None else encode_identifier(identifier, self.ts))
        self.link.flush()

    def select(self, index: StorageIndex):
        """The matches (C-FIND) or the records to send (C-MOVE, C-GET); None after answering
        a failure."""
        model, service = QR_SOP_CLASSES.get(self.msg.affected_sop_class_uid, (None, None))
        try:
            identifier = decode_identifier(self.event.dataset, self.ts)
            if model is None:
                raise QueryError(f"{self.msg.affected_sop_class_uid} is not a Q/R SOP class",
                                 0xA900)
            if service == "find":
                return index.find(identifier, model)
            return index.retrieve(identifier, model)
        except QueryError as exc:
            self.respond(exc.status, error_comment=str(exc))
        except Exception as exc:  # an identifier pydicom cannot parse
            log.warning("%s identifier: %s", self.msg.name, exc)
            self.respond(UNABLE_TO_PROCESS, error_comment=f"cannot process the identifier: {exc}")
        return None


class QueryRetrieveService(ServiceBase):
    """C-FIND, C-MOVE and C-GET over ``index`` (shared by every association: it is
    thread-safe). ``ae_table`` {AE title: (host, port)} names the C-MOVE destinations;
    ``tls_config`` is used for a C-MOVE sub-association when the asking association runs over
    TLS; ``ae_title`` is our calling AE title there."""

    supported = QR_SUPPORTED

    def __init__(self, index: StorageIndex, *, ae_table: Optional[Mapping[str, tuple]] = None,
                 tls_config=None, ae_title: str = "DICOMTLS", timeout: Optional[float] = 30.0):
        self.index = index
        self.ae_table = {k.strip(): tuple(v) for k, v in (ae_table or {}).items()}
        self.tls_config = tls_config
        self.ae_title = ae_title
        self.timeout = timeout

    def accept_user_items(self, link: ServiceLink, rq) -> tuple:
        """Accept the roles proposed for storage SOP classes (C-GET needs us as their SCU)."""
        ui = rq.user_information
        items = ui.role_selections if ui is not None else ()
        return tuple(SCPSCURoleSelection(i.sop_class_uid, i.scu_role, i.scp_role)
                     for i in items if i.sop_class_uid in STORAGE_SOP_CLASSES)

    def c_find(self, link: ServiceLink, event) -> None:
        op = _Operation(link, event, C_FIND_RSP, "find")
        op.record["matches"] = 0
        matches = op.select(self.index)
        if matches is None:
            return
        for match in matches:
            if link.cancelled(op.msg.message_id):
                op.respond(CANCEL)
                return
            op.respond(PENDING, match)
        op.respond(SUCCESS)

    def c_move(self, link: ServiceLink, event) -> None:
        op = _Operation(link, event, C_MOVE_RSP, "move")
        dest = op.record["destination"] = (op.msg.move_destination or "").strip()
        records = op.select(self.index)
        if records is None:
            return
        if dest not in self.ae_table:
            op.respond(MOVE_DESTINATION_UNKNOWN, error_comment=f"unknown destination {dest}")
            return
        sub = None
        if records:
            try:
                sub = self._open_sub_association(link, dest, records)
            except (DicomTLSError, OSError) as exc:
                log.warning("C-MOVE to %s: %s", dest, exc)
                op.respond(UNABLE_SUBOPS, error_comment=f"cannot reach {dest}: {exc}")
                return
        try:
            self._retrieve(op, records, partial(self._store_over, sub, link))
        finally:
            if sub is not None:
                try:
                    sub.release()
                except (DicomTLSError, OSError):
                    sub.abort()

    def c_get(self, link: ServiceLink, event) -> None:
        op = _Operation(link, event, C_GET_RSP, "get")
        records = op.select(self.index)
        if records is not None:
            self._retrieve(op, records, partial(_store_back, link))

    def _retrieve(self, op: _Operation, records, store_one) -> None:
        """The C-STORE sub-operations (``store_one(record, request)`` -> status or None),
        with a Pending response after each but the last, then the final status."""
        total = len(records)
        done = {"completed": 0, "failed": 0, "warning": 0}
        failed_uids: list[str] = []

        def counts(remaining=True):
            out = {f"number_of_{name}_suboperations": n for name, n in done.items()}
            if remaining:
                out["number_of_remaining_suboperations"] = total - sum(done.values())
            return out

        for i, rec in enumerate(records):
            if op.link.cancelled(op.msg.message_id):
                failed_uids.extend(r.key("IMAGE") for r in records[i:])
                op.respond(CANCEL, _failed_list(failed_uids), **counts())
                return
            status = store_one(rec, op.msg)
            kind = "failed" if status is None or category(status) == "Failure" else \
                "warning" if category(status) == "Warning" else "completed"
            done[kind] += 1
            if kind == "failed":
                failed_uids.append(rec.key("IMAGE"))
            if i + 1 < total:
                op.respond(PENDING, **counts())
        if done["failed"] and not done["completed"] and not done["warning"]:
            status = UNABLE_SUBOPS
        elif done["failed"] or done["warning"]:
            status = SUBOPS_FAILED
        else:
            status = SUCCESS
        op.respond(status, _failed_list(failed_uids), **counts(remaining=False))

    def _open_sub_association(self, link: ServiceLink, dest: str, records):
        host, port = self.ae_table[dest]
        metas = [read_meta(r.path) for r in records]
        return associate(host, int(port), tls_config=self.tls_config if link.secure else None,
                         called_ae=dest, calling_ae=self.ae_title or "DICOMTLS",
                         contexts=plan_contexts(metas), timeout=self.timeout)

    def _store_over(self, sub, link: ServiceLink, rec, move_rq) -> Optional[int]:
        """One C-STORE sub-operation on the C-MOVE sub-association; its status (None: failed
        before a response)."""
        where, data = _dataset_for(sub.contexts, rec)
        if where is None:
            log.warning("C-MOVE: %s", data)
            return None
        ctx, meta = where
        message_id = sub.next_message_id()
        try:
            try:
                sub.send_message(ctx, C_STORE_RQ(
                    message_id=message_id, affected_sop_class_uid=meta.sop_class_uid,
                    affected_sop_instance_uid=meta.sop_instance_uid, priority=0,
                    move_originator_application_entity_title=link.calling_ae or None,
                    move_originator_message_id=move_rq.message_id), data)
            finally:
                _close(data)
            return sub.wait_response(message_id, C_STORE_RSP).message.status
        except (DicomTLSError, OSError) as exc:
            log.warning("C-MOVE sub-operation failed: %s", exc)
            return None


def _store_back(link: ServiceLink, rec, get_rq) -> Optional[int]:
    """One C-STORE sub-operation of a C-GET, on the asking association."""
    where, data = _dataset_for(link.assoc.contexts, rec)
    if where is None:
        log.warning("C-GET: %s", data)
        return None
    ctx, meta = where
    message_id = link.next_message_id()
    rq = C_STORE_RQ(message_id=message_id, affected_sop_class_uid=meta.sop_class_uid,
                    affected_sop_instance_uid=meta.sop_instance_uid, priority=0)
    try:
        if isinstance(data, DatasetReader):
            link.send_file(ctx, rq, data)
        else:
            link.send(ctx, rq, data)
            link.flush()
    except OSError as exc:  # the file failed half-way: this message cannot be finished
        log.warning("C-GET: %s: %s", meta.path, exc)
        link.abort()
        raise OperationStopped() from exc
    finally:
        _close(data)
    return link.wait_response(message_id, C_STORE_RSP).status


def _dataset_for(contexts, rec):
    """(context id, file meta) and the data set (a reader, or converted bytes) for one record,
    or (None, the reason it cannot be sent)."""
    try:
        meta = read_meta(rec.path)
    except (Part10Error, OSError) as exc:
        return None, str(exc)
    ctx, syntax = choose_context(contexts, meta)
    if ctx is None:
        return None, f"no accepted context for {meta.sop_class_uid} {meta.transfer_syntax_uid}"
    try:
        if syntax == meta.transfer_syntax_uid:
            return (ctx, meta), open_dataset(meta)  # read straight into the send buffer
        return (ctx, meta), convert_dataset(read_dataset(meta), meta.transfer_syntax_uid, syntax)
    except (Part10Error, OSError) as exc:
        return None, str(exc)


def _failed_list(failed_uids: list):
    if not failed_uids:
        return None
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.FailedSOPInstanceUIDList = failed_uids
    return ds


def _close(data) -> None:
    if isinstance(data, DatasetReader):
        data.close()


def QRServer(out_dir, host: str = "127.0.0.1", port: int = 0, *, ae_table=None,
             index: Optional[StorageIndex] = None, move_tls_config=None, on_stored=None,
             fsync: bool = True, async_window: int = ASYNC_WINDOW, **kwargs):
    """Verification + Storage + Query/Retrieve SCP over ``out_dir``: an
    ``io.server.AssociationServer`` (``kwargs``: ``tls_config``, ``ae_title``, ``timeout``,
    ``on_result``, ...). ``ae_table`` {AE title: (host, port)} names the C-MOVE destinations;
    the sub-associations use TLS (``move_tls_config``, default the server's ``tls_config``)
    when the asking association did."""
    qr = QueryRetrieveService(
        index if index is not None else StorageIndex(out_dir), ae_table=ae_table,
        tls_config=move_tls_config or kwargs.get("tls_config"),
        ae_title=kwargs.get("ae_title") or "DICOMTLS", timeout=kwargs.get("timeout", 30.0))
    storage = partial(StorageService, out_dir, on_stored=on_stored, fsync=fsync,
                      async_window=async_window)
    # The Q/R service keeps no per-association state: every association shares it.
    return AssociationServer(host, port, services=(VerificationService, storage, lambda: qr),
                             **kwargs)


__all__ = ["QRServer", "QR_SUPPORTED", "QueryRetrieveService"]
