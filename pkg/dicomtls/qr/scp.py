"""Query/Retrieve SCP (PS3.4 Annex C) over a storage directory, beside Storage and Verification.

``QRHandler`` extends the Storage SCP's handler (``storage.scp.StorageHandler``), so one
association can C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET:

* C-FIND: one Pending (0xFF00) response per match with its identifier, then Success; a C-CANCEL
  for the request (looked for between responses, without blocking) ends it with 0xFE00.
* C-MOVE: opens a sub-association to the destination looked up in ``ae_table``
  ({AE title: (host, port)}; unknown: 0xA801) *with the TLS settings of the association that
  asked* (plain stays plain, TLS uses the server's TLSConfig, or ``move_tls_config``), sends
  each instance by C-STORE (as stored, or converted between the uncompressed little-endian
  syntaxes), and reports Pending responses with remaining/completed/failed/warning counts.
* C-GET: the same C-STORE sub-operations on the asking association, over the storage contexts
  the requestor proposed with SCP/SCU Role Selection (we accept the roles it proposed).

Final status: 0x0000, 0xB000 (some sub-operations failed; the Failed SOP Instance UID List
comes with it), 0xA702 (all failed), 0xFE00 (cancelled).
"""

from __future__ import annotations

import logging
from typing import Mapping, Optional

from ..dimse.messages import (C_CANCEL_RQ, C_FIND_RQ, C_FIND_RSP, C_GET_RQ, C_GET_RSP,
                              C_MOVE_RQ, C_MOVE_RSP, C_STORE_RQ, C_STORE_RSP)
from ..dimse.status import category
from ..errors import DicomTLSError
from ..io.association_runner import ServedAssociation, associate
from ..storage.part10 import Part10Error, convert_dataset, open_dataset, read_dataset, read_meta
from ..storage.scp import SUPPORTED, StorageHandler, StorageServer, accept_contexts, \
    STORAGE_SOP_CLASSES
from ..storage.scu import _choose, plan_contexts
from ..ul.association import Aborted, MessageReceived
from ..ul.items import SCPSCURoleSelection
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

QR_SUPPORTED = dict(SUPPORTED)
QR_SUPPORTED.update({uid: QR_TRANSFER_SYNTAXES for uid in QR_SOP_CLASSES})


#: Q/R operations are a first-class field of ``ServedAssociation`` now (``operations``, counted
#: by its ``summary()``); the old name stays for callers that imported it.
QRServedAssociation = ServedAssociation


class _Stop(Exception):
    """The asking association is gone: stop the operation without answering."""


class QRHandler(StorageHandler):
    """Storage + Q/R service for ``serve_association``."""

    def __init__(self, out_dir, *, index: Optional[StorageIndex] = None,
                 ae_table: Optional[Mapping[str, tuple]] = None, tls_config=None,
                 ae_title: str = "DICOMTLS", timeout: Optional[float] = 30.0, on_stored=None,
                 fsync: bool = True):
        super().__init__(out_dir, on_stored=on_stored, fsync=fsync)
        self.index = index if index is not None else StorageIndex(out_dir)
        self.ae_table = {k.strip(): tuple(v) for k, v in (ae_table or {}).items()}
        self.tls_config = tls_config
        self.ae_title = ae_title
        self.timeout = timeout
        self.driver = None
        self._deferred: list = []
        self._store_id = 0
        self._cancel_ids: set = set()
        self.operations: list[dict] = []

    # -- serve_association hooks --
    def attach(self, driver) -> None:
        self.driver = driver

    def accept_contexts(self, rq):
        self.calling_ae = rq.calling_ae_title.strip()
        return accept_contexts(rq.presentation_contexts, QR_SUPPORTED)

    def accept_user_items(self, rq):
        """Accept the roles proposed for storage SOP classes (C-GET needs us as their SCU),
        after the Storage SCP's answer to an Asynchronous Operations Window."""
        ui = rq.user_information
        items = ui.role_selections if ui is not None else ()
        return super().accept_user_items(rq) + tuple(
            SCPSCURoleSelection(i.sop_class_uid, i.scu_role, i.scp_role)
            for i in items if i.sop_class_uid in STORAGE_SOP_CLASSES)

    def handle(self, assoc, event, result: ServedAssociation) -> bool:
        if isinstance(event, MessageReceived):
            msg = event.message
            if isinstance(msg, C_CANCEL_RQ):
                return True  # nothing of that ID is running any more
            if isinstance(msg, (C_FIND_RQ, C_MOVE_RQ, C_GET_RQ)):
                try:
                    self._serve(assoc, event, result)
                except _Stop:
                    pass
                finally:
                    for ev in self._deferred:
                        self.driver.unread(ev)
                    self._deferred = []
                    self._cancel_ids.clear()
                return True
        return super().handle(assoc, event, result)

    # -- the operations --
    def _serve(self, assoc, event, result) -> None:
        msg, ctx = event.message, event.context_id
        rsp_cls = {C_FIND_RQ: C_FIND_RSP, C_MOVE_RQ: C_MOVE_RSP, C_GET_RQ: C_GET_RSP}[type(msg)]
        ts = assoc.contexts[ctx].transfer_syntax
        model, service = QR_SOP_CLASSES.get(msg.affected_sop_class_uid, (None, None))
        op = {"service": {C_FIND_RQ: "find", C_MOVE_RQ: "move", C_GET_RQ: "get"}[type(msg)],
              "status": None}
        if isinstance(msg, C_MOVE_RQ):
            op["destination"] = (msg.move_destination or "").strip()
        if isinstance(msg, C_FIND_RQ):
            op["matches"] = 0
        self.operations.append(op)
        result.operations.append(op)  # the same dict: it fills in as the operation goes on

        def respond(status, identifier=None, **counts):
            if not assoc.is_established:
                raise _Stop()
            comment = counts.pop("error_comment", None)
            if status in (PENDING, 0xFF01):
                if "matches" in op:
                    op["matches"] += 1
            else:
                op["status"] = status
                for name in ("completed", "failed", "warning"):
                    value = counts.get(f"number_of_{name}_suboperations")
                    if value is not None:
                        op[name] = value
            assoc.send_message(ctx, rsp_cls(
                message_id_being_responded_to=msg.message_id, status=status,
                affected_sop_class_uid=msg.affected_sop_class_uid,
                error_comment=comment[:64] if comment else None, **counts),
                None if identifier is None else encode_identifier(identifier, ts))
            self.driver.flush()

        try:
            identifier = decode_identifier(event.dataset, ts)
            if model is None:
                raise QueryError(f"{msg.affected_sop_class_uid} is not a Q/R SOP class", 0xA900)
            if service == "find":
                matches = self.index.find(identifier, model)
            else:
                records = self.index.retrieve(identifier, model)
        except QueryError as exc:
            respond(exc.status, error_comment=str(exc))
            return
        except Exception as exc:  # an identifier pydicom cannot parse
            log.warning("%s identifier: %s", msg.name, exc)
            respond(UNABLE_TO_PROCESS, error_comment=f"cannot process the identifier: {exc}")
            return
        if service == "find":
            for match in matches:
                if self._cancelled(msg.message_id):
                    respond(CANCEL)
                    return
                respond(PENDING, match)
            respond(SUCCESS)
            return
        self._retrieve(assoc, msg, records, respond, result)

    def _cancelled(self, message_id: int) -> bool:
        """Look (without blocking) for a C-CANCEL of ``message_id``; other events wait."""
        if message_id in self._cancel_ids:
            self._cancel_ids.clear()
            return True
        while True:
            event = self.driver.poll_event()
            if event is None:
                return False
            if isinstance(event, MessageReceived) and isinstance(event.message, C_CANCEL_RQ):
                if event.message.message_id_being_responded_to == message_id:
                    return True
                continue
            self._deferred.append(event)
            if isinstance(event, Aborted) or not self.driver.assoc.is_established:
                raise _Stop()

    def _retrieve(self, assoc, msg, records, respond, result) -> None:
        total = len(records)
        done = {"completed": 0, "failed": 0, "warning": 0}
        failed_uids: list[str] = []
        sub = None
        if isinstance(msg, C_MOVE_RQ):
            dest = (msg.move_destination or "").strip()
            if dest not in self.ae_table:
                respond(MOVE_DESTINATION_UNKNOWN, error_comment=f"unknown destination {dest}")
                return
            if records:
                try:
                    sub = self._open_sub_association(dest, records, assoc)
                except (DicomTLSError, OSError) as exc:
                    log.warning("C-MOVE to %s: %s", dest, exc)
                    respond(UNABLE_SUBOPS, error_comment=f"cannot reach {dest}: {exc}")
                    return

        def counts(remaining=True):
            out = {"number_of_completed_suboperations": done["completed"],
                   "number_of_failed_suboperations": done["failed"],
                   "number_of_warning_suboperations": done["warning"]}
            if remaining:
                out["number_of_remaining_suboperations"] = \
                    total - done["completed"] - done["failed"] - done["warning"]
            return out

        def failed_list():
            if not failed_uids:
                return None
            from pydicom.dataset import Dataset
            ds = Dataset()
            ds.FailedSOPInstanceUIDList = failed_uids
            return ds

        try:
            for i, rec in enumerate(records):
                if self._cancelled(msg.message_id):
                    failed_uids.extend(r.key("IMAGE") for r in records[i:])
                    respond(CANCEL, failed_list(), **counts())
                    return
                if sub is not None:
                    status = self._store_over(sub, rec, msg)
                else:
                    status = self._store_back(assoc, rec)
                kind = "failed" if status is None or category(status) == "Failure" else \
                    "warning" if category(status) == "Warning" else "completed"
                done[kind] += 1
                if kind == "failed":
                    failed_uids.append(rec.key("IMAGE"))
                if i + 1 < total:
                    respond(PENDING, **counts())
        finally:
            if sub is not None:
                try:
                    sub.release()
                except (DicomTLSError, OSError):
                    sub.abort()
        if done["failed"] and not done["completed"] and not done["warning"]:
            status = UNABLE_SUBOPS
        elif done["failed"] or done["warning"]:
            status = SUBOPS_FAILED
        else:
            status = SUCCESS
        respond(status, failed_list(), **counts(remaining=False))

    def _open_sub_association(self, dest: str, records, asking):
        host, port = self.ae_table[dest]
        tls = self.tls_config if getattr(self.driver.transport, "session", None) else None
        metas = [read_meta(r.path) for r in records]
        return associate(host, int(port), tls_config=tls, called_ae=dest,
                         calling_ae=self.ae_title or "DICOMTLS", contexts=plan_contexts(metas),
                         timeout=self.timeout)

    @staticmethod
    def _dataset_for(contexts, rec):
        """(context id, data set bytes or chunks) for one record, or (None, reason)."""
        try:
            meta = read_meta(rec.path)
        except (Part10Error, OSError) as exc:
            return None, str(exc)

        class _View:  # _choose wants an object with .contexts
            pass
        view = _View()
        view.contexts = contexts
        ctx, syntax = _choose(view, meta)
        if ctx is None:
            return None, f"no accepted context for {meta.sop_class_uid} {meta.transfer_syntax_uid}"
        try:
            if syntax == meta.transfer_syntax_uid:
                return (ctx, meta), open_dataset(meta)  # read straight into the send buffer
            return (ctx, meta), convert_dataset(read_dataset(meta), meta.transfer_syntax_uid,
                                                syntax)
        except (Part10Error, OSError) as exc:
            return None, str(exc)

    def _store_over(self, sub, rec, move_rq) -> Optional[int]:
        """One C-STORE sub-operation on the C-MOVE sub-association; its status (None: failed
        before a response)."""
        where, data = self._dataset_for(sub.contexts, rec)
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
                    move_originator_application_entity_title=self.calling_ae or None,
                    move_originator_message_id=move_rq.message_id), data)
            finally:
                _close(data)
            return sub.wait_response(message_id, C_STORE_RSP).message.status
        except (DicomTLSError, OSError) as exc:
            log.warning("C-MOVE sub-operation failed: %s", exc)
            return None

    def _store_back(self, assoc, rec) -> Optional[int]:
        """One C-STORE sub-operation of a C-GET, on the asking association."""
        where, data = self._dataset_for(assoc.contexts, rec)
        if where is None:
            log.warning("C-GET: %s", data)
            return None
        ctx, meta = where
        self._store_id = self._store_id % 0xFFFF + 1
        message_id = self._store_id
        rq = C_STORE_RQ(message_id=message_id, affected_sop_class_uid=meta.sop_class_uid,
                        affected_sop_instance_uid=meta.sop_instance_uid, priority=0)
        try:
            if hasattr(data, "readinto"):
                self.driver.send_dataset(ctx, rq, data)
            else:
                assoc.send_message(ctx, rq, data)
                self.driver.flush()
        except OSError as exc:  # the file failed half-way: this message cannot be finished
            log.warning("C-GET: %s: %s", meta.path, exc)
            if assoc.fsm.allows("Evt15"):
                assoc.abort()
                self.driver.flush()
            raise _Stop() from exc
        finally:
            _close(data)
        while True:
            event = self.driver.next_event()
            if event is None or isinstance(event, Aborted):
                if event is not None:
                    self._deferred.append(event)
                raise _Stop()
            if isinstance(event, MessageReceived):
                if isinstance(event.message, C_STORE_RSP) and \
                        event.message.message_id_being_responded_to == message_id:
                    return event.message.status
                if isinstance(event.message, C_CANCEL_RQ):  # seen by the next _cancelled()
                    self._cancel_ids.add(event.message.message_id_being_responded_to)
                    continue
            self._deferred.append(event)


def _close(data) -> None:
    if hasattr(data, "close"):
        data.close()


class QRServer(StorageServer):
    """Verification + Storage + Query/Retrieve SCP over ``out_dir``: one thread per association.

    ``ae_table`` {AE title: (host, port)} names the C-MOVE destinations; the sub-associations
    use TLS (``move_tls_config``, default the server's ``tls_config``) when the asking
    association did."""

    def __init__(self, out_dir, host: str = "127.0.0.1", port: int = 0, *, ae_table=None,
                 index: Optional[StorageIndex] = None, move_tls_config=None, **kwargs):
        super().__init__(out_dir, host, port, **kwargs)
        self.ae_table = dict(ae_table or {})
        self.index = index if index is not None else StorageIndex(self.out_dir)
        self.move_tls_config = move_tls_config

    def serve_transport(self, transport) -> ServedAssociation:
        from ..io.association_runner import serve_association
        handler = QRHandler(self.out_dir, index=self.index, ae_table=self.ae_table,
                            tls_config=self.move_tls_config or self.tls_config,
                            ae_title=self.ae_title or "DICOMTLS", timeout=self.timeout,
                            on_stored=self.on_stored, fsync=self.fsync)
        result = serve_association(transport, ae_title=self.ae_title, supported=QR_SUPPORTED,
                                   timeout=self.timeout, handler=handler)
        log.info("%s", result.summary())
        return result


__all__ = ["QRHandler", "QRServedAssociation", "QRServer", "QR_SUPPORTED"]
