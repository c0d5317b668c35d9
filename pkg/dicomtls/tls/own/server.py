"""The own engine's TLS 1.0-1.2 server: one full handshake, RSA/DHE/ECDHE with RSA certificates.

Version and suite choice: the highest version both allow at which a common suite exists (so a
client naming only a single-DES suite, which RFC 5246 removed from TLS 1.2, gets TLS 1.1), suites
by server or client preference as configured. Only extensions the engine implements are answered.
"""

from __future__ import annotations

import enum
import hmac
import os
from typing import Optional

from ...errors import PeerCertificateRequiredError, TLSProtocolViolation
from ..protocol import AlertDescription, ExtensionType, HandshakeType
from ..versions import TLSVersion
from . import extensions as ext
from . import messages as m
from .cipherspec import VERSIONS, allowed_at, prf_digest, record_params
from .connection import OwnConnection
from .hscrypto import EphemeralKey, HandshakeSecrets, certificate_public_key, sign, verify
from .policy import (ECDHE_GROUPS, FFDHE_GROUPS, GROUP_BITS, build_session, can_sign_for,
                     choose_scheme, engine_suites, our_schemes, signature_params, version_range)
from .trust import parse_peer_chain, verify_peer_chain

RSA_SIGN = 1  # ClientCertificateType rsa_sign


def choose(config, hello: m.ClientHello):
    """(version, suite, group) this server picks for ``hello``, or raises the alert it answers.

    Pure: the engine-selecting server (tls/selecting.py) calls it before any engine exists, so
    every refusal that must come before ServerHello is decided here.
    """
    low, high = version_range(config)
    try:
        offered = TLSVersion(min(hello.version, int(VERSIONS[-1])))
    except ValueError:
        offered = None
    if hello.version < int(low) or offered is None:
        raise TLSProtocolViolation(
            f"the client offers at most 0x{hello.version:04X}; {low.label} or newer is required",
            alert=AlertDescription.PROTOCOL_VERSION)
    top = min(offered, high)
    if ext.TLS_FALLBACK_SCSV in hello.cipher_suites and top < high:
        raise TLSProtocolViolation("TLS_FALLBACK_SCSV from a client below our best version",
                                   alert=AlertDescription.INAPPROPRIATE_FALLBACK)
    ours = engine_suites(config, low, high)
    client_groups = hello.extension(ExtensionType.SUPPORTED_GROUPS)
    groups = ext.decode_supported_groups(client_groups) if client_groups is not None else None
    sig_list = hello.extension(ExtensionType.SIGNATURE_ALGORITHMS)
    schemes = ext.decode_signature_algorithms(sig_list) if sig_list is not None else None
    can_sign = can_sign_for(schemes, config)
    tried: list = []
    unsigned = False  # a suite was skipped only because we cannot sign for it
    for version in (v for v in reversed(VERSIONS) if low <= v <= top):
        # A lower version only for suites no higher version allows (single DES is not in TLS
        # 1.2): a suite refused for its group or signature at the top version is not retried
        # below it, which would be a downgrade the client never asked for.
        candidates = [s for s in ours if s.code in hello.cipher_suites and allowed_at(s, version)
                      and not any(allowed_at(s, v) for v in tried)]
        tried.append(version)
        if not config.server_preference:
            candidates.sort(key=lambda s: hello.cipher_suites.index(s.code))
        for suite in candidates:
            if not (can_sign or _signs_nothing(suite, version)):
                unsigned = True
                continue
            group = _group_for(suite, groups, config)
            if group is not False:
                return version, suite, group
    if unsigned:
        raise TLSProtocolViolation(
            "the client's signature_algorithms name no RSA scheme we can sign with, which "
            "every suite in common needs (DHE/ECDHE at TLS 1.2)",
            alert=AlertDescription.HANDSHAKE_FAILURE)
    raise TLSProtocolViolation("no cipher suite in common with the client",
                               alert=AlertDescription.HANDSHAKE_FAILURE)


def _signs_nothing(suite, version) -> bool:
    """True when signature_algorithms cannot rule ``suite`` out at ``version``: RSA key
    transport signs nothing, and before TLS 1.2 the extension does not exist (RFC 5246 7.4.1.4.1;
    the ServerKeyExchange is then signed with MD5+SHA-1, which every RSA key can do)."""
    return suite.key_exchange == "RSA" or version < TLSVersion.TLSv1_2


def alert_version(config, hello: m.ClientHello) -> int:
    """The record version of an alert answering ``hello`` before a version is agreed.

    libssl's (measured against OpenSSL 3.0 s_server): the version negotiation picks, since it
    negotiates the version before the suite; the client's own when the version itself is refused.
    Kept within 1.0..1.2, the versions whose record headers this engine writes.
    """
    low, high = version_range(config)
    version = min(hello.version, int(high))
    if version < int(low):
        version = hello.version
    return max(int(TLSVersion.TLSv1_0), min(version, int(TLSVersion.TLSv1_2)))


def _group_for(suite, groups, config):
    """The key-exchange group for ``suite`` (None for RSA), or False when none is usable."""
    if suite.key_exchange == "RSA":
        return None
    if suite.key_exchange == "ECDHE":
        if groups is None:  # no extension: RFC 8422 5.1 lets the server assume P-256
            return ext.SECP256R1
        return next((g for g in ECDHE_GROUPS if g in groups), False)
    need = max(2048, config.min_dhe_bits or 0)
    usable = [g for g in FFDHE_GROUPS if GROUP_BITS[g] >= need]
    named = [g for g in (groups or ()) if 256 <= g <= 511]
    if named:  # an RFC 7919 client: use a group it named, or not DHE at all (RFC 7919 4)
        return next((g for g in usable if g in named), False)
    return usable[0] if usable else False


class ServerState(enum.Enum):
    """Where a server is in a full RFC 5246 handshake (7.3): the message it waits for."""

    START = enum.auto()
    WAIT_CLIENT_HELLO = enum.auto()
    WAIT_CLIENT_CERTIFICATE = enum.auto()   # we sent a CertificateRequest
    WAIT_KEY_EXCHANGE = enum.auto()
    WAIT_CERTIFICATE_VERIFY = enum.auto()   # the client sent a certificate
    WAIT_CHANGE_CIPHER_SPEC = enum.auto()
    WAIT_FINISHED = enum.auto()
    CONNECTED = enum.auto()


class OwnServerConnection(OwnConnection):
    STATES = ServerState

    def transitions(self):
        # Each handler returns the next state; a pair not listed is an unexpected_message.
        S, H = ServerState, HandshakeType
        return {
            (S.WAIT_CLIENT_HELLO, H.CLIENT_HELLO): self._on_client_hello,
            (S.WAIT_CLIENT_CERTIFICATE, H.CERTIFICATE): self._on_certificate,
            (S.WAIT_KEY_EXCHANGE, H.CLIENT_KEY_EXCHANGE): self._on_client_key_exchange,
            (S.WAIT_CERTIFICATE_VERIFY, H.CERTIFICATE_VERIFY): self._on_certificate_verify,
            (S.WAIT_FINISHED, H.FINISHED): self._on_finished,
            (S.CONNECTED, H.CLIENT_HELLO): self.refuse_renegotiation,
        }

    def __init__(self, config, role="server", *, server_name: Optional[str] = None):
        super().__init__(config, "server", server_name=server_name)
        self.server_random = os.urandom(32)
        self.client_random = b""
        self.client_version = 0
        self.suite = None
        self.group: Optional[int] = None
        self.secrets: Optional[HandshakeSecrets] = None
        self.ephemeral: Optional[EphemeralKey] = None
        self.etm = self.ems = False
        self.requested_cert = config.peer_cert != "ignore"
        self.peer_verified = False

    def start(self) -> ServerState:
        return ServerState.WAIT_CLIENT_HELLO

    # ---- ClientHello -> server flight ---------------------------------------------------------
    def _on_client_hello(self, body, raw) -> ServerState:
        hello = m.decode_client_hello(body)
        self._record_version = alert_version(self.config, hello)
        version, suite, group = choose(self.config, hello)
        self._record_version = int(version)
        reneg = hello.extension(ExtensionType.RENEGOTIATION_INFO)
        if reneg is not None and ext.decode_renegotiation_info(reneg) != b"":
            raise TLSProtocolViolation("non-empty renegotiation_info in an initial handshake",
                                       alert=AlertDescription.HANDSHAKE_FAILURE)
        secure_reneg = reneg is not None or ext.TLS_EMPTY_RENEGOTIATION_INFO_SCSV in hello.cipher_suites
        self.version, self.suite, self.group = version, suite, group
        self.client_random, self.client_version = hello.random, hello.version
        self.secrets = HandshakeSecrets(prf_digest(suite, version))
        self._split_first = version == TLSVersion.TLSv1_0 and suite.block_cipher
        self.transcript.add(raw)

        answer = []  # only extensions this engine implements, and only when the client asked
        if secure_reneg:
            answer.append(ext.Extension(ExtensionType.RENEGOTIATION_INFO,
                                        ext.encode_renegotiation_info(b"")))
        etm = hello.extension(ExtensionType.ENCRYPT_THEN_MAC)
        if etm is not None and suite.block_cipher and self.config.encrypt_then_mac:
            ext.decode_empty(ExtensionType.ENCRYPT_THEN_MAC, etm)
            self.etm = True
            answer.append(ext.Extension(ExtensionType.ENCRYPT_THEN_MAC, b""))
        ems = hello.extension(ExtensionType.EXTENDED_MASTER_SECRET)
        if ems is not None and self.config.extended_master_secret:
            ext.decode_empty(ExtensionType.EXTENDED_MASTER_SECRET, ems)
            self.ems = True
            answer.append(ext.Extension(ExtensionType.EXTENDED_MASTER_SECRET, b""))
        point_formats = hello.extension(ExtensionType.EC_POINT_FORMATS)
        if suite.key_exchange == "ECDHE" and point_formats is not None:
            formats = ext.decode_ec_point_formats(point_formats)
            if ext.POINT_FORMAT_UNCOMPRESSED not in formats:  # RFC 8422 5.1.2: a MUST
                raise TLSProtocolViolation("the client does not accept uncompressed EC points",
                                           alert=AlertDescription.ILLEGAL_PARAMETER)
            answer.append(ext.Extension(ExtensionType.EC_POINT_FORMATS,
                                        ext.encode_ec_point_formats(b"\0")))
        sig_list = hello.extension(ExtensionType.SIGNATURE_ALGORITHMS)
        self.client_schemes = (ext.decode_signature_algorithms(sig_list)
                               if sig_list is not None else None)

        self._send_handshake(m.ServerHello(version=int(version), random=self.server_random,
                                           session_id=b"", cipher_suite=suite.code,
                                           compression_method=0, extensions=answer))
        self._send_handshake(m.Certificate(self.creds.chain_der))
        if suite.key_exchange in ("DHE", "ECDHE"):
            self._send_server_key_exchange()
        if self.requested_cert:
            schemes = our_schemes(self.config) if version >= TLSVersion.TLSv1_2 else None
            self._send_handshake(m.CertificateRequest(bytes((RSA_SIGN,)), schemes, []))
        self._send_handshake(m.ServerHelloDone())
        if self.requested_cert:
            return ServerState.WAIT_CLIENT_CERTIFICATE
        return ServerState.WAIT_KEY_EXCHANGE

    def _send_server_key_exchange(self):
        self.ephemeral = EphemeralKey.generate(ext.GROUP_NAMES[self.group])
        scheme = None
        if self.version >= TLSVersion.TLSv1_2:
            # choose() picked no signing suite without a usable scheme, so there is one.
            scheme = choose_scheme(self.client_schemes, self.config)
        if self.suite.key_exchange == "DHE":
            p, g = self.ephemeral.dh_params()
            ske = m.ServerKeyExchange("DHE", b"", scheme, dh_p=p, dh_g=g,
                                      dh_ys=self.ephemeral.public_bytes())
        else:
            ske = m.ServerKeyExchange("ECDHE", b"", scheme, named_group=self.group,
                                      point=self.ephemeral.public_bytes())
        md, pss = signature_params(self.version, scheme)
        ske.signature = sign(self.creds.key.ptr, md, pss,
                             self.client_random + self.server_random + ske.params_bytes())
        self._send_handshake(ske)

    # ---- client flight ------------------------------------------------------------------------
    def _on_certificate(self, body, raw) -> ServerState:
        cert = m.decode_certificate(body)
        if cert.certificates:
            self.peer_chain = parse_peer_chain(cert.certificates)
            self.peer_verified = verify_peer_chain(self, self.creds, self.peer_chain)
        elif self.config.peer_cert == "require":
            raise PeerCertificateRequiredError(
                "the peer sent no certificate but peer_cert='require'",
                alert_sent=AlertDescription.HANDSHAKE_FAILURE)
        self.transcript.add(raw)
        return ServerState.WAIT_KEY_EXCHANGE

    def _on_client_key_exchange(self, body, raw) -> ServerState:
        kx = self.suite.key_exchange
        cke = m.decode_client_key_exchange(body, kx)
        if kx == "RSA":
            # Implicit rejection: a bad block or version yields a random premaster, so the
            # failure only shows as a Finished mismatch, with no timing or alert difference.
            self.secrets.rsa_server(self.creds.key.ptr, self.client_version, cke.exchange_keys)
        else:
            self.secrets.kx_derive(self.ephemeral, cke.exchange_keys)
            self.ephemeral = None
        self.transcript.add(raw)
        prf_md = prf_digest(self.suite, self.version)
        session_hash = self.transcript.digest(prf_md) if self.ems else None
        self.secrets.master(self.client_random, self.server_random, session_hash)
        if self.config.keylog_file:
            self.write_keylog(self.secrets.keylog_line(self.client_random))
        self._pending_read = self._record_state(encrypt=False)
        if self.peer_chain:
            return ServerState.WAIT_CERTIFICATE_VERIFY
        return ServerState.WAIT_CHANGE_CIPHER_SPEC

    def _on_certificate_verify(self, body, raw) -> ServerState:
        cv = m.decode_certificate_verify(body, int(self.version))
        if self.version >= TLSVersion.TLSv1_2 and cv.signature_algorithm not in our_schemes(
                self.config):
            raise TLSProtocolViolation(
                f"the client signed with scheme 0x{cv.signature_algorithm:04X}, which was not "
                "requested", alert=AlertDescription.ILLEGAL_PARAMETER)
        md, pss = signature_params(self.version, cv.signature_algorithm)
        key = certificate_public_key(self.peer_chain[0])
        if not verify(key, md, pss, bytes(self.transcript.data), cv.signature):
            raise TLSProtocolViolation("the client's CertificateVerify does not verify",
                                       alert=AlertDescription.DECRYPT_ERROR)
        self.transcript.add(raw)
        return ServerState.WAIT_CHANGE_CIPHER_SPEC

    def _on_finished(self, body, raw) -> ServerState:
        fin = m.decode_finished(body)
        prf_md = prf_digest(self.suite, self.version)
        expected = self.secrets.finished(False, self.transcript.digest(prf_md))
        if not hmac.compare_digest(expected, fin.verify_data):
            raise TLSProtocolViolation("the client's Finished does not verify",
                                       alert=AlertDescription.DECRYPT_ERROR)
        self.transcript.add(raw)
        self._send_change_cipher_spec()
        self._send_handshake(m.Finished(self.secrets.finished(True, self.transcript.digest(prf_md))))
        self.secrets.release()
        bits = self.ephemeral_bits()
        return self.complete(build_session(self, self.suite, self.group, bits, self.peer_chain,
                                           self.peer_verified))

    def ephemeral_bits(self):
        return GROUP_BITS.get(self.group) if self.group is not None else None

    def _record_state(self, *, encrypt: bool):
        p = record_params(self.suite, self.version)
        # The server opens with the client-write keys and seals with the server-write keys.
        return self.secrets.record_state(
            encrypt=encrypt, for_client_write=not encrypt, version=int(self.version),
            cipher=p.cipher, mac=p.mac, etm=self.etm, mac_key_len=p.mac_key_len,
            key_len=p.key_len, iv_len=p.iv_len, client_random=self.client_random,
            server_random=self.server_random)
