"""DIMSE (PS3.7): command sets, C-*/N-* messages, status codes, PDV fragmentation.

Pure Python and sans-IO: bytes and PDVs in, messages and fragments out. The data set of a
message is never decoded here; it is passed through as memoryviews for the caller to stream.
"""

from .commands import (
    COMMAND_ELEMENTS, DATASET_PRESENT, NO_DATASET, TAG_BY_KEYWORD, CommandElement, CommandSet,
    CommandTag,
)
from .fragments import (
    DEFAULT_FRAGMENT_LENGTH, PDV_HEADER_LENGTH, CommandComplete, DatasetComplete,
    DatasetFragment, Fragment, MessageAssembler, control_header, iter_fragments,
    max_fragment_length, parse_control_header,
)
from .messages import (
    C_CANCEL_RQ, C_ECHO_RQ, C_ECHO_RSP, C_FIND_RQ, C_FIND_RSP, C_GET_RQ, C_GET_RSP, C_MOVE_RQ,
    C_MOVE_RSP, C_STORE_RQ, C_STORE_RSP, MESSAGE_TYPES, N_ACTION_RQ, N_ACTION_RSP, N_CREATE_RQ,
    N_CREATE_RSP, N_DELETE_RQ, N_DELETE_RSP, N_EVENT_REPORT_RQ, N_EVENT_REPORT_RSP, N_GET_RQ,
    N_GET_RSP, N_SET_RQ, N_SET_RSP, DIMSEMessage, Priority, Request, Response, decode_message,
    message_from_command_set,
)
from .status import (
    CANCEL, FAILURE, GENERAL_STATUS, PENDING, QR_FIND_STATUS, QR_GET_STATUS, QR_MOVE_STATUS,
    SERVICE_STATUS, STORAGE_STATUS, SUCCESS, WARNING, ServiceStatus, Status, StatusEntry,
    category, check_status, is_conventional, is_final, status_name,
)

__all__ = [
    # commands
    "CommandSet", "CommandTag", "CommandElement", "COMMAND_ELEMENTS", "TAG_BY_KEYWORD",
    "NO_DATASET", "DATASET_PRESENT",
    # messages
    "DIMSEMessage", "Request", "Response", "Priority", "MESSAGE_TYPES",
    "message_from_command_set", "decode_message",
    "C_ECHO_RQ", "C_ECHO_RSP", "C_STORE_RQ", "C_STORE_RSP", "C_FIND_RQ", "C_FIND_RSP",
    "C_GET_RQ", "C_GET_RSP", "C_MOVE_RQ", "C_MOVE_RSP", "C_CANCEL_RQ",
    "N_EVENT_REPORT_RQ", "N_EVENT_REPORT_RSP", "N_GET_RQ", "N_GET_RSP", "N_SET_RQ", "N_SET_RSP",
    "N_ACTION_RQ", "N_ACTION_RSP", "N_CREATE_RQ", "N_CREATE_RSP", "N_DELETE_RQ", "N_DELETE_RSP",
    # status
    "SUCCESS", "WARNING", "FAILURE", "CANCEL", "PENDING", "category", "is_conventional",
    "is_final", "status_name", "check_status", "Status", "StatusEntry", "ServiceStatus",
    "GENERAL_STATUS", "STORAGE_STATUS", "QR_FIND_STATUS", "QR_GET_STATUS", "QR_MOVE_STATUS",
    "SERVICE_STATUS",
    # fragments
    "Fragment", "iter_fragments", "max_fragment_length", "control_header",
    "parse_control_header", "PDV_HEADER_LENGTH", "DEFAULT_FRAGMENT_LENGTH",
    "MessageAssembler", "CommandComplete", "DatasetFragment", "DatasetComplete",
]
