#!/usr/bin/env python3
"""Fuzz target: dicomtls' own TLS 1.0-1.2 engine, both roles, and its handshake parsers.

Input: the two-byte control header of ``_fuzzutil`` then the bytes the peer sends. Flags:

    bit 0  0: we are the server, the bytes are a client's (ClientHello and what follows)
           1: we are the client; after our ClientHello the bytes are a server's flight
    server  bits 1-2  suite preference (0 ECDHE, 1 DHE, 2 RSA, 3 legacy 3DES/DES/NULL first)
            bit 3     peer_cert="ignore" (no CertificateRequest) instead of "require"
    client  bit 1     peer_cert="require" (verify the chain) instead of "ignore"
            bit 2     offer TLS 1.0-1.1 only (else 1.0-1.2)
            bit 3     offer neither encrypt_then_mac nor extended_master_secret
    both    bit 4     end with EOF

The connection comes from ``tls.engines.new_connection`` with ``engine="dicomtls"`` and the dev
PKI (made once per process in a temporary directory). The client's ClientHello.random is fixed
(``_fuzzutil.CLIENT_RANDOM``) so a recorded server flight still verifies. The same bytes also
go, as plaintext records, to the parsers: ``peek_client_hello``, ``HandshakeBuffer`` and
``decode_handshake`` for every message at TLS 1.0 and 1.2 and every key exchange, each
ClientHello/ServerHello extension to its decoder, and the scanner's taps (``HelloTap`` of
scan-client, ``ServerTap`` of scan), which must never raise.

Acceptable outcomes: events, NEED_DATA, a ``TLSError`` that carries the alert sent or received,
``ConnectionClosedError`` (EOF or close_notify during the handshake); after an error the
connection re-raises the same error. Anything else propagates and atheris reports it.

Run by hand: ``python3 tests/fuzz/fuzz_tls_own.py -max_total_time=600 /tmp/tls
tests/fuzz/corpus/tls_own`` (tests/fuzz/README.md).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _fuzzutil  # noqa: E402

with atheris.instrument_imports(include=["dicomtls"]):
    from dicomtls.crypto.devpki import create_dev_pki
    from dicomtls.errors import ConnectionClosedError, TLSError
    from dicomtls.tls import engines
    from dicomtls.tls.connection import (NEED_DATA, ApplicationData, CloseNotify,
                                         ConnectionClosed, HandshakeComplete)
    from dicomtls.tls.own import extensions as ext
    from dicomtls.tls.own.messages import (KEY_EXCHANGES, ClientHello, HandshakeBuffer,
                                           ServerHello, decode_handshake, peek_client_hello)
    from dicomtls.tls.protocol import ContentType, ExtensionType
    from dicomtls.scan.client_hello import HelloTap
    from dicomtls.scan.probe import ServerTap

from _fuzzutil import TLS_EOF as EOF  # noqa: E402

MAX_EVENTS = 1000
EVENT_TYPES = (ApplicationData, CloseNotify, ConnectionClosed, HandshakeComplete)
EXTENSION_DECODERS = {
    ExtensionType.SERVER_NAME: ext.decode_server_name,
    ExtensionType.SUPPORTED_GROUPS: ext.decode_supported_groups,
    ExtensionType.EC_POINT_FORMATS: ext.decode_ec_point_formats,
    ExtensionType.SIGNATURE_ALGORITHMS: ext.decode_signature_algorithms,
    ExtensionType.RENEGOTIATION_INFO: ext.decode_renegotiation_info,
    ExtensionType.ENCRYPT_THEN_MAC: lambda d: ext.decode_empty(ExtensionType.ENCRYPT_THEN_MAC, d),
    ExtensionType.EXTENDED_MASTER_SECRET:
        lambda d: ext.decode_empty(ExtensionType.EXTENDED_MASTER_SECRET, d),
}

logging.getLogger("dicomtls").setLevel(logging.ERROR)  # one legacy-suite notice per config

_pki = None
_configs: dict = {}


def pki():
    """The dev PKI of this process (made at first use, removed at exit)."""
    global _pki
    if _pki is None:
        directory = tempfile.mkdtemp(prefix="dicomtls-fuzz-pki-")
        atexit.register(shutil.rmtree, directory, True)
        _pki = create_dev_pki(directory)
    return _pki


def config_for(flags: int):
    """(role, TLSConfig) for the flags; configs are cached, so credentials load once."""
    key = _fuzzutil.tls_config_key(flags)
    cached = _configs.get(key)
    if cached is None:
        cached = _configs[key] = _fuzzutil.tls_role_config(pki(), flags)
    return cached


def new_connection(flags: int):
    role, config = config_for(flags)
    conn = engines.new_connection(config, role)
    assert conn.engine == "dicomtls", conn.engine
    if role == "client":
        conn.client_random = _fuzzutil.CLIENT_RANDOM
    else:
        conn.server_random = _fuzzutil.SERVER_RANDOM
    return conn


def check_error(exc: BaseException) -> None:
    # ConnectionClosedError: EOF, or close_notify, before the handshake finished.
    if isinstance(exc, TLSError) and exc.alert_sent is None and exc.alert_received is None:
        raise AssertionError(f"TLSError without an alert: {exc!r}") from exc


def drain(conn) -> None:
    for _ in range(MAX_EVENTS):
        event = conn.next_event()
        conn.data_to_send()
        if event is NEED_DATA:
            return
        assert isinstance(event, EVENT_TYPES), f"unknown event {event!r}"
    raise AssertionError(f"no NEED_DATA after {MAX_EVENTS} events")


def run_connection(flags: int, chunks: list[bytes]) -> None:
    conn = new_connection(flags)
    try:
        drain(conn)  # the client's ClientHello; the server's START
        for chunk in chunks:
            conn.receive_data(chunk)
            drain(conn)
        if flags & EOF:
            conn.receive_data(b"")
            drain(conn)
    except (TLSError, ConnectionClosedError) as exc:
        check_error(exc)
        try:
            conn.next_event()
        except BaseException as again:
            assert again is exc, f"after {exc!r} the connection raised {again!r}"
        else:
            raise AssertionError(f"after {exc!r} the connection went on")


def handshake_messages(payload: bytes):
    """The handshake messages of ``payload`` read as plaintext records (bounded: the stream is)."""
    hs = HandshakeBuffer()
    pos = 0
    while len(payload) - pos >= 5:
        ctype, length = payload[pos], int.from_bytes(payload[pos + 3:pos + 5], "big")
        fragment = payload[pos + 5:pos + 5 + length]
        pos += 5 + length
        if ctype != ContentType.HANDSHAKE:
            continue
        hs.feed(fragment)
        while True:
            msg = hs.next_message()
            if msg is None:
                break
            yield msg


def decode_extensions_of(message) -> None:
    for extension in message.extensions:
        decoder = EXTENSION_DECODERS.get(extension.type)
        if decoder is not None:
            try:
                decoder(extension.data)
            except TLSError:
                pass


def run_parsers(payload: bytes) -> None:
    try:
        hello = peek_client_hello(payload)
        if hello is not None:
            decode_extensions_of(hello)
    except TLSError:
        pass
    try:
        for msg_type, body, raw in handshake_messages(payload):
            assert raw[0] == msg_type and raw[4:] == body
            for version in (0x0301, 0x0303):
                for kx in KEY_EXCHANGES:
                    try:
                        message = decode_handshake(msg_type, body, version=version, kx=kx)
                    except TLSError:
                        continue
                    if isinstance(message, (ClientHello, ServerHello)):
                        decode_extensions_of(message)
                        break  # the same for every version and kx
    except TLSError:
        pass  # HandshakeBuffer: a message over the size limit
    # The scanner's taps read what a peer sends beside the engine and must never raise: the
    # client grader (scan-client) faces any client, the scanner any server.
    for tap in (HelloTap(), ServerTap()):
        tap.feed(payload)
        tap.feed(b"")
    hello = HelloTap()
    hello.feed(payload)
    if hello.info is not None:
        hello.info.to_dict()   # the profile fit runs over what was parsed


def TestOneInput(data: bytes) -> None:
    flags, chunking, seed, payload = _fuzzutil.parse(data)
    run_connection(flags, _fuzzutil.split(chunking, seed, payload))
    run_parsers(payload)


if __name__ == "__main__":
    pki()  # before fuzzing starts: its time is not an input's
    _fuzzutil.limit_address_space()
    atheris.Setup(sys.argv, _fuzzutil.peak_guard(TestOneInput))
    atheris.Fuzz()
