"""LDicomNet facade, DIMSE part: the ``Send{C,N}*`` members.

``DimseSends``, a base of ``LDicomNet``, builds each request or response (the
``dimse.messages`` classes) and hands it to ``send_data(pid, message, dataset)``: it uses that
public member only and holds no state. ``encode_dataset`` turns what a caller gives as a data set
into bytes in the presentation context's transfer syntax.
"""

from __future__ import annotations

import abc
from typing import Optional

from ..dimse import messages as m

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"


def encode_dataset(dataset, transfer_syntax: Optional[str]):
    """Bytes as given; a pydicom Dataset encoded in ``transfer_syntax`` (Implicit/Explicit VR
    Little Endian, Explicit VR Big Endian)."""
    if dataset is None or isinstance(dataset, (bytes, bytearray, memoryview)):
        return dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    out = DicomBytesIO()
    out.is_little_endian = transfer_syntax != EXPLICIT_VR_BIG_ENDIAN
    out.is_implicit_VR = transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN
    write_dataset(out, dataset)
    return out.getvalue()


class DimseSends(abc.ABC):
    """The DIMSE-C and DIMSE-N ``send_*`` members, written against ``send_data``."""

    @abc.abstractmethod
    def send_data(self, pid: int, command, dataset=None) -> int:
        """Send any DIMSE message with its data set; 0 or a LEAD code (``LDicomNet``'s)."""

    # ---- DIMSE-C ---------------------------------------------------------------------------------
    def send_c_echo_request(self, pid, message_id, class_uid) -> int:
        return self.send_data(pid, m.C_ECHO_RQ(message_id=message_id,
                                                   affected_sop_class_uid=class_uid))

    def send_c_echo_response(self, pid, message_id, class_uid, status) -> int:
        return self.send_data(pid, m.C_ECHO_RSP(message_id_being_responded_to=message_id,
                                                    affected_sop_class_uid=class_uid,
                                                    status=status))

    def send_c_store_request(self, pid, message_id, class_uid, instance_uid, priority=0,
                             move_ae=None, move_message_id=None, dataset=None) -> int:
        return self.send_data(pid, m.C_STORE_RQ(
            message_id=message_id, affected_sop_class_uid=class_uid, priority=priority,
            affected_sop_instance_uid=instance_uid,
            move_originator_application_entity_title=move_ae or None,
            move_originator_message_id=move_message_id if move_ae else None), dataset)

    def send_c_store_response(self, pid, message_id, class_uid, instance_uid, status) -> int:
        return self.send_data(pid, m.C_STORE_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, status=status))

    def send_c_find_request(self, pid, message_id, class_uid, priority=0, dataset=None) -> int:
        return self.send_data(pid, m.C_FIND_RQ(message_id=message_id, priority=priority,
                                                   affected_sop_class_uid=class_uid), dataset)

    def send_c_find_response(self, pid, message_id, class_uid, status, dataset=None) -> int:
        return self.send_data(pid, m.C_FIND_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            status=status), dataset)

    def send_c_get_request(self, pid, message_id, class_uid, priority=0, dataset=None) -> int:
        return self.send_data(pid, m.C_GET_RQ(message_id=message_id, priority=priority,
                                                  affected_sop_class_uid=class_uid), dataset)

    def _counters(self, remaining, completed, failed, warning) -> dict:
        return dict(number_of_remaining_suboperations=remaining,
                    number_of_completed_suboperations=completed,
                    number_of_failed_suboperations=failed,
                    number_of_warning_suboperations=warning)

    def send_c_get_response(self, pid, message_id, class_uid, status, remaining=None,
                            completed=None, failed=None, warning=None, dataset=None) -> int:
        return self.send_data(pid, m.C_GET_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            status=status, **self._counters(remaining, completed, failed, warning)), dataset)

    def send_c_move_request(self, pid, message_id, class_uid, priority=0, move_ae=None,
                            dataset=None) -> int:
        return self.send_data(pid, m.C_MOVE_RQ(
            message_id=message_id, affected_sop_class_uid=class_uid, priority=priority,
            move_destination=move_ae), dataset)

    def send_c_move_response(self, pid, message_id, class_uid, status, remaining=None,
                             completed=None, failed=None, warning=None, dataset=None) -> int:
        return self.send_data(pid, m.C_MOVE_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            status=status, **self._counters(remaining, completed, failed, warning)), dataset)

    def send_c_cancel_request(self, pid, message_id) -> int:
        return self.send_data(pid, m.C_CANCEL_RQ(message_id_being_responded_to=message_id))

    # ---- DIMSE-N ---------------------------------------------------------------------------------
    def send_n_report_request(self, pid, message_id, class_uid, instance_uid, event,
                              dataset=None) -> int:
        return self.send_data(pid, m.N_EVENT_REPORT_RQ(
            message_id=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, event_type_id=event), dataset)

    def send_n_report_response(self, pid, message_id, class_uid, instance_uid, status, event,
                               dataset=None) -> int:
        return self.send_data(pid, m.N_EVENT_REPORT_RSP(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, status=status, event_type_id=event), dataset)

    def send_n_get_request(self, pid, message_id, class_uid, instance_uid,
                           attributes=None) -> int:
        return self.send_data(pid, m.N_GET_RQ(
            message_id=message_id, requested_sop_class_uid=class_uid,
            requested_sop_instance_uid=instance_uid,
            attribute_identifier_list=tuple(attributes) if attributes else None))

    def _n_rsp(self, cls, pid, message_id, class_uid, instance_uid, status, dataset=None, **kw):
        return self.send_data(pid, cls(
            message_id_being_responded_to=message_id, affected_sop_class_uid=class_uid,
            affected_sop_instance_uid=instance_uid, status=status, **kw), dataset)

    def _n_rq(self, cls, pid, message_id, class_uid, instance_uid, dataset=None, **kw):
        return self.send_data(pid, cls(
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
        return self.send_data(pid, m.N_CREATE_RQ(
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
