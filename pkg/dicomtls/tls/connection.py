"""The sans-IO TLS connection interface every engine implements, its events and SessionInfo.

Bytes in (``receive_data``, ``b""`` for EOF), events out (``next_event`` returning an event or
``NEED_DATA``), application data in (``send``), bytes to write out (``data_to_send``). No socket or
thread below this line. After an exception the connection stays failed and re-raises it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional

from ..crypto.x509 import CertificateInfo
from .suites import CipherSuite
from .versions import TLSVersion


class _NeedData:
    def __repr__(self):
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True)
class HandshakeComplete:
    """Event: the handshake finished; ``session`` describes what was negotiated."""

    session: "SessionInfo"


@dataclass(frozen=True)
class ApplicationData:
    """Event: plaintext from the peer (bytes or bytearray)."""

    data: bytes


@dataclass(frozen=True)
class CloseNotify:
    """The peer sent close_notify: it will send nothing more (we may still send, then close)."""


@dataclass(frozen=True)
class ConnectionClosed:
    """The transport ended. ``clean`` is False when no close_notify came first (truncation)."""

    clean: bool


@dataclass(frozen=True)
class SessionInfo:
    """The negotiated session, identical in shape whichever engine ran it."""

    protocol: TLSVersion
    cipher_suite: CipherSuite
    key_exchange: str              # RSA, DHE, ECDHE (for TLS 1.3: from the negotiated group)
    key_exchange_group: Optional[str]
    key_exchange_bits: Optional[int]
    authentication: str            # RSA, ECDSA, ... (for TLS 1.3: the server key type)
    peer_certificates: tuple       # CertificateInfo, leaf first
    peer_authenticated: bool       # the peer presented a certificate that passed our policy
    engine: str
    resumed: bool = False

    @property
    def cipher_suite_name(self) -> str:
        return self.cipher_suite.name

    @property
    def cipher_suite_id(self) -> int:
        return self.cipher_suite.code

    @property
    def encryption(self) -> str:
        return self.cipher_suite.encryption

    @property
    def encryption_bits(self) -> int:
        return self.cipher_suite.encryption_bits

    @property
    def mac(self) -> str:
        return self.cipher_suite.mac

    @property
    def peer_certificate(self) -> Optional[CertificateInfo]:
        return self.peer_certificates[0] if self.peer_certificates else None

    def to_dict(self) -> dict:
        peer = self.peer_certificate
        return {
            "protocol": self.protocol.label,
            "cipher_suite": self.cipher_suite.name,
            "cipher_suite_id": self.cipher_suite.code,
            "encryption": self.encryption,
            "encryption_bits": self.encryption_bits,
            "mac": self.mac,
            "key_exchange": self.key_exchange,
            "key_exchange_group": self.key_exchange_group,
            "key_exchange_bits": self.key_exchange_bits,
            "authentication": self.authentication,
            "peer_certificate": peer.to_dict() if peer else None,
            "peer_chain_length": len(self.peer_certificates),
            "peer_authenticated": self.peer_authenticated,
            "engine": self.engine,
            "resumed": self.resumed,
        }

    def summary(self) -> str:
        kx = self.key_exchange
        if self.key_exchange_group:
            kx += f"({self.key_exchange_group})"
        peer = self.peer_certificate
        who = peer.subject if peer else "no peer certificate"
        return (f"{self.protocol.label} {self.cipher_suite.name} (0x{self.cipher_suite.code:04X}) "
                f"kx={kx} auth={self.authentication} enc={self.encryption}/{self.encryption_bits} "
                f"mac={self.mac} peer={who} engine={self.engine}")


class TLSConnection(abc.ABC):
    """One TLS connection, client or server, driven by bytes and events."""

    engine: str = "?"

    def __init__(self, role: str):
        if role not in ("client", "server"):
            raise ValueError("role must be 'client' or 'server'")
        self.role = role
        self.session: Optional[SessionInfo] = None

    @property
    def handshake_complete(self) -> bool:
        return self.session is not None

    @abc.abstractmethod
    def receive_data(self, data: bytes) -> None:
        """Bytes read from the transport; ``b""`` means the transport reached EOF."""

    @abc.abstractmethod
    def next_event(self):
        """The next event, or NEED_DATA. Drives the handshake; raises typed TLS errors."""

    @abc.abstractmethod
    def send(self, data) -> None:
        """Encrypt application data (any bytes-like object, any size)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Queue close_notify. Further ``send`` calls are errors."""

    @abc.abstractmethod
    def data_to_send(self) -> bytes:
        """Everything queued for the transport (may be empty)."""

    @abc.abstractmethod
    def pending_output(self) -> int:
        """How many bytes ``data_to_send`` would return now."""
