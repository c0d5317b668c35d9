"""Status codes: PS3.7 Annex C classes and the PS3.4 service tables."""

import pytest
from pynetdicom import status as pnd_status

from dicomtls.dimse.status import (
    CANCEL, FAILURE, GENERAL_STATUS, PENDING, QR_FIND_STATUS, QR_GET_STATUS, QR_MOVE_STATUS,
    SERVICE_STATUS, STORAGE_STATUS, SUCCESS, WARNING, Status, category, check_status,
    is_conventional, is_final, status_name,
)
from dicomtls.errors import DIMSEStatusError

# (code, category, inside the Annex C convention) -- boundaries of every class
BOUNDARIES = [
    (0x0000, SUCCESS, True),
    (0x0001, WARNING, True),
    (0x0002, FAILURE, False), (0x00FF, FAILURE, False),
    (0x0100, FAILURE, True), (0x0105, FAILURE, True), (0x0106, FAILURE, True),
    (0x0107, WARNING, True), (0x0110, FAILURE, True), (0x0116, WARNING, True),
    (0x0117, FAILURE, True), (0x0122, FAILURE, True), (0x0124, FAILURE, True),
    (0x01FF, FAILURE, True),
    (0x0200, FAILURE, True), (0x0211, FAILURE, True), (0x0212, FAILURE, True),
    (0x0213, FAILURE, True), (0x02FF, FAILURE, True),
    (0x0300, FAILURE, False), (0x9FFF, FAILURE, False),
    (0xA000, FAILURE, True), (0xA700, FAILURE, True), (0xA7FF, FAILURE, True),
    (0xA900, FAILURE, True), (0xAFFF, FAILURE, True),
    (0xB000, WARNING, True), (0xB006, WARNING, True), (0xB007, WARNING, True),
    (0xBFFF, WARNING, True),
    (0xC000, FAILURE, True), (0xCFFF, FAILURE, True),
    (0xD000, FAILURE, False), (0xFDFF, FAILURE, False),
    (0xFE00, CANCEL, True), (0xFE01, FAILURE, False),
    (0xFF00, PENDING, True), (0xFF01, PENDING, True),
    (0xFF02, FAILURE, False), (0xFFFF, FAILURE, False),
]


@pytest.mark.parametrize("code, cat, conventional", BOUNDARIES,
                         ids=[f"{c:04X}" for c, _, _ in BOUNDARIES])
def test_category_boundaries(code, cat, conventional):
    assert category(code) == cat
    assert is_conventional(code) is conventional


def test_category_agrees_with_pynetdicom_everywhere_it_has_an_answer():
    """pynetdicom's code_to_category is an independent reading of Annex C; where it knows a
    code, we agree, and every code it knows is inside the convention."""
    known = 0
    for code in range(0x10000):
        theirs = pnd_status.code_to_category(code)
        if theirs == "Unknown":
            continue
        known += 1
        assert category(code) == theirs, hex(code)
        assert is_conventional(code), hex(code)
    assert known > 9000


def test_convention_size():
    # 1 + (1 + 4096 + 2) warnings + (4096*2 + 256 - 2 + 256) failures + 1 cancel + 2 pending
    assert sum(is_conventional(c) for c in range(0x10000)) == 1 + 4099 + 8702 + 1 + 2


@pytest.mark.parametrize("bad", [-1, 0x10000, True, "0", None, 1.0])
def test_bad_codes(bad):
    with pytest.raises(ValueError):
        category(bad)


def test_is_final():
    assert not is_final(0xFF00) and not is_final(0xFF01)
    assert all(is_final(c) for c in (0x0000, 0xFE00, 0xB000, 0xA700, 0x0001))


ALL_TABLES = list(SERVICE_STATUS.values())


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_tables_agree_with_annex_c(table):
    for code, entry in table.codes.items():
        assert entry.category == category(code), (table.name, hex(code))
    for lo, hi, entry in table.ranges:
        for code in range(lo, hi + 1):
            assert entry.category == category(code), (table.name, hex(code))


PYNETDICOM_TABLES = {
    "general": pnd_status.GENERAL_STATUS,
    "storage": pnd_status.STORAGE_SERVICE_CLASS_STATUS,
    "qr-find": pnd_status.QR_FIND_SERVICE_CLASS_STATUS,
    "qr-get": pnd_status.QR_GET_SERVICE_CLASS_STATUS,
    "qr-move": pnd_status.QR_MOVE_SERVICE_CLASS_STATUS,
}


@pytest.mark.parametrize("name", PYNETDICOM_TABLES)
def test_tables_agree_with_pynetdicom(name):
    ours, theirs = SERVICE_STATUS[name], PYNETDICOM_TABLES[name]
    checked = 0
    for code in range(0x10000):
        entry = ours.lookup(code)
        if entry is not None and code in theirs:
            assert entry.category == theirs[code][0], (name, hex(code))
            checked += 1
    assert checked >= len(GENERAL_STATUS.codes) - 1  # pynetdicom lacks 0x0001


def test_general_codes():
    names = {
        0x0122: "SOP Class not supported", 0x0124: "not authorized",
        0x0110: "Processing failure", 0x0211: "Unrecognized operation",
        0x0212: "Mistyped argument", 0x0105: "No such Attribute",
        0x0213: "Resource limitation", 0x0107: "Attribute list error",
    }
    for code, fragment in names.items():
        assert fragment in status_name(code)
    for code in range(0x0105, 0x0125):
        entry = GENERAL_STATUS.lookup(code)
        if entry is not None:
            assert entry.category in (FAILURE, WARNING)
    assert GENERAL_STATUS.lookup(0x0108) is None   # unassigned 01xx: no name, still Failure
    assert status_name(0x0108) == FAILURE


def test_storage_table():
    for code in (0xA700, 0xA7AB, 0xA7FF):
        assert STORAGE_STATUS.lookup(code).name == "Refused: Out of Resources"
    for code in (0xA900, 0xA9FF):
        assert "does not match SOP Class" in STORAGE_STATUS.lookup(code).name
        assert STORAGE_STATUS.lookup(code).category == FAILURE
    for code in (0xC000, 0xC123, 0xCFFF):
        assert STORAGE_STATUS.lookup(code).name == "Error: Cannot understand"
    assert STORAGE_STATUS.lookup(0xD000) is None and STORAGE_STATUS.lookup(0xA6FF) is None
    assert STORAGE_STATUS.lookup(0xB000).name == "Coercion of Data Elements"
    assert STORAGE_STATUS.lookup(0xB007).category == WARNING
    assert STORAGE_STATUS.lookup(0xB006).name == "Elements Discarded"
    assert STORAGE_STATUS.lookup(0xB001) is None
    assert STORAGE_STATUS.lookup(0xA800) is None
    assert STORAGE_STATUS.lookup(0x0122).category == FAILURE   # falls back to general
    assert 0xA7FF in STORAGE_STATUS and 0xA800 not in STORAGE_STATUS


def test_qr_tables():
    assert QR_FIND_STATUS.lookup(0xA700).category == FAILURE
    assert QR_FIND_STATUS.lookup(0xA900).category == FAILURE
    assert QR_FIND_STATUS.lookup(0xFF00).category == PENDING
    assert QR_FIND_STATUS.lookup(0xFF01).category == PENDING
    assert QR_FIND_STATUS.lookup(0xFE00).category == CANCEL
    assert QR_FIND_STATUS.lookup(0xC5A5).name == "Failed: Unable to process"
    assert "Move Destination unknown" in QR_MOVE_STATUS.lookup(0xA801).name
    assert QR_GET_STATUS.lookup(0xA801) is None
    for table in (QR_GET_STATUS, QR_MOVE_STATUS):
        assert table.lookup(0xA701).category == FAILURE
        assert table.lookup(0xA702).category == FAILURE
        assert table.lookup(0xB000).category == WARNING
        assert table.lookup(0xFF00).category == PENDING
        assert table.lookup(0xFE00).category == CANCEL
        assert table.lookup(0xFF01) is None


def test_status_name_service_lookup():
    assert status_name(0xA801, "qr-move") == "Refused: Move Destination unknown"
    assert status_name(0xA801, QR_MOVE_STATUS) == status_name(0xA801, "qr-move")
    assert status_name(0xA801) == FAILURE
    assert status_name(0xD000) == "Failure (non-standard status 0xd000)"
    assert status_name(0xB123, "storage") == WARNING


def test_check_status():
    assert check_status(Status.SUCCESS) == SUCCESS
    assert check_status(Status.PENDING) == PENDING
    assert check_status(0xB000, "storage") == WARNING
    assert check_status(Status.CANCEL) == CANCEL
    with pytest.raises(DIMSEStatusError) as info:
        check_status(0xA700, "storage", comment="disk full")
    assert info.value.status == 0xA700
    assert "Out of Resources" in str(info.value) and "disk full" in str(info.value)
    with pytest.raises(DIMSEStatusError):
        check_status(0xD000)   # outside the convention: never mistaken for success


def test_status_constants_categories():
    expected = {
        "SUCCESS": SUCCESS, "CANCEL": CANCEL, "PENDING": PENDING, "PENDING_WARNING": PENDING,
        "WARNING": WARNING, "ATTRIBUTE_LIST_ERROR": WARNING, "COERCION_OF_DATA_ELEMENTS": WARNING,
        "SOP_CLASS_NOT_SUPPORTED": FAILURE, "OUT_OF_RESOURCES": FAILURE,
        "CANNOT_UNDERSTAND": FAILURE, "MOVE_DESTINATION_UNKNOWN": FAILURE,
    }
    for name, cat in expected.items():
        assert category(getattr(Status, name)) == cat
