"""DIMSE status codes: the PS3.7 Annex C classes and the PS3.4 service-specific meanings.

``category(code)`` follows the Annex C class convention exactly:

    Success  0000
    Warning  0001, Bxxx, 0107, 0116
    Failure  Axxx, Cxxx, 01xx (except 0107 and 0116), 02xx
    Cancel   FE00
    Pending  FF00, FF01

Annex C also says implementations shall not use any other code. A peer that does has not
told us it succeeded, so ``category`` calls such a code a Failure (the conservative reading:
an SCU never mistakes it for success and never waits for more Pending responses);
``is_conventional`` tells the two cases apart for logging.
"""

from __future__ import annotations

from typing import NamedTuple

from dicomtls.errors import DIMSEStatusError

__all__ = [
    "SUCCESS", "WARNING", "FAILURE", "CANCEL", "PENDING", "CATEGORIES",
    "category", "is_conventional", "is_final", "status_name", "check_status",
    "StatusEntry", "ServiceStatus", "GENERAL_STATUS", "STORAGE_STATUS",
    "QR_FIND_STATUS", "QR_GET_STATUS", "QR_MOVE_STATUS", "SERVICE_STATUS",
    "Status",
]

SUCCESS = "Success"
WARNING = "Warning"
FAILURE = "Failure"
CANCEL = "Cancel"
PENDING = "Pending"
CATEGORIES = (SUCCESS, WARNING, FAILURE, CANCEL, PENDING)


def _check_code(code: int) -> int:
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 0xFFFF:
        raise ValueError(f"a DIMSE status is a 16-bit unsigned int, not {code!r}")
    return code


def is_conventional(code: int) -> bool:
    """True if ``code`` lies in one of the Annex C status classes."""
    _check_code(code)
    hi = code >> 12
    return (code in (0x0000, 0x0001, 0xFE00, 0xFF00, 0xFF01)
            or hi in (0xA, 0xB, 0xC)
            or (code >> 8) in (0x01, 0x02))


def category(code: int) -> str:
    """Annex C class of ``code``: "Success", "Warning", "Failure", "Cancel" or "Pending"."""
    _check_code(code)
    if code == 0x0000:
        return SUCCESS
    if code in (0xFF00, 0xFF01):
        return PENDING
    if code == 0xFE00:
        return CANCEL
    if code in (0x0001, 0x0107, 0x0116) or code >> 12 == 0xB:
        return WARNING
    # Axxx, Cxxx, 01xx, 02xx, and anything outside the convention (see module docstring)
    return FAILURE


def is_final(code: int) -> bool:
    """A response with this status ends its operation (everything but Pending)."""
    return category(code) != PENDING


class StatusEntry(NamedTuple):
    """A DIMSE status code's category ("Success", "Warning", "Failure", "Cancel", "Pending")
    and name (PS3.7 Annex C)."""

    category: str
    name: str


class ServiceStatus:
    """A status table: exact codes first, then inclusive ranges, then the general codes.

    Ranges are kept as ranges (not expanded into 256 or 4096 dict entries) so a table reads
    like the standard's table does.
    """

    def __init__(self, name: str, codes: dict[int, StatusEntry],
                 ranges: tuple[tuple[int, int, StatusEntry], ...] = (),
                 fallback: "ServiceStatus | None" = None):
        self.name = name
        self.codes = codes
        self.ranges = ranges
        self.fallback = fallback

    def lookup(self, code: int) -> StatusEntry | None:
        _check_code(code)
        entry = self.codes.get(code)
        if entry is not None:
            return entry
        for lo, hi, entry in self.ranges:
            if lo <= code <= hi:
                return entry
        return self.fallback.lookup(code) if self.fallback is not None else None

    def __contains__(self, code: int) -> bool:
        return self.lookup(code) is not None

    def __repr__(self) -> str:
        return f"ServiceStatus({self.name!r})"


def _e(cat: str, name: str) -> StatusEntry:
    return StatusEntry(cat, name)


# PS3.7 Annex C (C.1 - C.6): codes with a standard meaning for every DIMSE service.
GENERAL_STATUS = ServiceStatus("general", {
    0x0000: _e(SUCCESS, "Success"),
    0x0001: _e(WARNING, "Requested optional Attributes are not supported"),
    0x0105: _e(FAILURE, "No such Attribute"),
    0x0106: _e(FAILURE, "Invalid Attribute value"),
    0x0107: _e(WARNING, "Attribute list error"),
    0x0110: _e(FAILURE, "Processing failure"),
    0x0111: _e(FAILURE, "Duplicate SOP Instance"),
    0x0112: _e(FAILURE, "No such SOP Instance"),
    0x0113: _e(FAILURE, "No such event type"),
    0x0114: _e(FAILURE, "No such argument"),
    0x0115: _e(FAILURE, "Invalid argument value"),
    0x0116: _e(WARNING, "Attribute Value out of range"),
    0x0117: _e(FAILURE, "Invalid object instance"),
    0x0118: _e(FAILURE, "No such SOP Class"),
    0x0119: _e(FAILURE, "Class-Instance conflict"),
    0x0120: _e(FAILURE, "Missing Attribute"),
    0x0121: _e(FAILURE, "Missing Attribute value"),
    0x0122: _e(FAILURE, "Refused: SOP Class not supported"),
    0x0123: _e(FAILURE, "No such action"),
    0x0124: _e(FAILURE, "Refused: not authorized"),
    0x0210: _e(FAILURE, "Duplicate invocation"),
    0x0211: _e(FAILURE, "Unrecognized operation"),
    0x0212: _e(FAILURE, "Mistyped argument"),
    0x0213: _e(FAILURE, "Resource limitation"),
    0xFE00: _e(CANCEL, "Cancel"),
})

# PS3.4 B.2.3, Table B.2-1: Storage Service Class (C-STORE).
STORAGE_STATUS = ServiceStatus("storage", {
    0xB000: _e(WARNING, "Coercion of Data Elements"),
    0xB007: _e(WARNING, "Data Set does not match SOP Class"),
    0xB006: _e(WARNING, "Elements Discarded"),
}, (
    (0xA700, 0xA7FF, _e(FAILURE, "Refused: Out of Resources")),
    (0xA900, 0xA9FF, _e(FAILURE, "Error: Data Set does not match SOP Class")),
    (0xC000, 0xCFFF, _e(FAILURE, "Error: Cannot understand")),
), GENERAL_STATUS)

_UNABLE = (0xC000, 0xCFFF, _e(FAILURE, "Failed: Unable to process"))

# PS3.4 C.4.1.1.4, Table C.4-1: Query/Retrieve FIND.
QR_FIND_STATUS = ServiceStatus("qr-find", {
    0xA700: _e(FAILURE, "Refused: Out of Resources"),
    0xA900: _e(FAILURE, "Failed: Identifier does not match SOP Class"),
    0xFE00: _e(CANCEL, "Matching terminated due to Cancel request"),
    0xFF00: _e(PENDING, "Matches are continuing - current match supplied"),
    0xFF01: _e(PENDING, "Matches are continuing - warning, one or more Optional Keys "
                        "were not supported"),
}, (_UNABLE,), GENERAL_STATUS)

# PS3.4 C.4.2.1.5, Table C.4-2: Query/Retrieve MOVE.
QR_MOVE_STATUS = ServiceStatus("qr-move", {
    0xA701: _e(FAILURE, "Refused: Out of Resources - Unable to calculate number of matches"),
    0xA702: _e(FAILURE, "Refused: Out of Resources - Unable to perform sub-operations"),
    0xA801: _e(FAILURE, "Refused: Move Destination unknown"),
    0xA900: _e(FAILURE, "Failed: Identifier does not match SOP Class"),
    0xFE00: _e(CANCEL, "Sub-operations terminated due to Cancel indication"),
    0xB000: _e(WARNING, "Sub-operations Complete - One or more Failures or Warnings"),
    0xFF00: _e(PENDING, "Sub-operations are continuing"),
}, (_UNABLE,), GENERAL_STATUS)

# PS3.4 C.4.3.1.4, Table C.4-3: Query/Retrieve GET (no Move Destination, so no A801).
QR_GET_STATUS = ServiceStatus("qr-get", {
    0xA701: _e(FAILURE, "Refused: Out of Resources - Unable to calculate number of matches"),
    0xA702: _e(FAILURE, "Refused: Out of Resources - Unable to perform sub-operations"),
    0xA900: _e(FAILURE, "Failed: Identifier does not match SOP Class"),
    0xFE00: _e(CANCEL, "Sub-operations terminated due to Cancel indication"),
    0xB000: _e(WARNING, "Sub-operations Complete - One or more Failures or Warnings"),
    0xFF00: _e(PENDING, "Sub-operations are continuing"),
}, (_UNABLE,), GENERAL_STATUS)

SERVICE_STATUS: dict[str, ServiceStatus] = {
    t.name: t for t in (GENERAL_STATUS, STORAGE_STATUS, QR_FIND_STATUS, QR_GET_STATUS,
                        QR_MOVE_STATUS)
}


def status_name(code: int, service: str | ServiceStatus | None = None) -> str:
    """Meaning of ``code`` in ``service`` (a SERVICE_STATUS key or table), else Annex C's class."""
    table = SERVICE_STATUS[service] if isinstance(service, str) else (service or GENERAL_STATUS)
    entry = table.lookup(code)
    if entry is not None:
        return entry.name
    cat = category(code)
    return cat if is_conventional(code) else f"{cat} (non-standard status {code:#06x})"


def check_status(code: int, service: str | ServiceStatus | None = None,
                 comment: str | None = None) -> str:
    """Return the category, raising DIMSEStatusError for a Failure status."""
    cat = category(code)
    if cat == FAILURE:
        text = f"{status_name(code, service)} (status {code:#06x})"
        if comment:
            text += f": {comment}"
        raise DIMSEStatusError(text, status=code)
    return cat


class Status:
    """Names for the codes callers write most often (values are plain ints)."""

    SUCCESS = 0x0000
    CANCEL = 0xFE00
    PENDING = 0xFF00
    PENDING_WARNING = 0xFF01
    WARNING = 0x0001
    ATTRIBUTE_LIST_ERROR = 0x0107
    ATTRIBUTE_VALUE_OUT_OF_RANGE = 0x0116
    PROCESSING_FAILURE = 0x0110
    NO_SUCH_SOP_INSTANCE = 0x0112
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NOT_AUTHORIZED = 0x0124
    DUPLICATE_INVOCATION = 0x0210
    UNRECOGNIZED_OPERATION = 0x0211
    MISTYPED_ARGUMENT = 0x0212
    RESOURCE_LIMITATION = 0x0213
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    COERCION_OF_DATA_ELEMENTS = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATASET_DOES_NOT_MATCH_WARNING = 0xB007
    MOVE_DESTINATION_UNKNOWN = 0xA801
