"""LDicomNet facade, DIMSE part: the ``Send{C,N}*`` members as thin wrappers over
``Association.send_message`` with the ``dimse.messages`` classes.

A data set is bytes already in the presentation context's transfer syntax, or a pydicom
``Dataset``, encoded here with that transfer syntax (Implicit/Explicit VR Little Endian, Explicit
VR Big Endian).
"""

from __future__ import annotations

from typing import Optional

from ..dimse import messages as m
from .events import PDU_DATA



def encode_dataset(dataset, transfer_syntax: Optional[str]):
    """Bytes as given; a pydicom Dataset encoded in ``transfer_syntax``."""
    if dataset is None or isinstance(dataset, (bytes, bytearray, memoryview)):
        return dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    out = DicomBytesIO()
    out.is_little_endian = transfer_syntax != "1.2.840.10008.1.2.2"
    out.is_implicit_VR = transfer_syntax == "1.2.840.10008.1.2"
    write_dataset(out, dataset)
    return out.getvalue()



class DimseSends:
    """The DIMSE-C and DIMSE-N ``send_*`` members (mixin of LDicomNet)."""

    def _send_message(self, pid, message, dataset=None) -> int:
        def op():
            msg = message
            replaced = self._fire("on_before_send_command_set", msg)
            if isinstance(replaced, m.DIMSEMessage):
                msg = replaced
            ctx = self._assoc.contexts.get(pid) if self._assoc is not None else None
            data = encode_dataset(dataset, ctx.transfer_syntax if ctx else None)
            self._assoc.send_message(pid, msg, data)
        return self._submit(op, PDU_DATA)


    # ---- DIMSE-C ---------------------------------------------------------------------------------
    def send_c_echo_request(self, pid, message_id, class_uid) -> int:
        return self._send_message(pid, m.C_ECHO_RQ(message_id=message_id,
                                                   affected_sop_class_uid=class_uid))

    def send_c_echo_response(self, pid, message_id, class_uid, status) -> int:
        return self._send_message(pid, m.C_ECHO_RSP(message_id_being_responded_to=message_id,
                                                    affected_sop_class_uid=class_uid,
                                                    status=status))

    def send_c_store_request(self, pid, message_id, class_uid, instance_uid, priority=0,
                             move_ae=None, move_message_id=None, dataset=None) -> int:
        return self._send_message(pid, m.C_STORE_RQ(
            message_id=message_id, affected_sop_class_uid=class_uid, priority=priority,
            affected_sop_instance_uid=instance_uid,
            move_originator_application_entity_title=move_ae or None,
            move_originator_message_id=move_message_id if move_ae else None), dataset)

    def send_c_store_response(self, pid, message_id, class_uid, instance_uid, status) -> int:
        return self._send_message(pid, m.C_STORE_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, status=status))

    def send_c_find_request(self, pid, message_id, class_uid, priority=0, dataset=None) -> int:
        return self._send_message(pid, m.C_FIND_RQ(message_id=message_id, priority=priority,
                                                   affected_sop_class_uid=class_uid), dataset)

    def send_c_find_response(self, pid, message_id, class_uid, status, dataset=None) -> int:
        return self._send_message(pid, m.C_FIND_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            status=status), dataset)

    def send_c_get_request(self, pid, message_id, class_uid, priority=0, dataset=None) -> int:
        return self._send_message(pid, m.C_GET_RQ(message_id=message_id, priority=priority,
                                                  affected_sop_class_uid=class_uid), dataset)

    def _counters(self, remaining, completed, failed, warning) -> dict:
        return dict(number_of_remaining_suboperations=remaining,
                    number_of_completed_suboperations=completed,
                    number_of_failed_suboperations=failed,
                    number_of_warning_suboperations=warning)

    def send_c_get_response(self, pid, message_id, class_uid, status, remaining=None,
                            completed=None, failed=None, warning=None, dataset=None) -> int:
        return self._send_message(pid, m.C_GET_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            status=status, **self._counters(remaining, completed, failed, warning)), dataset)

    def send_c_move_request(self, pid, message_id, class_uid, priority=0, move_ae=None,
                            dataset=None) -> int:
        return self._send_message(pid, m.C_MOVE_RQ(
            message_id=message_id, affected_sop_class_uid=class_uid, priority=priority,
            move_destination=move_ae), dataset)

    def send_c_move_response(self, pid, message_id, class_uid, status, remaining=None,
                             completed=None, failed=None, warning=None, dataset=None) -> int:
        return self._send_message(pid, m.C_MOVE_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            status=status, **self._counters(remaining, completed, failed, warning)), dataset)

    def send_c_cancel_request(self, pid, message_id) -> int:
        return self._send_message(pid, m.C_CANCEL_RQ(message_id_being_responded_to=message_id))

    # ---- DIMSE-N ---------------------------------------------------------------------------------
    def send_n_report_request(self, pid, message_id, class_uid, instance_uid, event,
                              dataset=None) -> int:
        return self._send_message(pid, m.N_EVENT_REPORT_RQ(
            message_id=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, event_type_id=event), dataset)

    def send_n_report_response(self, pid, message_id, class_uid, instance_uid, status, event,
                               dataset=None) -> int:
        return self._send_message(pid, m.N_EVENT_REPORT_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, status=status, event_type_id=event), dataset)

    def send_n_get_request(self, pid, message_id, class_uid, instance_uid,
                           attributes=None) -> int:
        return self._send_message(pid, m.N_GET_RQ(
            message_id=message_id, requested_sop_class_uid=class_uid,
            requested_sop_instance_uid=instance_uid,
            attribute_identifier_list=tuple(attributes) if attributes else None))

    def _n_rsp(self, cls, pid, message_id, class_uid, instance_uid, status, dataset=None, **kw):
        return self._send_message(pid, cls(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, status=status, **kw), dataset)

    def _n_rq(self, cls, pid, message_id, class_uid, instance_uid, dataset=None, **kw):
        return self._send_message(pid, cls(
            message_id=message_id, requested_sop_class_uid=class_uid,
            requested_sop_instance_uid=instance_uid, **kw), dataset)

    def send_n_get_response(self, pid, message_id, class_uid, instance_uid, status,
                            dataset=None) -> int:
        return self._n_rsp(m.N_GET_RSP, pid, message_id, class_uid, instance_uid, status, dataset)

    def send_n_set_request(self, pid, message_id, class_uid, instance_uid, dataset=None) -> int:
        return self._n_rq(m.N_SET_RQ, pid, message_id, class_uid, instance_uid, dataset)

    def send_n_set_response(self, pid, message_id, class_uid, instance_uid, status,
                            dataset=None) -> int:
        return self._n_rsp(m.N_SET_RSP, pid, message_id, class_uid, instance_uid, status, dataset)

    def send_n_action_request(self, pid, message_id, class_uid, instance_uid, action,
                              dataset=None) -> int:
        return self._n_rq(m.N_ACTION_RQ, pid, message_id, class_uid, instance_uid, dataset,
                          action_type_id=action)

    def send_n_action_response(self, pid, message_id, class_uid, instance_uid, status, action,
                               dataset=None) -> int:
        return self._n_rsp(m.N_ACTION_RSP, pid, message_id, class_uid, instance_uid, status,
                           dataset, action_type_id=action)

    def send_n_create_request(self, pid, message_id, class_uid, instance_uid=None,
                              dataset=None) -> int:
        return self._send_message(pid, m.N_CREATE_RQ(
            message_id=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid), dataset)

    def send_n_create_response(self, pid, message_id, class_uid, instance_uid, status,
                               dataset=None) -> int:
        return self._n_rsp(m.N_CREATE_RSP, pid, message_id, class_uid, instance_uid, status,
                           dataset)

    def send_n_delete_request(self, pid, message_id, class_uid, instance_uid) -> int:
        return self._n_rq(m.N_DELETE_RQ, pid, message_id, class_uid, instance_uid)

    def send_n_delete_response(self, pid, message_id, class_uid, instance_uid, status) -> int:
        return self._n_rsp(m.N_DELETE_RSP, pid, message_id, class_uid, instance_uid, status)


__all__ = ["DimseSends", "encode_dataset"]
