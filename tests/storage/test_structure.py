"""The streaming data set structure check (``storage.structure``), sans-IO: hand-built data sets
and pydicom's test files are fed whole, split at every point, and one byte at a time; the
verdict (and where it is found) must not depend on where the pieces break. Every kind of
failure is built by hand; every pydicom test file that is well built passes, in every transfer
syntax the Storage SCP accepts, and the ones pydicom ships broken are caught with the reason."""

from __future__ import annotations

import os
import random
import struct
import time
import zlib

import pytest
from pydicom.data import get_testdata_file, get_testdata_files

from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.structure import (SOP_CLASS_UID, SOP_INSTANCE_UID, DatasetStructureError,
                                        StructureValidator)

IMPLICIT, EXPLICIT, BIG, DEFLATED = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                                     "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT",
        b"UV"}
UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
PATIENT_ID = 0x00100020


# ---- building data sets by hand ----------------------------------------------------------------
def ex(tag: int, vr: bytes, value: bytes = b"", *, length=None, endian="<") -> bytes:
    """An explicit VR element; ``length`` overrides the value's own (a lie, or UNDEFINED)."""
    n = len(value) if length is None else length
    if vr in LONG:
        return struct.pack(endian + "HH2s2xI", tag >> 16, tag & 0xFFFF, vr, n) + value
    return struct.pack(endian + "HH2sH", tag >> 16, tag & 0xFFFF, vr, n) + value


def im(tag: int, value: bytes = b"", *, length=None) -> bytes:
    """An implicit VR little endian element."""
    n = len(value) if length is None else length
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, n) + value


def item(body: bytes = b"", *, length=None, endian="<") -> bytes:
    n = len(body) if length is None else length
    return struct.pack(endian + "HHI", 0xFFFE, 0xE000, n) + body


def item_end(endian="<") -> bytes:
    return struct.pack(endian + "HHI", 0xFFFE, 0xE00D, 0)


def seq_end(endian="<") -> bytes:
    return struct.pack(endian + "HHI", 0xFFFE, 0xE0DD, 0)


CLASS_UID, INSTANCE_UID = b"1.2.840.10008.5.1.4.1.1.7\0", b"1.2.3.4.5\0"
HEAD = ex(SOP_CLASS_UID, b"UI", CLASS_UID) + ex(SOP_INSTANCE_UID, b"UI", INSTANCE_UID)
HEAD_BE = ex(SOP_CLASS_UID, b"UI", CLASS_UID, endian=">") + \
    ex(SOP_INSTANCE_UID, b"UI", INSTANCE_UID, endian=">")
HEAD_IMPLICIT = im(SOP_CLASS_UID, CLASS_UID) + im(SOP_INSTANCE_UID, INSTANCE_UID)
NAME = ex(0x00100010, b"PN", b"Doe^J ")
REFERENCED = 0x00081140   # Referenced Image Sequence
CODE = 0x00080100         # Code Value


# ---- feeding ---------------------------------------------------------------------------------
def verdict(ts: str, pieces, record=(SOP_CLASS_UID, SOP_INSTANCE_UID, PATIENT_ID)):
    """None or (reason, offset, tag, comment), and the recorded values."""
    v = StructureValidator(ts, record=record)
    try:
        for piece in pieces:
            v.feed(memoryview(piece))
        v.finish()
    except DatasetStructureError as exc:
        assert len(exc.comment) <= 64
        return (str(exc), exc.offset, exc.tag, exc.comment), None
    return None, v.values


def splits(data: bytes, *, every_point: bool = True, seed: int = 0):
    """The ways ``data`` is cut: whole, one byte at a time, at each point in two (small data),
    and at random points."""
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    if every_point:
        for k in range(1, len(data)):
            yield [data[:k], data[k:]]
    rng = random.Random(seed)
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(data)), min(40, len(data) - 1))) if len(data) > 1 \
            else []
        yield [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def check(ts: str, data: bytes, **kw):
    """The verdict, after asserting every way of cutting ``data`` gives the same one."""
    results = [verdict(ts, pieces) for pieces in splits(data, **kw)]
    for other in results[1:]:
        assert other == results[0]
    return results[0]


def fails(ts: str, data: bytes):
    (reason, offset, tag, comment), _ = check(ts, data)
    return reason, offset, tag, comment


# ---- well-built data sets pass ---------------------------------------------------------------
def test_nested_sequences_and_items_in_every_encoding():
    inner = ex(CODE, b"SH", b"T-1234")
    explicit_body = HEAD + b"".join([
        # undefined-length sequence of one undefined and one defined-length item
        ex(REFERENCED, b"SQ", item(inner, length=UNDEFINED) + item_end() + item(inner) +
           seq_end(), length=UNDEFINED),
        # defined-length sequence, nested undefined-length sequence inside its item
        ex(0x00082112, b"SQ", item(ex(0x00081150, b"UI", b"1.2\0") + ex(
            0x0040A170, b"SQ", item(inner) + seq_end(), length=UNDEFINED))),
        ex(0x00089215, b"SQ", b""),                            # empty, defined length
        # UN of undefined length: its items are Implicit VR Little Endian (PS3.5 6.2.2)
        ex(0x00091010, b"UN", item(im(CODE, b"ABCD")) + seq_end(), length=UNDEFINED),
        NAME, ex(PATIENT_ID, b"LO", b"PID-7 "),
        ex(PIXEL_DATA, b"OB", item() + item(b"\xff\xd8\xff\xd9") + seq_end(),
           length=UNDEFINED),                                  # encapsulated
        ex(0xFFFCFFFC, b"OB", bytes(6)),                       # trailing padding
    ])
    result, values = check(EXPLICIT, explicit_body)
    assert result is None
    assert values == {SOP_CLASS_UID: CLASS_UID, SOP_INSTANCE_UID: INSTANCE_UID,
                      PATIENT_ID: b"PID-7 "}

    be = HEAD_BE + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"AB", endian=">"), endian=">") +
                      seq_end(">"), length=UNDEFINED, endian=">") + \
        ex(0x7FE00010, b"OW", bytes(8), endian=">")
    assert check(BIG, be)[0] is None

    implicit_body = HEAD_IMPLICIT + im(REFERENCED, item(im(CODE, b"AB")))  # SQ by dictionary
    implicit_body += im(0x00082112, item(im(CODE, b"AB"), length=UNDEFINED) + item_end() +
                        seq_end(), length=UNDEFINED) + im(PIXEL_DATA, bytes(16))
    assert check(IMPLICIT, implicit_body)[0] is None


def test_big_endian_tags_ascend_in_big_endian():
    """(0010,0010) then (0010,0100): ascending as read big endian, not as read little endian."""
    data = HEAD_BE + ex(0x00100010, b"PN", b"AB", endian=">") + \
        ex(0x00100100, b"LO", b"CD", endian=">")
    assert check(BIG, data)[0] is None
    assert fails(EXPLICIT, data.replace(HEAD_BE, HEAD))[0]  # little endian reads garbage


def test_deflated_data_set_is_inflated_and_checked():
    body = HEAD + NAME + ex(PIXEL_DATA, b"OB", bytes(3000))
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = packer.compress(body) + packer.flush()
    assert check(DEFLATED, deflated, every_point=False)[0] is None
    assert check(DEFLATED, deflated + b"\0", every_point=False)[0] is None   # even-length pad

    reason, *_ = fails(DEFLATED, deflated[:-3])
    assert "inside its deflate stream" in reason
    broken = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    reason, offset, tag, _ = fails(DEFLATED, broken.compress(body[:-1000]) + broken.flush())
    assert "(7FE0,0010) declares 3000 bytes" in reason and "ends after 2000" in reason
    reason, *_ = verdict(DEFLATED, [b"\xff" * 64])[0]
    assert "cannot be inflated" in reason
    reason, *_ = verdict(DEFLATED, [deflated + bytes(range(1, 40))])[0]
    assert "bytes follow the end of the deflated data set" in reason


# ---- every kind of failure, wherever the pieces break ------------------------------------------
def test_pixel_data_declaring_2_gib_carrying_16_bytes():
    """The issue's case: refused at the end, with the tag, offset and the bytes that came."""
    data = HEAD + NAME + ex(PIXEL_DATA, b"OB", bytes(16), length=2 << 30)
    reason, offset, tag, comment = fails(EXPLICIT, data)
    at = len(HEAD + NAME)
    assert reason == (f"(7FE0,0010) declares 2147483648 bytes at offset {at} but the data set "
                      f"ends after 16")
    assert (offset, tag) == (at, PIXEL_DATA)
    assert comment == f"(7FE0,0010)@{at}: 2147483648 bytes declared, 16 sent"


H = len(HEAD)   # 52: where what follows HEAD starts (HEAD_IMPLICIT and HEAD_BE are as long)
SQ_HEADER, ITEM_HEADER = 12, 8
IN_ITEM = H + SQ_HEADER + ITEM_HEADER   # the first element of a first item
FAILURES = {
    # name: (transfer syntax, data, words the reason has, offset, tag)
    "tags descending": (EXPLICIT, HEAD + ex(0x00100020, b"LO", b"X ") + NAME,
                        f"(0010,0010) at offset {H + 10} follows (0010,0020): tags must ascend",
                        H + 10, 0x00100010),
    "tag repeated": (EXPLICIT, HEAD + NAME + NAME, f"(0010,0010) at offset {H + 14} follows "
                     f"(0010,0010)", H + 14, 0x00100010),
    "tags descending in an item": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(0x00081155, b"UI", b"1\0") +
                                                    ex(0x00081150, b"UI", b"2\0"))),
        f"(0008,1150) at offset {IN_ITEM + 10} follows (0008,1155)", IN_ITEM + 10, 0x00081150),
    "value past its item": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"ABCD"), length=10) +
                            bytes(2)),
        f"(0008,0100) at offset {IN_ITEM}: its 4 bytes would end at {IN_ITEM + 12}, past the "
        f"end of the item at offset {H + 12} (at {IN_ITEM + 10})", IN_ITEM, CODE),
    "item past its sequence": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"AB"), length=30),
                            length=18) + bytes(20),
        f"item 1 of 30 bytes would end at {IN_ITEM + 30}, past the end of the sequence "
        f"(0008,1140) at offset {H} (at {H + 30})", H + 12, 0xFFFEE000),
    "header past its item": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"AB") + bytes(4))),
        f"an element header at offset {IN_ITEM + 10} would end at {IN_ITEM + 18}, past the end "
        f"of the item", IN_ITEM + 10, None),
    "sequence not closed": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"AB")), length=UNDEFINED),
        f"the sequence (0008,1140) at offset {H} is not closed", H, REFERENCED),
    "item not closed": (  # the sequence delimiter comes while the item is open
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"AB"), length=UNDEFINED) +
                            seq_end(), length=UNDEFINED),
        f"a sequence delimiter (FFFE,E0DD) at offset {IN_ITEM + 10} in item at offset {H + 12}",
        IN_ITEM + 10, 0xFFFEE0DD),
    "item open at the end": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"AB"), length=UNDEFINED),
                            length=UNDEFINED),
        f"the item at offset {H + 12} is not closed", H + 12, 0xFFFEE000),
    "stray item delimiter": (EXPLICIT, HEAD + item_end() + NAME,
                             f"an item delimiter (FFFE,E00D) at offset {H} in the data set",
                             H, 0xFFFEE00D),
    "stray sequence delimiter": (EXPLICIT, HEAD + seq_end(),
                                 f"a sequence delimiter (FFFE,E0DD) at offset {H} in the data set",
                                 H, 0xFFFEE0DD),
    "item outside a sequence": (EXPLICIT, HEAD + item(NAME),
                                f"an item (FFFE,E000) at offset {H} in the data set", H,
                                0xFFFEE000),
    "delimiter in a defined-length item": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(item_end())),
        f"a delimiter at offset {IN_ITEM} in the defined-length item at offset {H + 12}",
        IN_ITEM, 0xFFFEE00D),
    "element inside a sequence": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", NAME + seq_end(), length=UNDEFINED),
        f"(0010,0010) at offset {H + 12} inside sequence (0008,1140) at offset {H}, where only "
        f"items may be", H + 12, 0x00100010),
    "unknown VR (implicit bytes, explicit syntax)": (
        EXPLICIT, HEAD_IMPLICIT, "(0008,0016) at offset 0 has the unknown VR 0x1a00", 0,
        SOP_CLASS_UID),
    "undefined length for UT": (
        EXPLICIT, HEAD + ex(0x00204000, b"UT", b"text", length=UNDEFINED),
        f"(0020,4000) at offset {H} has an undefined length, which VR UT cannot have", H,
        0x00204000),
    "fragment of undefined length": (
        EXPLICIT, HEAD + ex(PIXEL_DATA, b"OB", item() + item(b"ab", length=UNDEFINED) +
                            seq_end(), length=UNDEFINED),
        f"a fragment of encapsulated (7FE0,0010) at offset {H} at offset {IN_ITEM} has an "
        f"undefined length", IN_ITEM, 0xFFFEE000),
    "fragments not closed": (
        EXPLICIT, HEAD + ex(PIXEL_DATA, b"OB", item() + item(b"\xff\xd8"), length=UNDEFINED),
        f"the encapsulated (7FE0,0010) at offset {H} is not closed", H, PIXEL_DATA),
    "fragment cut short": (
        EXPLICIT, HEAD + ex(PIXEL_DATA, b"OB", item() + item(b"\xff\xd8", length=1000),
                            length=UNDEFINED),
        f"(FFFE,E000) declares 1000 bytes at offset {IN_ITEM} but the data set ends after 2",
        IN_ITEM, 0xFFFEE000),
    "not an item in fragments": (
        EXPLICIT, HEAD + ex(PIXEL_DATA, b"OB", item() + NAME, length=UNDEFINED),
        f"(0010,0010) at offset {IN_ITEM} inside encapsulated (7FE0,0010) at offset {H}",
        IN_ITEM, 0x00100010),
    "ends inside a header": (EXPLICIT, HEAD + NAME[:5], f"the data set ends inside an element "
                             f"header at offset {H} (5 bytes of it)", H, None),
    "ends inside a long header": (EXPLICIT, HEAD + ex(PIXEL_DATA, b"OB", b"")[:10],
                                  f"the data set ends inside an element header at offset {H} "
                                  f"(10 bytes of it)", H, None),
    "defined-length sequence cut short": (
        EXPLICIT, HEAD + ex(REFERENCED, b"SQ", item(ex(CODE, b"SH", b"AB")), length=400),
        f"the sequence (0008,1140) at offset {H} declares 400 bytes but the data set ends after "
        f"18", H, REFERENCED),
    "implicit: value past its item": (
        IMPLICIT, HEAD_IMPLICIT + im(REFERENCED, item(im(CODE, b"ABCD"), length=10)) + bytes(2),
        f"(0008,0100) at offset {H + 16}: its 4 bytes would end at {H + 28}, past the end of "
        f"the item at offset {H + 8} (at {H + 26})", H + 16, CODE),
    "implicit: tags descending": (
        IMPLICIT, im(SOP_INSTANCE_UID, INSTANCE_UID) + im(SOP_CLASS_UID, CLASS_UID),
        "(0008,0016) at offset 18 follows (0008,0018): tags must ascend", 18, SOP_CLASS_UID),
    "big endian: value cut short": (
        BIG, HEAD_BE + ex(PIXEL_DATA, b"OW", bytes(8), length=64, endian=">"),
        f"(7FE0,0010) declares 64 bytes at offset {H} but the data set ends after 8", H,
        PIXEL_DATA),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_failure(name):
    ts, data, words, offset, tag = FAILURES[name]
    reason, got_offset, got_tag, comment = fails(ts, data)
    assert words in reason
    if offset is not None:
        assert got_offset == offset
    if tag is not None:
        assert got_tag == tag
    assert comment.startswith(f"({tag >> 16:04X},{tag & 0xFFFF:04X})@" if tag is not None
                              else "") and len(comment) <= 64


def test_an_error_is_final_and_found_as_early_as_the_bytes_allow():
    """Tags out of order are found when the header arrives, not at the end: what follows is not
    looked at, and every later call raises the same error."""
    v = StructureValidator(EXPLICIT)
    v.feed(HEAD + ex(0x00100020, b"LO", b"X "))
    with pytest.raises(DatasetStructureError) as first:
        v.feed(NAME + ex(PIXEL_DATA, b"OB", b"", length=1 << 30))
    with pytest.raises(DatasetStructureError) as again:
        v.feed(b"anything")
    with pytest.raises(DatasetStructureError) as at_end:
        v.finish()
    assert first.value is again.value is at_end.value


def test_recorded_values_split_anywhere_and_capped():
    long_id = b"P" * 300
    data = HEAD + ex(PATIENT_ID, b"LO", long_id) + ex(0x00200010, b"SH", b"S1")
    result, values = check(EXPLICIT, data)
    assert result is None
    assert values[SOP_INSTANCE_UID] == INSTANCE_UID and values[PATIENT_ID] == b"P" * 256
    # Only top-level elements: a Patient ID inside an item is not the object's.
    nested = HEAD + ex(REFERENCED, b"SQ", item(ex(PATIENT_ID, b"LO", b"OTHER ")))
    assert check(EXPLICIT, nested)[1] == {SOP_CLASS_UID: CLASS_UID,
                                          SOP_INSTANCE_UID: INSTANCE_UID}


# ---- pydicom's test files --------------------------------------------------------------------
#: pydicom test files that are broken, and how: each is caught with its reason.
BROKEN = {
    "MR_truncated.dcm": "(7FE0,0010) declares 8192 bytes at offset 1154 but the data set ends "
                        "after 8130",
    "rtplan_truncated.dcm": "(300A,012C) declares 50 bytes at offset 1792 but the data set ends "
                            "after 29",
    "SC_rgb_jpeg.dcm": "(0008,0008) at offset 0 has the unknown VR 0x1800",  # implicit VR bytes
    "DICOMDIR-nooffset": "item 52 of 248 bytes would end at 10786, past the end of the sequence "
                         "(0004,1220)",                                        # cut 24 bytes short
}


def _pydicom_samples():
    out = []
    for path in sorted(get_testdata_files()):
        try:
            meta = read_meta(path)
        except Exception:   # not Part 10 (no meta, raw streams): nothing says their syntax
            continue
        out.append(meta)
    return out


SAMPLES = _pydicom_samples()


def test_pydicom_files_across_transfer_syntaxes():
    """Every well-built sample passes however its bytes are cut; the broken ones fail with the
    reason, the same however they are cut."""
    syntaxes = set()
    for meta in SAMPLES:
        name = os.path.basename(meta.path)
        data = read_dataset(meta)
        small = len(data) <= 300_000
        results = [verdict(meta.transfer_syntax_uid, pieces)[0]
                   for pieces in (splits(data, every_point=False) if small else
                                  [[data], [data[i:i + 16384] for i in range(0, len(data),
                                                                             16384)]])]
        assert all(r == results[0] for r in results), name
        if name in BROKEN:
            assert results[0] is not None and BROKEN[name] in results[0][0], name
        else:
            assert results[0] is None, (name, results[0])
            syntaxes.add(meta.transfer_syntax_uid)
    assert set(BROKEN) <= {os.path.basename(m.path) for m in SAMPLES}
    assert {IMPLICIT, EXPLICIT, BIG, DEFLATED, JPEG_BASELINE, "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80"} <= syntaxes
    assert len(SAMPLES) - len(BROKEN) >= 150


def test_records_the_sop_instance_uid_of_pydicom_files():
    meta = read_meta(get_testdata_file("rtplan.dcm"))  # its meta and data set UIDs differ
    _, values = verdict(meta.transfer_syntax_uid, [read_dataset(meta)])
    assert values[SOP_INSTANCE_UID].rstrip(b"\0").decode() == meta.sop_instance_uid


def test_mutated_samples_give_a_verdict_never_a_crash():
    """Bytes flipped, cut, dropped and inserted in pydicom's samples, read in several syntaxes:
    every outcome is a pass or a DatasetStructureError (nothing else escapes into the SCP's
    receive loop), and the same however the bytes are cut."""
    rng = random.Random(10)
    small = [(m, read_dataset(m)) for m in SAMPLES if m.dataset_length < 100_000]
    refused = 0
    for _ in range(400):
        meta, data = rng.choice(small)
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            if not data:
                break
            at, kind = rng.randrange(len(data)), rng.random()
            if kind < 0.5:
                data[at] = rng.randrange(256)
            elif kind < 0.7:
                del data[at:at + rng.randint(1, 16)]
            elif kind < 0.85:
                del data[at:]
            else:
                data[at:at] = rng.randbytes(rng.randint(1, 12))
        syntax = rng.choice([meta.transfer_syntax_uid] * 3 + [IMPLICIT, BIG, DEFLATED])
        whole = verdict(syntax, [bytes(data)])
        if len(data) > 1:
            cuts = sorted(rng.sample(range(1, len(data)), min(20, len(data) - 1)))
            assert verdict(syntax, [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]) \
                == whole, (meta.path, syntax)
        refused += whole[0] is not None
    assert 200 < refused < 400   # most mutations break something; some land in values


# ---- cost: a value's bytes are skipped by arithmetic -------------------------------------------
def test_a_256_mib_value_costs_per_piece_not_per_byte():
    """256 MiB of Pixel Data as 16 KiB views of one buffer: well under a second (measured:
    ~3 ms; a per-byte loop in Python would take minutes)."""
    piece = memoryview(bytes(16384))
    v = StructureValidator(EXPLICIT)
    v.feed(HEAD + ex(PIXEL_DATA, b"OB", b"", length=256 << 20))
    started = time.perf_counter()
    for _ in range((256 << 20) // len(piece)):
        v.feed(piece)
    v.finish()
    assert time.perf_counter() - started < 1.0


def test_many_small_elements_at_a_bounded_cost_each():
    """100,000 small elements (measured: ~0.3 us each, ~40 MB/s): bounded at 10 us each."""
    data = HEAD + b"".join(ex(0x00090000 + 0x20000 * (k // 1000) + 0x1000 + k % 1000, b"LO",
                              b"abcd") for k in range(100_000))
    view = memoryview(data)
    v = StructureValidator(EXPLICIT)
    started = time.perf_counter()
    for i in range(0, len(data), 16384):
        v.feed(view[i:i + 16384])
    v.finish()
    assert time.perf_counter() - started < 1.0
