"""What an SCU's ClientHello says (``dicomtls scan-client``): the versions and suites it offers,
in its order, its extensions, curves, signature algorithms, SNI and ALPN, and which PS3.15
profiles a server could serve it (it offers one of the profile's suites at an allowed version)
and which it keeps within (it offers nothing the profile leaves out).

``HelloTap`` collects the client's first bytes beside the engine (a TLSSocket tap) and parses
them once the ClientHello is whole; it never raises: a hello it cannot read is reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..tls.own import extensions as ext
from ..tls.own.messages import HandshakeBuffer, decode_client_hello
from ..tls.profiles import PROFILES
from ..tls.protocol import ContentType, ExtensionType, HandshakeType
from ..tls.suites import by_code
from ..tls.versions import TLSVersion

ALPN = 16
# Extension types a TLS 1.3 or modern 1.2 client sends that ExtensionType does not name.
OTHER_EXTENSIONS = {5: "status_request", 16: "alpn", 18: "signed_certificate_timestamp",
                    21: "padding", 27: "compress_certificate", 28: "record_size_limit",
                    41: "pre_shared_key", 42: "early_data", 44: "cookie",
                    45: "psk_key_exchange_modes", 49: "post_handshake_auth",
                    50: "signature_algorithms_cert", 51: "key_share"}
# Groups older clients (DCMTK, Java) still offer that the engines do not name (RFC 8422 5.1.1,
# RFC 7027).
OTHER_GROUPS = {0x0009: "sect283k1", 0x000A: "sect283r1", 0x000B: "sect409k1",
                0x000C: "sect409r1", 0x000D: "sect571k1", 0x000E: "sect571r1",
                0x0016: "secp256k1", 0x001A: "brainpoolP256r1", 0x001B: "brainpoolP384r1",
                0x001C: "brainpoolP512r1"}
SCSV = {0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV"}
MAX_HELLO = 64 * 1024


@dataclass
class ClientHelloInfo:
    versions: list = field(default_factory=list)       # TLSVersion, highest first
    suites: list = field(default_factory=list)         # IANA names (or 0xNNNN), in order
    suite_codes: list = field(default_factory=list)
    extensions: list = field(default_factory=list)     # names, in order
    groups: list = field(default_factory=list)
    signature_algorithms: list = field(default_factory=list)
    server_name: Optional[str] = None
    alpn: list = field(default_factory=list)
    compression: list = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict:
        return {"versions": [v.label for v in self.versions], "suites": self.suites,
                "extensions": self.extensions, "groups": self.groups,
                "signature_algorithms": self.signature_algorithms,
                "server_name": self.server_name, "alpn": self.alpn,
                "compression": self.compression, "error": self.error,
                "profiles": self.profiles()}

    def profiles(self) -> dict:
        """Per PS3.15 profile: ``served`` (a server of the profile finds a suite and version in
        common) and ``within`` (nothing offered outside the profile), with what is outside."""
        out = {}
        known = [by_code(c) for c in self.suite_codes]
        for prof in PROFILES.values():
            if not prof.all_suites:
                continue
            allowed = {s.code for s in prof.all_suites}
            versions = [v for v in self.versions if prof.min_version <= v <= prof.max_version]
            served = any(s is not None and s.code in allowed and any(s.supports(v) for v in versions)
                         for s in known)
            outside = [s.name for s in known if s is not None and s.code not in allowed]
            outside += [v.label for v in self.versions
                        if not prof.min_version <= v <= prof.max_version]
            out[prof.name] = {"served": served, "within": not outside, "outside": outside}
        return out


def parse_client_hello(body: bytes) -> ClientHelloInfo:
    info = ClientHelloInfo()
    try:
        hello = decode_client_hello(body)
    except Exception as exc:  # noqa: BLE001 - any client may send anything; we report it
        info.error = f"unreadable ClientHello: {exc}"
        return info
    info.suite_codes = [c for c in hello.cipher_suites if c not in SCSV]
    info.suites = [SCSV.get(c) or (by_code(c).name if by_code(c) else f"0x{c:04X}")
                   for c in hello.cipher_suites]
    info.compression = list(hello.compression_methods)
    info.extensions = [OTHER_EXTENSIONS.get(e.type) or ext.extension_name(e.type)
                       for e in hello.extensions]
    versions = hello.extension(ExtensionType.SUPPORTED_VERSIONS)
    if versions:
        codes = [versions[i] << 8 | versions[i + 1] for i in range(1, len(versions) - 1, 2)]
        info.versions = sorted({TLSVersion(c) for c in codes if c in set(TLSVersion)},
                               reverse=True)
    else:
        info.versions = sorted((v for v in TLSVersion if v <= hello.version), reverse=True)
    groups = hello.extension(ExtensionType.SUPPORTED_GROUPS)
    if groups:
        info.groups = [ext.GROUP_IANA_NAMES.get(g) or OTHER_GROUPS.get(g, f"0x{g:04X}")
                       for g in ext.decode_supported_groups(groups)]
    schemes = hello.extension(ExtensionType.SIGNATURE_ALGORITHMS)
    if schemes:
        info.signature_algorithms = [ext.scheme_name(s)
                                     for s in ext.decode_signature_algorithms(schemes)]
    name = hello.extension(ExtensionType.SERVER_NAME)
    if name:
        try:
            info.server_name = ext.decode_server_name(name)
        except Exception:  # noqa: BLE001
            info.server_name = "(unreadable)"
    alpn = hello.extension(ALPN)
    if alpn and len(alpn) > 2:
        at, data = 2, bytes(alpn)
        while at < len(data):
            n = data[at]
            info.alpn.append(data[at + 1:at + 1 + n].decode("ascii", "replace"))
            at += 1 + n
    return info


class HelloTap:
    """Feed it what the client sends (a TLSSocket tap); ``info`` once the ClientHello is in."""

    def __init__(self):
        self._buf, self._hs, self._seen = bytearray(), HandshakeBuffer(), 0
        self.info: Optional[ClientHelloInfo] = None
        self.done = False

    def feed(self, data) -> None:
        if self.done:
            return
        self._seen += len(data)
        if not data or self._seen > MAX_HELLO:
            self.done = True
            return
        self._buf += data
        try:
            while not self.done and len(self._buf) >= 5:
                ctype, length = self._buf[0], self._buf[3] << 8 | self._buf[4]
                if len(self._buf) < 5 + length:
                    return
                payload = bytes(self._buf[5:5 + length])
                del self._buf[:5 + length]
                if ctype != ContentType.HANDSHAKE:
                    self.done = True
                    return
                self._hs.feed(payload)
                msg = self._hs.next_message()
                if msg is not None:
                    if msg[0] == HandshakeType.CLIENT_HELLO:
                        self.info = parse_client_hello(msg[1])
                    self.done = True
        except Exception as exc:  # noqa: BLE001 - malformed input is the engine's to refuse
            self.info = ClientHelloInfo(error=f"unreadable ClientHello: {exc}")
            self.done = True
