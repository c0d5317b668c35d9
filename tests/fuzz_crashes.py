"""The fuzz reproducers in tests/fuzz/crashes/ as test inputs: where they are and what is in
them, for the regression tests of what fuzzing found (tests/crypto, tests/tls/own)."""

from __future__ import annotations

from pathlib import Path

from dicomtls.tls.own.messages import HandshakeBuffer, decode_certificate
from dicomtls.tls.protocol import ContentType, HandshakeType

CRASHES = Path(__file__).resolve().parent / "fuzz" / "crashes"


def server_certificate_der(crash: Path) -> bytes:
    """The leaf of the Certificate message in a fuzz_tls_own input (plaintext records after
    the 2-byte control header of tests/fuzz/_fuzzutil.py)."""
    payload, pos, hs = crash.read_bytes()[2:], 0, HandshakeBuffer()
    while len(payload) - pos >= 5:
        length = int.from_bytes(payload[pos + 3:pos + 5], "big")
        if payload[pos] == ContentType.HANDSHAKE:
            hs.feed(payload[pos + 5:pos + 5 + length])
        pos += 5 + length
    while (msg := hs.next_message()) is not None:
        if msg[0] == HandshakeType.CERTIFICATE:
            return bytes(decode_certificate(msg[1]).certificates[0])
    raise AssertionError(f"no Certificate message in {crash.name}")
