"""The own engine on the server flights of two fuzz findings (tests/fuzz/crashes/tls_own/), fed
as the fuzz target feeds them, and the hscrypto mappings behind the fixes.

* peer-certificate-bad-notafter-masks-error: the server's certificate has a notAfter OpenSSL
  cannot read. Describing it for the error (``exc.peer_certificate``) raised CryptoLibraryError,
  which replaced the handshake's TLSError and left the connection usable (the next
  ``next_event()`` said NEED_DATA although a fatal alert had been queued).
* rsa-key-exchange-bad-server-modulus-crypto-error: RSA key exchange, peer_cert="ignore", and
  a server certificate whose RSA modulus is even: encrypting the premaster raised
  CryptoLibraryError ("bignum routines: no inverse") instead of failing the handshake with an
  alert like any other peer error.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from fuzz_crashes import server_certificate_der

from dicomtls.crypto.keys import PrivateKey
from dicomtls.crypto.x509 import certificates_from_bytes
from dicomtls.errors import CryptoLibraryError, TLSError, TLSProtocolViolation
from dicomtls.tls import engines
from dicomtls.tls.connection import NEED_DATA
from dicomtls.tls.own.hscrypto import HandshakeSecrets, certificate_public_key, verify
from dicomtls.tls.protocol import AlertDescription, ContentType

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
BAD_NOTAFTER = FUZZ / "crashes" / "tls_own" / "peer-certificate-bad-notafter-masks-error"
EVEN_MODULUS = FUZZ / "crashes" / "tls_own" / "rsa-key-exchange-bad-server-modulus-crypto-error"

# The fuzz target's configurations (flags -> TLSConfig); no atheris needed to import it.
_spec = importlib.util.spec_from_file_location("_fuzzutil", FUZZ / "_fuzzutil.py")
fuzzutil = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzzutil)


def replay(pki, crash: Path):
    """The client connection of fuzz_tls_own.py after the crash's server flight, and the first
    error (None if there was none)."""
    flags, _chunking, _seed, payload = fuzzutil.parse(crash.read_bytes())
    role, config = fuzzutil.tls_role_config(pki, flags)
    assert role == "client"
    conn = engines.new_connection(config, role)
    assert conn.engine == "dicomtls"
    conn.client_random = fuzzutil.CLIENT_RANDOM
    assert conn.next_event() is NEED_DATA
    conn.data_to_send()                                  # our ClientHello
    conn.receive_data(payload)
    try:
        conn.next_event()
    except Exception as exc:  # noqa: BLE001 - what it is, is what is tested
        return conn, exc
    return conn, None


def fatal_alert(description: int) -> bytes:
    return bytes((ContentType.ALERT, 3, 1, 0, 2, 2, description))  # still at the 3.1 record version


def server_certificate(crash: Path):
    der = server_certificate_der(crash)
    return certificates_from_bytes(der, der=True)[0]


# ---- peer-certificate-bad-notafter-masks-error ----------------------------------------------

def test_unreadable_peer_certificate_time_keeps_the_handshake_error(pki):
    conn, exc = replay(pki, BAD_NOTAFTER)
    # The chain does not verify (another run's dev CA): that error, not a secondary one.
    assert isinstance(exc, TLSError), repr(exc)
    assert exc.alert_sent == AlertDescription.UNKNOWN_CA
    cert = exc.peer_certificate
    assert cert is not None and cert.subject == "CN=localhost,O=dicomtls dev PKI"
    assert cert.not_after is None and cert.not_before is not None
    assert conn.data_to_send().endswith(fatal_alert(AlertDescription.UNKNOWN_CA))


def test_failed_connection_stays_failed(pki):
    conn, exc = replay(pki, BAD_NOTAFTER)
    assert isinstance(exc, TLSError)
    for _ in range(2):
        with pytest.raises(TLSError) as again:
            conn.next_event()
        assert again.value is exc
    with pytest.raises(TLSError) as again:
        conn.send(b"x")
    assert again.value is exc


# ---- rsa-key-exchange-bad-server-modulus-crypto-error ---------------------------------------

def test_even_rsa_modulus_fails_the_handshake_with_bad_certificate(pki):
    conn, exc = replay(pki, EVEN_MODULUS)
    assert isinstance(exc, TLSProtocolViolation), repr(exc)
    assert exc.alert_sent == exc.alert == AlertDescription.BAD_CERTIFICATE
    assert "no inverse" in str(exc)
    assert exc.peer_certificate.key_type == "RSA"
    assert conn.data_to_send().endswith(fatal_alert(AlertDescription.BAD_CERTIFICATE))
    with pytest.raises(TLSProtocolViolation) as again:
        conn.next_event()
    assert again.value is exc


def test_rsa_client_maps_a_broken_server_key_and_keeps_no_premaster():
    cert = server_certificate(EVEN_MODULUS)
    hs = HandshakeSecrets("SHA256")
    with pytest.raises(TLSProtocolViolation) as exc:
        hs.rsa_client(certificate_public_key(cert), 0x0303)
    assert exc.value.alert == AlertDescription.BAD_CERTIFICATE
    assert exc.value.openssl_errors                      # OpenSSL's reason is carried along
    with pytest.raises(CryptoLibraryError):
        hs.master(os.urandom(32), os.urandom(32))


def test_unreadable_peer_public_key_is_bad_certificate():
    """The bad-notAfter certificate's key does not decode either (key type "?")."""
    cert = server_certificate(BAD_NOTAFTER)
    assert cert.public_key_type == "?"
    with pytest.raises(TLSProtocolViolation) as exc:
        certificate_public_key(cert)
    assert exc.value.alert == AlertDescription.BAD_CERTIFICATE


def test_peer_key_that_cannot_verify_the_scheme_is_a_tls_error():
    """The server side's CertificateVerify: a client certificate with an EC key claiming an
    RSA-PSS scheme made libcrypto refuse the verification set-up (CryptoLibraryError)."""
    ec_key = PrivateKey.generate("ec", curve="P-256")
    with pytest.raises(TLSProtocolViolation) as exc:
        verify(ec_key, "SHA256", True, b"transcript", bytes(64))
    assert exc.value.alert == AlertDescription.UNSUPPORTED_CERTIFICATE
    # A merely wrong signature stays False (the caller answers decrypt_error).
    assert verify(ec_key, "SHA256", False, b"transcript", bytes(64)) is False
