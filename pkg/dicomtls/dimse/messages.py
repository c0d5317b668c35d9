"""DIMSE-C and DIMSE-N messages (PS3.7 sections 9.3 and 10.3) over a CommandSet.

One dataclass per message. Fields are the command elements of that message's table, in snake
case; ``has_dataset`` stands for Command Data Set Type; command elements a table does not name
(Annex C status details such as Offending Element on an N-SET-RSP, private toolkit extras) are
kept in ``extra`` so a decode/encode round trip loses nothing.

The data set is *not* part of the message: the glue streams its bytes separately (see
``fragments``), so a 2 GB C-STORE never becomes a pydicom Dataset here.

Validation is the same on both sides, but the error differs: building a bad message locally
raises LocalProtocolError (our caller's mistake); decoding one from the wire raises DIMSEError
(the peer's), naming the element that is missing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

from dicomtls.errors import DIMSEError, LocalProtocolError

from .commands import DATASET_PRESENT, NO_DATASET, CommandSet, CommandTag
from .status import category

__all__ = [
    "Priority", "DIMSEMessage", "Request", "Response", "MESSAGE_TYPES",
    "message_from_command_set", "decode_message", "response_for",
    "C_ECHO_RQ", "C_ECHO_RSP", "C_STORE_RQ", "C_STORE_RSP", "C_FIND_RQ", "C_FIND_RSP",
    "C_GET_RQ", "C_GET_RSP", "C_MOVE_RQ", "C_MOVE_RSP", "C_CANCEL_RQ",
    "N_EVENT_REPORT_RQ", "N_EVENT_REPORT_RSP", "N_GET_RQ", "N_GET_RSP", "N_SET_RQ", "N_SET_RSP",
    "N_ACTION_RQ", "N_ACTION_RSP", "N_CREATE_RQ", "N_CREATE_RSP", "N_DELETE_RQ", "N_DELETE_RSP",
]


class Priority(IntEnum):
    """Priority (0000,0700) values, PS3.7 Annex E."""

    MEDIUM = 0x0000
    HIGH = 0x0001
    LOW = 0x0002


# snake_case field -> tag. Field names are the PS3.7 keywords, snake-cased.
_FIELD_TAGS: dict[str, int] = {
    "affected_sop_class_uid": CommandTag.AffectedSOPClassUID,
    "requested_sop_class_uid": CommandTag.RequestedSOPClassUID,
    "message_id": CommandTag.MessageID,
    "message_id_being_responded_to": CommandTag.MessageIDBeingRespondedTo,
    "move_destination": CommandTag.MoveDestination,
    "priority": CommandTag.Priority,
    "status": CommandTag.Status,
    "offending_element": CommandTag.OffendingElement,
    "error_comment": CommandTag.ErrorComment,
    "error_id": CommandTag.ErrorID,
    "affected_sop_instance_uid": CommandTag.AffectedSOPInstanceUID,
    "requested_sop_instance_uid": CommandTag.RequestedSOPInstanceUID,
    "event_type_id": CommandTag.EventTypeID,
    "attribute_identifier_list": CommandTag.AttributeIdentifierList,
    "action_type_id": CommandTag.ActionTypeID,
    "number_of_remaining_suboperations": CommandTag.NumberOfRemainingSuboperations,
    "number_of_completed_suboperations": CommandTag.NumberOfCompletedSuboperations,
    "number_of_failed_suboperations": CommandTag.NumberOfFailedSuboperations,
    "number_of_warning_suboperations": CommandTag.NumberOfWarningSuboperations,
    "move_originator_application_entity_title": CommandTag.MoveOriginatorApplicationEntityTitle,
    "move_originator_message_id": CommandTag.MoveOriginatorMessageID,
}
# Elements every message has and the base class manages itself.
_MANAGED = (CommandTag.CommandField, CommandTag.CommandDataSetType)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == ()


@dataclass(kw_only=True)
class DIMSEMessage:
    """Base of every message. Subclasses set the class variables below."""

    command_field: ClassVar[int]
    name: ClassVar[str]                      # as the standard spells it: "C-STORE-RQ"
    required: ClassVar[tuple[str, ...]] = ()  # M fields of the PS3.7 table
    # Data set usage from the table: "M" must be present, "-" must be absent, "U" either.
    dataset_usage: ClassVar[str] = "-"

    has_dataset: bool = False
    extra: dict[int, Any] = field(default_factory=dict, repr=False)

    # -- helpers --
    @classmethod
    def element_fields(cls) -> tuple[str, ...]:
        """The command-element fields of this message (cached: this is on the per-message path)."""
        cached = cls.__dict__.get("_element_fields")
        if cached is None:
            cached = tuple(f.name for f in dataclasses.fields(cls) if f.name in _FIELD_TAGS)
            cls._element_fields = cached
        return cached

    def _problems(self) -> list[str]:
        """Every violation of the message table, as text naming the element."""
        out = []
        for name in self.required:
            if _empty(getattr(self, name)):
                out.append(f"{self.name} requires {CommandTag(_FIELD_TAGS[name]).name} "
                           f"({_FIELD_TAGS[name] >> 16:04X},{_FIELD_TAGS[name] & 0xFFFF:04X})")
        if self.dataset_usage == "M" and not self.has_dataset:
            out.append(f"{self.name} requires a data set (Command Data Set Type != 0101H)")
        elif self.dataset_usage == "-" and self.has_dataset:
            out.append(f"{self.name} has no data set (Command Data Set Type must be 0101H)")
        out.extend(self._conditional_problems())
        return out

    def _conditional_problems(self) -> list[str]:
        return []

    def validate(self) -> None:
        """Raise LocalProtocolError if this message breaks its PS3.7 table."""
        problems = self._problems()
        if problems:
            raise LocalProtocolError("; ".join(problems))

    # -- command set conversion --
    def to_command_set(self) -> CommandSet:
        self.validate()
        cs = CommandSet()
        cs[CommandTag.CommandField] = self.command_field
        cs[CommandTag.CommandDataSetType] = DATASET_PRESENT if self.has_dataset else NO_DATASET
        for name in self.element_fields():
            value = getattr(self, name)
            if value is not None:
                cs[_FIELD_TAGS[name]] = value
        for tag, value in self.extra.items():
            if tag in cs or tag == CommandTag.CommandGroupLength:
                raise LocalProtocolError(f"extra element {tag:#010x} clashes with a field of "
                                         f"{self.name}")
            cs[tag] = value
        return cs

    def encode(self) -> bytes:
        """The command set bytes (Implicit VR Little Endian)."""
        return self.to_command_set().encode()

    @classmethod
    def from_command_set(cls, cs: CommandSet) -> "DIMSEMessage":
        """Build this message type from a decoded command set; DIMSEError if it is invalid."""
        cf = cs.get(CommandTag.CommandField)
        if cf != cls.command_field:
            raise DIMSEError(f"Command Field is {cf!r}, {cls.name} is {cls.command_field:#06x}")
        dst = cs.get(CommandTag.CommandDataSetType)
        if dst is None:
            raise DIMSEError(f"{cls.name} requires CommandDataSetType (0000,0800)")
        names = {_FIELD_TAGS[n]: n for n in cls.element_fields()}
        # Absent means None, not the dataclass default: a default Priority must not hide
        # the peer leaving Priority out.
        kwargs: dict[str, Any] = dict.fromkeys(names.values())
        extra: dict[int, Any] = {}
        for tag in cs:
            if tag in names:
                kwargs[names[tag]] = cs[tag]
            elif tag not in _MANAGED:
                extra[tag] = cs[tag]  # typed if known, raw bytes if not
        msg = cls(has_dataset=dst != NO_DATASET, extra=extra, **kwargs)
        problems = msg._problems()
        if problems:
            raise DIMSEError("; ".join(problems))
        return msg


@dataclass(kw_only=True)
class Request(DIMSEMessage):
    """Base of the request messages: they carry a Message ID (0000,0110)."""

    message_id: int | None = None

    is_request: ClassVar[bool] = True


@dataclass(kw_only=True)
class Response(DIMSEMessage):
    """Base of the response messages: Message ID Being Responded To (0000,0120) and Status
    (0000,0900)."""

    message_id_being_responded_to: int | None = None
    status: int | None = None

    is_request: ClassVar[bool] = False

    @property
    def category(self) -> str:
        """"Success", "Warning", "Failure", "Cancel" or "Pending" (PS3.7 Annex C); None if unset."""
        return None if self.status is None else category(self.status)


_RQ = ("message_id",)
_RSP = ("message_id_being_responded_to", "status")


def _message(cf: int, name: str, required: tuple[str, ...], dataset: str = "-"):
    """Class decorator: fill in the class variables and make it a kw-only dataclass."""

    usage = {"-": "none", "M": "mandatory", "U": "optional", "C": "conditional"}.get(dataset, dataset)

    def wrap(cls):
        cls.command_field, cls.name, cls.required, cls.dataset_usage = cf, name, required, dataset
        if cls.__dict__.get("__doc__") is None:  # before dataclass() writes its signature there
            cls.__doc__ = (f"The {name} message (Command Field 0x{cf:04X}). Required: "
                           f"{', '.join(required) or 'nothing'}; data set: {usage}.")
        return dataclass(kw_only=True)(cls)

    return wrap


# ---- DIMSE-C, PS3.7 9.3 -------------------------------------------------------------------------

@_message(0x0030, "C-ECHO-RQ", ("affected_sop_class_uid",) + _RQ)
class C_ECHO_RQ(Request):
    affected_sop_class_uid: str | None = None


@_message(0x8030, "C-ECHO-RSP", _RSP)
class C_ECHO_RSP(Response):
    affected_sop_class_uid: str | None = None
    error_comment: str | None = None


@_message(0x0001, "C-STORE-RQ",
          ("affected_sop_class_uid",) + _RQ + ("priority", "affected_sop_instance_uid"), "M")
class C_STORE_RQ(Request):
    affected_sop_class_uid: str | None = None
    priority: int = Priority.MEDIUM
    affected_sop_instance_uid: str | None = None
    move_originator_application_entity_title: str | None = None
    move_originator_message_id: int | None = None
    has_dataset: bool = True


@_message(0x8001, "C-STORE-RSP", _RSP)
class C_STORE_RSP(Response):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    offending_element: tuple | None = None
    error_comment: str | None = None


@_message(0x0020, "C-FIND-RQ", ("affected_sop_class_uid",) + _RQ + ("priority",), "M")
class C_FIND_RQ(Request):
    affected_sop_class_uid: str | None = None
    priority: int = Priority.MEDIUM
    has_dataset: bool = True


@_message(0x8020, "C-FIND-RSP", _RSP, "U")
class C_FIND_RSP(Response):
    affected_sop_class_uid: str | None = None
    offending_element: tuple | None = None
    error_comment: str | None = None


@_message(0x0010, "C-GET-RQ", ("affected_sop_class_uid",) + _RQ + ("priority",), "M")
class C_GET_RQ(Request):
    affected_sop_class_uid: str | None = None
    priority: int = Priority.MEDIUM
    has_dataset: bool = True


_SUBOPS = ("number_of_remaining_suboperations", "number_of_completed_suboperations",
           "number_of_failed_suboperations", "number_of_warning_suboperations")


class _SubOperations:
    """C-GET/C-MOVE-RSP: a Pending response shall carry all four sub-operation counts
    (PS3.4 C.4.2.3 and C.4.3.3; PS3.7 tables 9.3-8 and 9.3-10 mark them C)."""

    def _conditional_problems(self) -> list[str]:
        if self.status != 0xFF00 and self.status != 0xFF01:  # the Pending codes
            return []
        return [f"{self.name} with Pending status requires {CommandTag(_FIELD_TAGS[n]).name}"
                for n in _SUBOPS if getattr(self, n) is None]


@_message(0x8010, "C-GET-RSP", _RSP, "U")
class C_GET_RSP(_SubOperations, Response):
    affected_sop_class_uid: str | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    offending_element: tuple | None = None
    error_comment: str | None = None


@_message(0x0021, "C-MOVE-RQ",
          ("affected_sop_class_uid",) + _RQ + ("priority", "move_destination"), "M")
class C_MOVE_RQ(Request):
    affected_sop_class_uid: str | None = None
    priority: int = Priority.MEDIUM
    move_destination: str | None = None
    has_dataset: bool = True


@_message(0x8021, "C-MOVE-RSP", _RSP, "U")
class C_MOVE_RSP(_SubOperations, Response):
    affected_sop_class_uid: str | None = None
    number_of_remaining_suboperations: int | None = None
    number_of_completed_suboperations: int | None = None
    number_of_failed_suboperations: int | None = None
    number_of_warning_suboperations: int | None = None
    offending_element: tuple | None = None
    error_comment: str | None = None


# C-CANCEL-RQ has no Message ID of its own: it names the request it cancels (PS3.7 9.3.2.3).
@_message(0x0FFF, "C-CANCEL-RQ", ("message_id_being_responded_to",))
class C_CANCEL_RQ(DIMSEMessage):
    message_id_being_responded_to: int | None = None

    is_request: ClassVar[bool] = True


# ---- DIMSE-N, PS3.7 10.3 ------------------------------------------------------------------------

@_message(0x0100, "N-EVENT-REPORT-RQ",
          ("affected_sop_class_uid",) + _RQ + ("affected_sop_instance_uid", "event_type_id"), "U")
class N_EVENT_REPORT_RQ(Request):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    event_type_id: int | None = None


@_message(0x8100, "N-EVENT-REPORT-RSP", _RSP, "U")
class N_EVENT_REPORT_RSP(Response):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    event_type_id: int | None = None
    error_id: int | None = None
    error_comment: str | None = None


@_message(0x0110, "N-GET-RQ",
          ("requested_sop_class_uid",) + _RQ + ("requested_sop_instance_uid",))
class N_GET_RQ(Request):
    requested_sop_class_uid: str | None = None
    requested_sop_instance_uid: str | None = None
    attribute_identifier_list: tuple | None = None


@_message(0x8110, "N-GET-RSP", _RSP, "U")
class N_GET_RSP(Response):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    attribute_identifier_list: tuple | None = None
    error_id: int | None = None
    error_comment: str | None = None


@_message(0x0120, "N-SET-RQ",
          ("requested_sop_class_uid",) + _RQ + ("requested_sop_instance_uid",), "M")
class N_SET_RQ(Request):
    requested_sop_class_uid: str | None = None
    requested_sop_instance_uid: str | None = None
    has_dataset: bool = True


@_message(0x8120, "N-SET-RSP", _RSP, "U")
class N_SET_RSP(Response):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    attribute_identifier_list: tuple | None = None
    error_id: int | None = None
    error_comment: str | None = None


@_message(0x0130, "N-ACTION-RQ",
          ("requested_sop_class_uid",) + _RQ + ("requested_sop_instance_uid", "action_type_id"),
          "U")
class N_ACTION_RQ(Request):
    requested_sop_class_uid: str | None = None
    requested_sop_instance_uid: str | None = None
    action_type_id: int | None = None


@_message(0x8130, "N-ACTION-RSP", _RSP, "U")
class N_ACTION_RSP(Response):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    action_type_id: int | None = None
    error_id: int | None = None
    error_comment: str | None = None


@_message(0x0140, "N-CREATE-RQ", ("affected_sop_class_uid",) + _RQ, "U")
class N_CREATE_RQ(Request):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None


@_message(0x8140, "N-CREATE-RSP", _RSP, "U")
class N_CREATE_RSP(Response):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    error_id: int | None = None
    error_comment: str | None = None


@_message(0x0150, "N-DELETE-RQ",
          ("requested_sop_class_uid",) + _RQ + ("requested_sop_instance_uid",))
class N_DELETE_RQ(Request):
    requested_sop_class_uid: str | None = None
    requested_sop_instance_uid: str | None = None


@_message(0x8150, "N-DELETE-RSP", _RSP)
class N_DELETE_RSP(Response):
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None
    error_id: int | None = None
    error_comment: str | None = None


#: Command Field -> message class (PS3.7 Annex E, Command Field values).
MESSAGE_TYPES: dict[int, type[DIMSEMessage]] = {
    cls.command_field: cls for cls in (
        C_ECHO_RQ, C_ECHO_RSP, C_STORE_RQ, C_STORE_RSP, C_FIND_RQ, C_FIND_RSP,
        C_GET_RQ, C_GET_RSP, C_MOVE_RQ, C_MOVE_RSP, C_CANCEL_RQ,
        N_EVENT_REPORT_RQ, N_EVENT_REPORT_RSP, N_GET_RQ, N_GET_RSP, N_SET_RQ, N_SET_RSP,
        N_ACTION_RQ, N_ACTION_RSP, N_CREATE_RQ, N_CREATE_RSP, N_DELETE_RQ, N_DELETE_RSP)
}


def message_from_command_set(cs: CommandSet) -> DIMSEMessage:
    """Dispatch on Command Field (0000,0100); DIMSEError if it is missing or unknown."""
    cf = cs.get(CommandTag.CommandField)
    if cf is None:
        raise DIMSEError("command set has no Command Field (0000,0100)")
    cls = MESSAGE_TYPES.get(cf)
    if cls is None:
        raise DIMSEError(f"unknown Command Field {cf:#06x}")
    return cls.from_command_set(cs)


def response_for(request: DIMSEMessage, status: int, **fields: Any) -> "Response":
    """The response answering ``request`` (its Command Field with bit 15 set) with ``status``:
    Message ID Being Responded To, the SOP class and instance the request named (its Affected
    or Requested UIDs, as Affected UIDs) and its Event/Action Type ID, where the response has
    those fields. ``fields`` add or override any of them. LocalProtocolError for C-CANCEL-RQ
    (it has no response) or a message that is not a request."""
    cls = MESSAGE_TYPES.get(request.command_field | 0x8000)
    if not getattr(request, "is_request", False) or isinstance(request, C_CANCEL_RQ) or \
            cls is None:
        raise LocalProtocolError(f"{request.name} has no response")
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {"message_id_being_responded_to": request.message_id,
                              "status": status}
    derived = {
        "affected_sop_class_uid": getattr(request, "affected_sop_class_uid", None) or
        getattr(request, "requested_sop_class_uid", None),
        "affected_sop_instance_uid": getattr(request, "affected_sop_instance_uid", None) or
        getattr(request, "requested_sop_instance_uid", None),
        "event_type_id": getattr(request, "event_type_id", None),
        "action_type_id": getattr(request, "action_type_id", None),
    }
    values.update((k, v) for k, v in derived.items() if k in names and v is not None)
    values.update(fields)
    return cls(**values)


def decode_message(data: bytes | bytearray | memoryview) -> DIMSEMessage:
    """Command set bytes -> message object."""
    return message_from_command_set(CommandSet.decode(data))
