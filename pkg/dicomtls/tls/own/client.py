"""The own engine's TLS 1.0-1.2 client: one full handshake (no resumption, no renegotiation).

``transitions()`` maps (state, handshake message) to the handler; each handler checks the
message, adds it to the transcript at the point RFC 5246 hashes it, and returns the next state.
"""

from __future__ import annotations

import enum
import functools
import hmac
import os
from typing import Optional

from ...errors import TLSProtocolViolation
from ..credentials import is_ip_address
from ..versions import TLSVersion
from ..protocol import AlertDescription, ExtensionType, HandshakeType
from . import extensions as ext
from . import messages as m
from .cipherspec import allowed_at, prf_digest, record_params, suite_by_code
from .connection import OwnConnection
from .hscrypto import EphemeralKey, HandshakeSecrets, certificate_public_key, sign, verify
from .policy import (ECDHE_GROUPS, FFDHE_GROUPS, GROUP_BITS, build_session, check_dh_prime,
                     choose_scheme, engine_suites, our_schemes, signature_params, version_range)
from .trust import parse_peer_chain, verify_peer_chain


class ClientState(enum.Enum):
    """Where a client is in a full RFC 5246 handshake (7.3): the message it waits for."""

    START = enum.auto()                     # nothing sent yet
    WAIT_SERVER_HELLO = enum.auto()         # ClientHello sent
    WAIT_CERTIFICATE = enum.auto()
    WAIT_KEY_EXCHANGE = enum.auto()         # DHE/ECDHE: the signed ServerKeyExchange
    WAIT_REQUEST_OR_DONE = enum.auto()      # CertificateRequest is optional
    WAIT_DONE = enum.auto()
    WAIT_CHANGE_CIPHER_SPEC = enum.auto()   # our flight is out, up to our Finished
    WAIT_FINISHED = enum.auto()
    CONNECTED = enum.auto()


class OwnClientConnection(OwnConnection):
    STATES = ClientState

    def transitions(self):
        # Each handler returns the next state; a pair not listed is an unexpected_message.
        S, H = ClientState, HandshakeType
        table = {
            (S.WAIT_SERVER_HELLO, H.SERVER_HELLO): self._on_server_hello,
            (S.WAIT_CERTIFICATE, H.CERTIFICATE): self._on_certificate,
            (S.WAIT_KEY_EXCHANGE, H.SERVER_KEY_EXCHANGE): self._on_server_key_exchange,
            (S.WAIT_REQUEST_OR_DONE, H.CERTIFICATE_REQUEST): self._on_certificate_request,
            (S.WAIT_REQUEST_OR_DONE, H.SERVER_HELLO_DONE): self._on_server_hello_done,
            (S.WAIT_DONE, H.SERVER_HELLO_DONE): self._on_server_hello_done,
            (S.WAIT_FINISHED, H.FINISHED): self._on_finished,
            (S.CONNECTED, H.HELLO_REQUEST): self.refuse_renegotiation,
        }
        # A HelloRequest in the middle of a handshake is ignored (RFC 5246 7.4.1.1).
        for state in ClientState:
            if state not in (S.START, S.CONNECTED):
                table[(state, H.HELLO_REQUEST)] = self._ignore_hello_request
        return table

    def __init__(self, config, role="client", *, server_name: Optional[str] = None):
        super().__init__(config, "client", server_name=server_name)
        self.low, self.high = version_range(config)
        self.offered = engine_suites(config, self.low, self.high)
        if not self.offered:
            raise TLSProtocolViolation("no configured suite can run on dicomtls' own engine",
                                       alert=AlertDescription.HANDSHAKE_FAILURE)
        self.client_random = os.urandom(32)
        self.server_random = b""
        self.suite = None
        self.secrets: Optional[HandshakeSecrets] = None
        self.etm = self.ems = False
        self.peer_verified = False
        self.server_key = None
        self.ske: Optional[m.ServerKeyExchange] = None
        self.cert_request: Optional[m.CertificateRequest] = None
        self.group: Optional[int] = None
        self.kx_bits: Optional[int] = None
        self.sent_extensions: set[int] = set()
        # Conformance knobs (TLSConfig): leave out RFC 7366 / RFC 7627 to test a peer without them.
        self.offer_etm = config.encrypt_then_mac
        self.offer_ems = config.extended_master_secret
        # The scanner's hello probes (scan/hello_probes.py) set these on one connection: codes
        # sent after the suites (TLS_FALLBACK_SCSV), and compression methods offered (a server
        # choosing one is then reported, and refused: we never compress).
        self.extra_suite_codes: tuple = ()
        self.compression_offer = b"\0"

    # ---- ClientHello ------------------------------------------------------------------------
    def start(self) -> ClientState:
        kxs = {s.key_exchange for s in self.offered}
        exts = []
        if self.server_name and not is_ip_address(self.server_name):
            exts.append(ext.Extension(ExtensionType.SERVER_NAME,
                                      ext.encode_server_name(self.server_name)))
        groups = []
        if "ECDHE" in kxs:
            groups += ECDHE_GROUPS
        if "DHE" in kxs:
            groups += FFDHE_GROUPS
        if groups:
            exts.append(ext.Extension(ExtensionType.SUPPORTED_GROUPS,
                                      ext.encode_supported_groups(groups)))
        if "ECDHE" in kxs:
            exts.append(ext.Extension(ExtensionType.EC_POINT_FORMATS,
                                      ext.encode_ec_point_formats(b"\0")))
        if self.high >= TLSVersion.TLSv1_2:
            exts.append(ext.Extension(ExtensionType.SIGNATURE_ALGORITHMS,
                                      ext.encode_signature_algorithms(our_schemes(self.config))))
        if self.offer_etm and any(s.block_cipher for s in self.offered):
            exts.append(ext.Extension(ExtensionType.ENCRYPT_THEN_MAC, b""))
        if self.offer_ems:
            exts.append(ext.Extension(ExtensionType.EXTENDED_MASTER_SECRET, b""))
        exts.append(ext.Extension(ExtensionType.RENEGOTIATION_INFO,
                                  ext.encode_renegotiation_info(b"")))
        self.sent_extensions = {e.type for e in exts}
        self.hello_extensions = exts   # a renegotiation probe repeats them (scan/hello_probes)
        hello = m.ClientHello(version=int(self.high), random=self.client_random, session_id=b"",
                              cipher_suites=[s.code for s in self.offered]
                              + list(self.extra_suite_codes),
                              compression_methods=self.compression_offer, extensions=exts)
        self._send_handshake(hello)
        # Until the server's version is accepted, an alert belongs to the version we offered
        # (libssl's client does the same; the ClientHello itself stays in a 0x0301 record).
        self._record_version = int(self.high)
        return ClientState.WAIT_SERVER_HELLO

    # ---- server flight ----------------------------------------------------------------------
    def _on_server_hello(self, body, raw) -> ClientState:
        hello = m.decode_server_hello(body)
        try:
            version = TLSVersion(hello.version)
        except ValueError:
            version = None
        if version is None or not self.low <= version <= self.high:
            raise TLSProtocolViolation(
                f"the server chose protocol 0x{hello.version:04X}; allowed are "
                f"{self.low.label} to {self.high.label}",
                alert=AlertDescription.PROTOCOL_VERSION)
        self._record_version = int(version)  # agreed: later alerts belong to it
        suite = suite_by_code(hello.cipher_suite)
        if suite is None or suite not in self.offered or not allowed_at(suite, version):
            raise TLSProtocolViolation(
                f"the server chose suite 0x{hello.cipher_suite:04X}, which was not offered for "
                f"{version.label}", alert=AlertDescription.ILLEGAL_PARAMETER)
        if hello.compression_method != 0:
            raise TLSProtocolViolation("the server chose compression",
                                       alert=AlertDescription.ILLEGAL_PARAMETER)
        for e in hello.extensions:
            if e.type not in self.sent_extensions:
                raise TLSProtocolViolation(
                    f"the server sent extension {e.type}, which was not offered",
                    alert=AlertDescription.UNSUPPORTED_EXTENSION)
        reneg = hello.extension(ExtensionType.RENEGOTIATION_INFO)
        if reneg is not None and ext.decode_renegotiation_info(reneg) != b"":
            raise TLSProtocolViolation("non-empty renegotiation_info in an initial handshake",
                                       alert=AlertDescription.HANDSHAKE_FAILURE)
        etm = hello.extension(ExtensionType.ENCRYPT_THEN_MAC)
        if etm is not None:
            ext.decode_empty(ExtensionType.ENCRYPT_THEN_MAC, etm)
            # RFC 7366 3: only meaningful with a block cipher; ignored otherwise.
            self.etm = suite.block_cipher
        ems = hello.extension(ExtensionType.EXTENDED_MASTER_SECRET)
        if ems is not None:
            ext.decode_empty(ExtensionType.EXTENDED_MASTER_SECRET, ems)
            self.ems = True
        self.version, self.suite = version, suite
        self.server_random = hello.random
        self.secrets = HandshakeSecrets(prf_digest(suite, version))
        self._split_first = version == TLSVersion.TLSv1_0 and suite.block_cipher
        self.transcript.add(raw)
        return ClientState.WAIT_CERTIFICATE

    def _on_certificate(self, body, raw) -> ClientState:
        cert = m.decode_certificate(body)
        if not cert.certificates:
            raise TLSProtocolViolation("the server sent no certificate",
                                       alert=AlertDescription.DECODE_ERROR)
        self.peer_chain = parse_peer_chain(cert.certificates)
        self.peer_verified = verify_peer_chain(self, self.creds, self.peer_chain,
                                               server_name=self.server_name)
        key_type = self.peer_chain[0].public_key_type.upper()
        if key_type != "RSA":
            raise TLSProtocolViolation(f"the server's certificate has a {key_type} key; the "
                                       "negotiated suite needs RSA",
                                       alert=AlertDescription.UNSUPPORTED_CERTIFICATE)
        self.server_key = certificate_public_key(self.peer_chain[0])
        self.transcript.add(raw)
        if self.suite.key_exchange in ("DHE", "ECDHE"):
            return ClientState.WAIT_KEY_EXCHANGE
        return ClientState.WAIT_REQUEST_OR_DONE

    def _on_server_key_exchange(self, body, raw) -> ClientState:
        ske = m.decode_server_key_exchange(body, self.suite.key_exchange, int(self.version))
        scheme = ske.signature_algorithm
        if self.version >= TLSVersion.TLSv1_2 and scheme not in our_schemes(self.config):
            raise TLSProtocolViolation(f"the server signed with scheme 0x{scheme:04X}, which was "
                                       "not offered", alert=AlertDescription.ILLEGAL_PARAMETER)
        md, pss = signature_params(self.version, scheme)
        signed = self.client_random + self.server_random + ske.params_bytes()
        if not verify(self.server_key, md, pss, signed, ske.signature):
            raise TLSProtocolViolation("the ServerKeyExchange signature does not verify",
                                       alert=AlertDescription.DECRYPT_ERROR)
        if self.suite.key_exchange == "DHE":
            self.kx_bits = check_dh_prime(ske.dh_p, self.config)
            self.group = ffdhe_group_of(ske.dh_p)
        else:
            if ske.named_group not in ECDHE_GROUPS:
                raise TLSProtocolViolation(f"the server chose group {ske.named_group}, which was "
                                           "not offered",
                                           alert=AlertDescription.ILLEGAL_PARAMETER)
            self.group = ske.named_group
        self.ske = ske
        self.transcript.add(raw)
        return ClientState.WAIT_REQUEST_OR_DONE

    def _on_certificate_request(self, body, raw) -> ClientState:
        self.cert_request = m.decode_certificate_request(body, int(self.version))
        self.transcript.add(raw)
        return ClientState.WAIT_DONE

    def _on_server_hello_done(self, body, raw) -> ClientState:
        m.decode_server_hello_done(body)
        self.transcript.add(raw)
        self._send_client_flight()
        return ClientState.WAIT_CHANGE_CIPHER_SPEC

    # ---- client flight ----------------------------------------------------------------------
    def _send_client_flight(self):
        send_cert = self.cert_request is not None
        own_chain = self.creds.chain_der if send_cert else []
        if send_cert:
            self._send_handshake(m.Certificate(own_chain))
        kx = self.suite.key_exchange
        secrets = self.secrets
        if kx == "RSA":
            enc = secrets.rsa_client(self.server_key, int(self.high))
            self._send_handshake(m.ClientKeyExchange("RSA", enc))
        else:
            if kx == "DHE":
                ours = EphemeralKey.from_dh_params(self.ske.dh_p, self.ske.dh_g)
                secrets.kx_derive(ours, self.ske.dh_ys)
            else:
                ours = EphemeralKey.generate(ext.GROUP_NAMES[self.ske.named_group])
                secrets.kx_derive(ours, self.ske.point)
            self._send_handshake(m.ClientKeyExchange(kx, ours.public_bytes()))
        prf_md = prf_digest(self.suite, self.version)
        session_hash = self.transcript.digest(prf_md) if self.ems else None
        secrets.master(self.client_random, self.server_random, session_hash)
        if self.config.keylog_file:
            self.write_keylog(secrets.keylog_line(self.client_random))
        if own_chain:
            self._send_certificate_verify()
        self._send_change_cipher_spec()
        self._pending_read = self._record_state(encrypt=False)
        verify_data = secrets.finished(False, self.transcript.digest(prf_md))
        self.client_verify_data = verify_data   # RFC 5746: what a renegotiation would carry
        self._send_handshake(m.Finished(verify_data))

    def _send_certificate_verify(self):
        scheme = None
        if self.version >= TLSVersion.TLSv1_2:
            scheme = choose_scheme(self.cert_request.signature_algorithms, self.config)
            if scheme is None:
                raise TLSProtocolViolation("the server accepts no RSA signature scheme we have",
                                           alert=AlertDescription.HANDSHAKE_FAILURE)
        md, pss = signature_params(self.version, scheme)
        signature = sign(self.creds.key.ptr, md, pss, bytes(self.transcript.data))
        self._send_handshake(m.CertificateVerify(signature, scheme))

    def _record_state(self, *, encrypt: bool):
        p = record_params(self.suite, self.version)
        # The client seals with the client-write keys and opens with the server-write keys.
        return self.secrets.record_state(
            encrypt=encrypt, for_client_write=encrypt, version=int(self.version), cipher=p.cipher,
            mac=p.mac, etm=self.etm, mac_key_len=p.mac_key_len, key_len=p.key_len,
            iv_len=p.iv_len, client_random=self.client_random, server_random=self.server_random)

    def _on_finished(self, body, raw) -> ClientState:
        fin = m.decode_finished(body)
        expected = self.secrets.finished(True, self.transcript.digest(
            prf_digest(self.suite, self.version)))
        if not hmac.compare_digest(expected, fin.verify_data):
            raise TLSProtocolViolation("the server's Finished does not verify",
                                       alert=AlertDescription.DECRYPT_ERROR)
        self.transcript.add(raw)
        self.secrets.release()
        return self.complete(build_session(self, self.suite, self.group, self.kx_bits,
                                           self.peer_chain, self.peer_verified))

    def _ignore_hello_request(self, body, raw) -> ClientState:
        return self.state


@functools.lru_cache(maxsize=None)
def ffdhe_prime(group: int) -> bytes:
    return EphemeralKey.generate(ext.GROUP_NAMES[group]).dh_params()[0]


def ffdhe_group_of(p: bytes) -> Optional[int]:
    """The RFC 7919 group whose prime is ``p`` (so SessionInfo can name it), else None."""
    p = p.lstrip(b"\0")
    bits = int.from_bytes(p, "big").bit_length()
    for group in FFDHE_GROUPS:
        if GROUP_BITS[group] == bits and ffdhe_prime(group) == p:
            return group
    return None
