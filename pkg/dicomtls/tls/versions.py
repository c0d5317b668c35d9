"""TLS protocol versions as their wire numbers."""

from __future__ import annotations

import enum

from ..errors import ConfigurationError


class TLSVersion(enum.IntEnum):
    """A protocol version by its wire number (0x0301 = TLS 1.0 ... 0x0304 = TLS 1.3);
    ``parse`` takes "1.2", "TLSv1.2" or the number."""

    TLSv1_0 = 0x0301
    TLSv1_1 = 0x0302
    TLSv1_2 = 0x0303
    TLSv1_3 = 0x0304

    @property
    def label(self) -> str:
        """The name OpenSSL and Python's ssl print: ``TLSv1.2``."""
        return "TLSv1" if self is TLSVersion.TLSv1_0 else "TLSv" + self.short

    @property
    def short(self) -> str:
        """``1.0`` .. ``1.3``, as the command line spells it."""
        return f"1.{self.value - 0x0301}"

    @classmethod
    def parse(cls, text: "str | int | TLSVersion") -> "TLSVersion":
        """Accept ``1.2``, ``TLSv1.2``, ``TLSv1``, ``tls12``, or the wire number."""
        if isinstance(text, TLSVersion):
            return text
        if isinstance(text, int):
            try:
                return cls(text)
            except ValueError:
                raise ConfigurationError(f"unknown TLS version number 0x{text:04x}") from None
        key = str(text).strip().lower().replace("tlsv", "").replace("tls", "").replace("_", ".")
        key = {"1": "1.0", "10": "1.0", "11": "1.1", "12": "1.2", "13": "1.3"}.get(key, key)
        for member in cls:
            if member.short == key:
                return member
        raise ConfigurationError(f"unknown TLS version {text!r} (use 1.0, 1.1, 1.2 or 1.3)")

    @classmethod
    def from_label(cls, label: str) -> "TLSVersion":
        return cls.parse(label)
