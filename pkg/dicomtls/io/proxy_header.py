"""The PROXY protocol version 2 header (HAProxy's specification, "The PROXY protocol",
section 2.2): what a TCP load balancer in front of the server sends first, before any TLS or
DICOM byte, so the server sees the modality's own address instead of the balancer's.

Layout: a 12-byte signature; one byte version (high nibble, 2) and command (low nibble: 0 LOCAL,
the balancer's own health check; 1 PROXY); one byte address family (high: 0 UNSPEC, 1 INET,
2 INET6, 3 UNIX) and transport (low: 1 STREAM); a 2-byte big-endian length of what follows:
the addresses (INET 12 bytes: source, destination, source port, destination port; INET6 36),
then TLVs, which we skip.

``parse_proxy_header(buf)`` is sans-IO: None while fewer bytes than the header has arrived,
else ``(ProxiedAddress or None, header length)``; None for LOCAL and UNSPEC (keep the
connection's own address). A malformed header, or version 1 (the text form), raises
ProxyHeaderError: the connection came from a listed balancer, so anything else is refused.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Optional

from ..errors import RemoteProtocolError

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
HEADER_LENGTH = 16
#: The longest header we accept: addresses plus TLVs (HAProxy's are well under 1 KiB).
MAX_HEADER_LENGTH = HEADER_LENGTH + 4096
_V1_PREFIX = b"PROXY "

_COMMAND_LOCAL, _COMMAND_PROXY = 0x0, 0x1
_FAMILY_UNSPEC, _FAMILY_INET, _FAMILY_INET6, _FAMILY_UNIX = 0x0, 0x1, 0x2, 0x3
_TRANSPORT_STREAM = 0x1
_ADDRESS_LENGTHS = {_FAMILY_INET: 12, _FAMILY_INET6: 36, _FAMILY_UNIX: 216}


class ProxyHeaderError(RemoteProtocolError):
    """A connection from a listed balancer did not start with a valid PROXY v2 header."""


@dataclass(frozen=True)
class ProxiedAddress:
    """The original connection as the balancer saw it."""

    source: str
    source_port: int
    destination: str
    destination_port: int

    @property
    def peer(self) -> str:
        return f"{self.source}:{self.source_port}"


def parse_proxy_header(buf) -> Optional[tuple[Optional[ProxiedAddress], int]]:
    """See the module docstring. ``buf``: the first bytes received on the connection."""
    view = memoryview(buf)
    have = min(len(view), len(SIGNATURE))
    if bytes(view[:have]) != SIGNATURE[:have]:
        if bytes(view[:1]) == _V1_PREFIX[:1]:
            raise ProxyHeaderError("not a PROXY protocol version 2 header (version 1, the text "
                                   "form, is not accepted: HAProxy's send-proxy-v2 is)")
        raise ProxyHeaderError("the connection from a PROXY protocol balancer does not start "
                               "with a PROXY v2 signature")
    if len(view) < HEADER_LENGTH:
        return None
    version_command, family_transport, length = struct.unpack_from(">BBH", view, 12)
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY header version {version_command >> 4}, expected 2")
    command = version_command & 0x0F
    if command not in (_COMMAND_LOCAL, _COMMAND_PROXY):
        raise ProxyHeaderError(f"PROXY header command 0x{command:X} is neither LOCAL nor PROXY")
    total = HEADER_LENGTH + length
    if total > MAX_HEADER_LENGTH:
        raise ProxyHeaderError(f"PROXY header of {total} bytes exceeds the "
                               f"{MAX_HEADER_LENGTH}-byte cap")
    if len(view) < total:
        return None
    family, transport = family_transport >> 4, family_transport & 0x0F
    if command == _COMMAND_LOCAL or family == _FAMILY_UNSPEC:
        return None, total
    if family not in _ADDRESS_LENGTHS:
        raise ProxyHeaderError(f"PROXY header address family 0x{family:X} is unknown")
    if transport != _TRANSPORT_STREAM:
        raise ProxyHeaderError(f"PROXY header transport 0x{transport:X} is not STREAM")
    need = _ADDRESS_LENGTHS[family]
    if length < need:
        raise ProxyHeaderError(f"PROXY header length {length} is shorter than its "
                               f"{need}-byte addresses")
    if family == _FAMILY_UNIX:
        return None, total   # a local socket: no network address to report
    size = 4 if family == _FAMILY_INET else 16
    body = bytes(view[HEADER_LENGTH:HEADER_LENGTH + need])
    source = ipaddress.ip_address(body[:size])
    destination = ipaddress.ip_address(body[size:2 * size])
    source_port, destination_port = struct.unpack_from(">HH", body, 2 * size)
    return ProxiedAddress(str(source), source_port, str(destination), destination_port), total


def encode_proxy_header(source: str, source_port: int, destination: str,
                        destination_port: int) -> bytes:
    """A PROXY v2 header for a TCP connection (what a balancer sends; for tests and tools)."""
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    if src.version != dst.version:
        raise ValueError("source and destination must be the same IP version")
    family = _FAMILY_INET if src.version == 4 else _FAMILY_INET6
    body = src.packed + dst.packed + struct.pack(">HH", source_port, destination_port)
    return SIGNATURE + struct.pack(">BBH", 0x20 | _COMMAND_PROXY,
                                   family << 4 | _TRANSPORT_STREAM, len(body)) + body


__all__ = ["ProxiedAddress", "ProxyHeaderError", "encode_proxy_header", "parse_proxy_header"]
