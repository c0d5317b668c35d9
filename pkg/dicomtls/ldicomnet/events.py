"""LDicomNet facade, events part: ``DicomAssociate``, the ``on_*`` hooks and DIMSE tables.

``EventHooks``, the base of ``LDicomNet``, declares every LEAD event as a no-op method: LEAD's
virtual functions, and nothing else (no state). Override one in a subclass, assign a callable to
the instance attribute, or pass ``handlers={...}`` with snake_case or LEAD CamelCase names; the
I/O thread calls them through ``_fire``. ``DicomAssociate`` stands for LEAD's
``LDicomAssociate``: AE titles, presentation contexts with their transfer syntaxes and results,
maximum length, implementation class UID and version name.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Optional

from ..dimse import messages as m
from ..ul.items import PresentationContextAC, PresentationContextRQ
from ..ul.negotiation import DEFAULT_MAX_PDU_LENGTH, IMPLEMENTATION_CLASS_UID, \
    IMPLEMENTATION_VERSION_NAME, negotiate_contexts

log = logging.getLogger("dicomtls.ldicomnet")

# PDU types (ltdic.h PDU_*), the nType of OnReceive / OnSend.
PDU_ASSOCIATE_REQUEST = 1
PDU_ASSOCIATE_ACCEPT = 2
PDU_ASSOCIATE_REJECT = 3
PDU_DATA = 4
PDU_RELEASE_REQUEST = 5
PDU_RELEASE_RESPONSE = 6
PDU_ABORT = 7

PDU_ACCEPT_RESULT_SUCCESS = 0
PDU_ACCEPT_RESULT_USER_REJECT = 1
PDU_ACCEPT_RESULT_PROVIDER_REJECT = 2
PDU_ACCEPT_RESULT_ABSTRACT_SYNTAX = 3
PDU_ACCEPT_RESULT_TRANSFER_SYNTAX = 4


def lead_to_snake(name: str) -> str:
    """``SetCipherToIndexTLS`` -> ``set_cipher_to_index_tls``, ``SendCEchoRequest`` ->
    ``send_c_echo_request``: the mechanical rule every twin name follows."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


@dataclass
class DicomPresentationContext:
    """One presentation context: ``result`` None until decided (``PDU_ACCEPT_RESULT_*``)."""

    id: int
    abstract_syntax: str
    transfer_syntaxes: list = field(default_factory=list)
    result: Optional[int] = None


@dataclass
class DicomAssociate:
    """LEAD's ``LDicomAssociate``: what an A-ASSOCIATE-RQ or -AC carries."""

    called_ae: str = "ANY-SCP"
    calling_ae: str = "DICOMTLS"
    presentation_contexts: list = field(default_factory=list)
    max_length: int = DEFAULT_MAX_PDU_LENGTH
    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID
    implementation_version: str = IMPLEMENTATION_VERSION_NAME
    is_request: bool = True

    def add_presentation_context(self, pid: int, abstract_syntax: str, transfer_syntaxes=(
            "1.2.840.10008.1.2",)) -> DicomPresentationContext:
        pc = DicomPresentationContext(pid, abstract_syntax, list(transfer_syntaxes))
        self.presentation_contexts.append(pc)
        return pc

    def get_presentation(self, pid: int) -> Optional[DicomPresentationContext]:
        return next((p for p in self.presentation_contexts if p.id == pid), None)

    def find_abstract(self, abstract_syntax: str) -> Optional[int]:
        """The ID of an accepted (or undecided) context for ``abstract_syntax``, or None."""
        return next((p.id for p in self.presentation_contexts
                     if p.abstract_syntax == abstract_syntax and p.result in (None, 0)), None)

    def set_result(self, pid: int, result: int) -> None:
        self.get_presentation(pid).result = result

    def negotiate(self, supported) -> "DicomAssociate":
        """Decide every context from ``supported`` = {abstract syntax: [transfer syntaxes]},
        our preference first (``ul.negotiation.negotiate_contexts``); returns self."""
        answers = negotiate_contexts(self._rq_contexts(), supported)
        for a in answers:
            pc = self.get_presentation(a.context_id)
            pc.result = a.result
            if a.transfer_syntax is not None:
                pc.transfer_syntaxes = [a.transfer_syntax]
        return self

    # ---- conversions to/from PDUs ---------------------------------------------------------------
    def _rq_contexts(self) -> tuple:
        return tuple(PresentationContextRQ(p.id, p.abstract_syntax, tuple(p.transfer_syntaxes))
                     for p in self.presentation_contexts)

    def ac_contexts(self) -> tuple:
        """The A-ASSOCIATE-AC answer: an undecided context is accepted with its first transfer
        syntax (reorder or prune ``transfer_syntaxes`` to choose another)."""
        out = []
        for p in self.presentation_contexts:
            result = 0 if p.result is None else p.result
            ts = p.transfer_syntaxes[0] if result == 0 and p.transfer_syntaxes else None
            out.append(PresentationContextAC(p.id, result if ts or result else 4, ts))
        return tuple(out)

    @classmethod
    def from_pdu(cls, rq, ac=None) -> "DicomAssociate":
        """From a received A-ASSOCIATE-RQ (results None), or an RQ with its AC (results and the
        accepted transfer syntax filled in)."""
        pdu = ac if ac is not None else rq
        ui = pdu.user_information
        answers = {c.context_id: c for c in ac.presentation_contexts} if ac is not None else {}
        pcs = []
        for c in rq.presentation_contexts:
            pc = DicomPresentationContext(c.context_id, c.abstract_syntax,
                                          list(c.transfer_syntaxes))
            a = answers.get(c.context_id)
            if a is not None:
                pc.result = a.result
                if a.result == 0 and a.transfer_syntax:
                    pc.transfer_syntaxes = [a.transfer_syntax]
            elif ac is not None:
                pc.result = PDU_ACCEPT_RESULT_PROVIDER_REJECT
            pcs.append(pc)
        return cls(called_ae=rq.called_ae_title.strip(), calling_ae=rq.calling_ae_title.strip(),
                   presentation_contexts=pcs,
                   max_length=(ui.maximum_length if ui and ui.maximum_length is not None else 0),
                   implementation_class_uid=(ui.implementation_class_uid or "") if ui else "",
                   implementation_version=(ui.implementation_version_name or "") if ui else "",
                   is_request=ac is None)


LDicomAssociate = DicomAssociate

# ---- DIMSE: message class -> (event name, argument builder) ---------------------------------
# Arguments follow LEAD's OnReceive* signatures (same parameters as the matching Send*), with
# the data set as bytes in the context's transfer syntax (None when absent).


def _req(msg, *names):
    return tuple(getattr(msg, n) for n in names)


RECEIVE_EVENTS = {
    m.C_STORE_RQ: ("on_receive_c_store_request", lambda pid, x, ds: (
        pid, x.message_id, x.affected_sop_class_uid, x.affected_sop_instance_uid, x.priority,
        x.move_originator_application_entity_title, x.move_originator_message_id, ds)),
    m.C_STORE_RSP: ("on_receive_c_store_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid,
        x.affected_sop_instance_uid, x.status)),
    m.C_FIND_RQ: ("on_receive_c_find_request", lambda pid, x, ds: (
        pid, x.message_id, x.affected_sop_class_uid, x.priority, ds)),
    m.C_FIND_RSP: ("on_receive_c_find_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid, x.status, ds)),
    m.C_GET_RQ: ("on_receive_c_get_request", lambda pid, x, ds: (
        pid, x.message_id, x.affected_sop_class_uid, x.priority, ds)),
    m.C_GET_RSP: ("on_receive_c_get_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid, x.status,
        x.number_of_remaining_suboperations, x.number_of_completed_suboperations,
        x.number_of_failed_suboperations, x.number_of_warning_suboperations, ds)),
    m.C_MOVE_RQ: ("on_receive_c_move_request", lambda pid, x, ds: (
        pid, x.message_id, x.affected_sop_class_uid, x.priority, x.move_destination, ds)),
    m.C_MOVE_RSP: ("on_receive_c_move_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid, x.status,
        x.number_of_remaining_suboperations, x.number_of_completed_suboperations,
        x.number_of_failed_suboperations, x.number_of_warning_suboperations, ds)),
    m.C_CANCEL_RQ: ("on_receive_c_cancel_request", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to)),
    m.C_ECHO_RQ: ("on_receive_c_echo_request", lambda pid, x, ds: (
        pid, x.message_id, x.affected_sop_class_uid)),
    m.C_ECHO_RSP: ("on_receive_c_echo_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid, x.status)),
    m.N_EVENT_REPORT_RQ: ("on_receive_n_report_request", lambda pid, x, ds: (
        pid, x.message_id, x.affected_sop_class_uid, x.affected_sop_instance_uid,
        x.event_type_id, ds)),
    m.N_EVENT_REPORT_RSP: ("on_receive_n_report_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid,
        x.affected_sop_instance_uid, x.status, x.event_type_id, ds)),
    m.N_GET_RQ: ("on_receive_n_get_request", lambda pid, x, ds: (
        pid, x.message_id, x.requested_sop_class_uid, x.requested_sop_instance_uid,
        list(x.attribute_identifier_list or ()))),
    m.N_GET_RSP: ("on_receive_n_get_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid,
        x.affected_sop_instance_uid, x.status, ds)),
    m.N_SET_RQ: ("on_receive_n_set_request", lambda pid, x, ds: (
        pid, x.message_id, x.requested_sop_class_uid, x.requested_sop_instance_uid, ds)),
    m.N_SET_RSP: ("on_receive_n_set_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid,
        x.affected_sop_instance_uid, x.status, ds)),
    m.N_ACTION_RQ: ("on_receive_n_action_request", lambda pid, x, ds: (
        pid, x.message_id, x.requested_sop_class_uid, x.requested_sop_instance_uid,
        x.action_type_id, ds)),
    m.N_ACTION_RSP: ("on_receive_n_action_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid,
        x.affected_sop_instance_uid, x.status, x.action_type_id, ds)),
    m.N_CREATE_RQ: ("on_receive_n_create_request", lambda pid, x, ds: (
        pid, x.message_id, x.affected_sop_class_uid, x.affected_sop_instance_uid, ds)),
    m.N_CREATE_RSP: ("on_receive_n_create_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid,
        x.affected_sop_instance_uid, x.status, ds)),
    m.N_DELETE_RQ: ("on_receive_n_delete_request", lambda pid, x, ds: (
        pid, x.message_id, x.requested_sop_class_uid, x.requested_sop_instance_uid)),
    m.N_DELETE_RSP: ("on_receive_n_delete_response", lambda pid, x, ds: (
        pid, x.message_id_being_responded_to, x.affected_sop_class_uid,
        x.affected_sop_instance_uid, x.status)),
}


class EventHooks:
    """Every LEAD event, as a no-op method. Handlers run on the object's I/O thread."""

    # connection and TLS
    def on_connect(self, error): pass
    def on_accept(self, error): pass
    def on_close(self, error, net): pass
    def on_send(self, error, pdu_type, nbytes): pass
    def on_receive(self, error, pdu_type, buffer, nbytes): pass
    def on_secure_link_ready(self, error): pass

    def on_private_key_password(self, size, flag):
        """Return the password (str/bytes) of an encrypted private key, or None."""
        return None

    def on_verify(self, ok, certificate_string, error, error_string):
        """Return 1 to continue, 0 to fail the handshake; the default keeps OpenSSL's verdict."""
        return ok

    def on_create_ctx(self, ctx): pass

    # association
    def on_receive_associate_request(self, associate): pass
    def on_receive_associate_accept(self, associate): pass
    def on_receive_associate_reject(self, result, source, reason): pass
    def on_receive_release_request(self): pass
    def on_receive_release_response(self): pass
    def on_receive_abort(self, source, reason): pass
    def on_receive_data(self, pid, command, dataset): pass
    def on_receive_unknown(self, pid, command, dataset): pass
    def on_before_send_command_set(self, command): pass

    # DIMSE-C
    def on_receive_c_store_request(self, pid, message_id, class_uid, instance_uid, priority,
                                   move_ae, move_message_id, dataset): pass
    def on_receive_c_store_response(self, pid, message_id, class_uid, instance_uid,
                                    status): pass
    def on_receive_c_find_request(self, pid, message_id, class_uid, priority, dataset): pass
    def on_receive_c_find_response(self, pid, message_id, class_uid, status, dataset): pass
    def on_receive_c_get_request(self, pid, message_id, class_uid, priority, dataset): pass
    def on_receive_c_get_response(self, pid, message_id, class_uid, status, remaining,
                                  completed, failed, warning, dataset): pass
    def on_receive_c_move_request(self, pid, message_id, class_uid, priority, move_ae,
                                  dataset): pass
    def on_receive_c_move_response(self, pid, message_id, class_uid, status, remaining,
                                   completed, failed, warning, dataset): pass
    def on_receive_c_cancel_request(self, pid, message_id): pass
    def on_receive_c_echo_request(self, pid, message_id, class_uid): pass
    def on_receive_c_echo_response(self, pid, message_id, class_uid, status): pass

    # DIMSE-N
    def on_receive_n_report_request(self, pid, message_id, class_uid, instance_uid, event,
                                    dataset): pass
    def on_receive_n_report_response(self, pid, message_id, class_uid, instance_uid, status,
                                     event, dataset): pass
    def on_receive_n_get_request(self, pid, message_id, class_uid, instance_uid,
                                 attributes): pass
    def on_receive_n_get_response(self, pid, message_id, class_uid, instance_uid, status,
                                  dataset): pass
    def on_receive_n_set_request(self, pid, message_id, class_uid, instance_uid, dataset): pass
    def on_receive_n_set_response(self, pid, message_id, class_uid, instance_uid, status,
                                  dataset): pass
    def on_receive_n_action_request(self, pid, message_id, class_uid, instance_uid, action,
                                    dataset): pass
    def on_receive_n_action_response(self, pid, message_id, class_uid, instance_uid, status,
                                     action, dataset): pass
    def on_receive_n_create_request(self, pid, message_id, class_uid, instance_uid,
                                    dataset): pass
    def on_receive_n_create_response(self, pid, message_id, class_uid, instance_uid, status,
                                     dataset): pass
    def on_receive_n_delete_request(self, pid, message_id, class_uid, instance_uid): pass
    def on_receive_n_delete_response(self, pid, message_id, class_uid, instance_uid,
                                     status): pass

    # ---- plumbing ------------------------------------------------------------------------------
    def _install_handlers(self, handlers) -> None:
        for name, fn in (handlers or {}).items():
            snake = name if name.islower() else lead_to_snake(name)
            if not snake.startswith("on_") or not callable(getattr(EventHooks, snake, None)):
                raise ValueError(f"{name!r} is not an LDicomNet event")
            if not callable(fn):
                raise TypeError(f"handler for {name} is not callable")
            setattr(self, snake, fn)

    def _fire(self, name: str, *args, default=None):
        """Call a handler (instance callable or method); a handler that raises is logged and
        treated as returning ``default``: LEAD callbacks cannot throw into the network layer."""
        try:
            return getattr(self, name)(*args)
        except Exception:  # noqa: BLE001
            log.exception("LDicomNet handler %s raised", name)
            return default


EVENT_NAMES = tuple(sorted(n for n in vars(EventHooks) if n.startswith("on_")))

__all__ = ["DicomAssociate", "DicomPresentationContext", "EVENT_NAMES", "EventHooks",
           "LDicomAssociate", "RECEIVE_EVENTS", "lead_to_snake"] + \
    [n for n in dir() if n.startswith("PDU_")]
