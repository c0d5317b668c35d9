#!/usr/bin/env python3
"""Fuzz target: the streaming data set structure check (``dicomtls.storage.structure``).

Input: the two-byte control header of ``_fuzzutil`` then a data set's bytes, as a Storage SCP
receives them in data set fragments. Flags:

    bits 0-1  transfer syntax: 0 Implicit VR LE, 1 Explicit VR LE, 2 Explicit VR BE,
              3 Deflated Explicit VR LE
    bit 2     record the SOP Class and Instance UIDs (``record=``)
    bit 3     feed memoryviews of a bytearray instead of bytes

The data set goes to a ``StructureValidator`` in the chunks the header chooses, then ``finish()``,
and again whole to a second validator. Acceptable outcomes: a verdict, or
``DatasetStructureError``; anything else propagates. Also checked: the verdict does not depend
on the chunking (same error tag and offset, or same recorded values; for a deflated data set
the same pass/fail), the Error Comment fits 64 characters, and a failed validator raises the
same error again.

Run by hand: ``python3 tests/fuzz/fuzz_structure.py -max_total_time=600 /tmp/structure
tests/fuzz/corpus/structure`` (tests/fuzz/README.md).
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fuzzutil  # noqa: E402

with atheris.instrument_imports(include=["dicomtls"]):
    from dicomtls.storage.structure import (SOP_CLASS_UID, SOP_INSTANCE_UID,
                                            DatasetStructureError, StructureValidator)

TRANSFER_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
                     "1.2.840.10008.1.2.1.99")
RECORD = 4
VIEWS = 8


def verdict(transfer_syntax: str, record: tuple, chunks) -> tuple:
    """("ok", values) or ("error", tag, offset) of one validator fed ``chunks``."""
    validator = StructureValidator(transfer_syntax, record=record)
    try:
        for chunk in chunks:
            validator.feed(chunk)
        validator.finish()
    except DatasetStructureError as exc:
        assert len(exc.comment) <= 64, f"Error Comment of {len(exc.comment)} characters"
        try:
            validator.finish()
        except DatasetStructureError as again:
            assert again is exc, f"after {exc!r} the validator raised {again!r}"
        else:
            raise AssertionError(f"after {exc!r} the validator went on")
        return "error", exc.tag, exc.offset
    return "ok", dict(validator.values)


def TestOneInput(data: bytes) -> None:
    flags, chunking, seed, dataset = _fuzzutil.parse(data)
    transfer_syntax = TRANSFER_SYNTAXES[flags & 3]
    record = (SOP_CLASS_UID, SOP_INSTANCE_UID) if flags & RECORD else ()
    chunks = _fuzzutil.split(chunking, seed, dataset)
    if flags & VIEWS:
        chunks = [memoryview(bytearray(c)) for c in chunks]
    split = verdict(transfer_syntax, record, chunks)
    whole = verdict(transfer_syntax, record, [dataset] if dataset else [])
    if flags & 3 == 3:  # inflated bytes are walked as they come: only the verdict must agree
        assert split[0] == whole[0], f"chunked {split}, whole {whole}"
    else:
        assert split == whole, f"chunked {split}, whole {whole}"


if __name__ == "__main__":
    _fuzzutil.limit_address_space()
    warmup = [bytes((syntax, 0)) for syntax in range(len(TRANSFER_SYNTAXES))]
    atheris.Setup(sys.argv, _fuzzutil.peak_guard(TestOneInput, warmup))
    atheris.Fuzz()
