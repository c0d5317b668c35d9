#!/usr/bin/env python3
"""Fuzz target: DIMSE command set decoding (``dicomtls.dimse``).

Input: the two-byte control header of ``_fuzzutil`` then the bytes of one command set, as a peer
sends them in command PDVs. Flags:

    bit 0  the MessageAssembler also gets a data set fragment after a complete command
    bit 1  ... and a last one (DatasetComplete)
    bit 2  accumulate_dataset=True

The command set goes to ``CommandSet.decode``, ``message_from_command_set`` and
``decode_message``, and, cut into command fragments at the chunking the header chooses, to a
``MessageAssembler`` (the receive path the association uses). Acceptable outcomes: a message or
a ``DIMSEError`` (for the assembler: events or DIMSEError); anything else propagates. A message
that decodes must also survive ``repr``, ``has_dataset``, ``validate``-free field access and
re-encoding: ``encode()`` of a decoded message raises nothing but LocalProtocolError, and
what it writes decodes to an equal message (decode -> encode -> decode is stable).

Run by hand: ``python3 tests/fuzz/fuzz_dimse.py -max_total_time=600 /tmp/dimse
tests/fuzz/corpus/dimse`` (tests/fuzz/README.md).
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fuzzutil  # noqa: E402

with atheris.instrument_imports(include=["dicomtls"]):
    from dicomtls.dimse.commands import CommandSet
    from dicomtls.dimse.fragments import CommandComplete, DatasetComplete, DatasetFragment, \
        MessageAssembler
    from dicomtls.dimse.messages import decode_message, message_from_command_set
    from dicomtls.errors import DIMSEError, LocalProtocolError

DATA_FRAGMENT = 1
DATA_LAST = 2
ACCUMULATE = 4


def check_message(message) -> None:
    repr(message)
    message.has_dataset
    try:
        encoded = message.encode()
    except LocalProtocolError:
        return  # decodable but not sendable as it stands (e.g. a field PS3.7 leaves optional)
    again = decode_message(encoded)
    assert again == message, f"decode/encode/decode changed the message: {message!r} -> {again!r}"


def assemble(chunks: list[bytes], flags: int) -> None:
    assembler = MessageAssembler(accumulate_dataset=bool(flags & ACCUMULATE),
                                 max_command_length=4096)
    try:
        events = []
        for i, chunk in enumerate(chunks):
            events += assembler.feed(1, True, i == len(chunks) - 1, chunk)
        if events and flags & (DATA_FRAGMENT | DATA_LAST):
            assert isinstance(events[-1], CommandComplete), events
            if events[-1].message.has_dataset:
                if flags & DATA_FRAGMENT:
                    events += assembler.feed(1, False, False, b"\x08\x00\x05\x00")
                events += assembler.feed(1, False, bool(flags & DATA_LAST), b"CS\x00\x00")
        for event in events:
            assert isinstance(event, (CommandComplete, DatasetFragment, DatasetComplete)), event
    except DIMSEError:
        pass


def TestOneInput(data: bytes) -> None:
    flags, chunking, seed, command = _fuzzutil.parse(data)
    try:
        cs = CommandSet.decode(command)
    except DIMSEError:
        cs = None
    if cs is not None:
        repr(cs)
        list(cs.items())
        try:
            message = message_from_command_set(cs)
        except DIMSEError:
            message = None
        if message is not None:
            check_message(message)
    try:
        decode_message(command)
    except DIMSEError:
        pass
    assemble(_fuzzutil.split(chunking, seed, command), flags)


if __name__ == "__main__":
    _fuzzutil.limit_address_space()
    atheris.Setup(sys.argv, _fuzzutil.peak_guard(TestOneInput))
    atheris.Fuzz()
