"""TLS protocol numbers (dicomtls.tls.protocol) against the IANA registries, alert names as
errors.alert_name reports them, and the plaintext record builder's bytes."""

from __future__ import annotations

import pytest

from dicomtls.errors import alert_name
from dicomtls.tls.protocol import (AlertDescription, AlertLevel, ContentType, ExtensionType,
                                   HandshakeType, alert_record, plaintext_records, record_header)

# IANA "TLS Alerts" (https://www.iana.org/assignments/tls-parameters), _RESERVED suffixes dropped.
IANA_ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
    41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 52: "too_many_cids_requested", 60: "export_restriction",
    70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
    109: "missing_extension", 110: "unsupported_extension", 111: "certificate_unobtainable",
    112: "unrecognized_name", 113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value", 115: "unknown_psk_identity", 116: "certificate_required",
    117: "general_error", 120: "no_application_protocol", 121: "ech_required",
}

# IANA "TLS HandshakeType" (6 hello_retry_request is reserved: RFC 8446 sends it as a ServerHello).
IANA_HANDSHAKE_TYPES = {
    0: "hello_request", 1: "client_hello", 2: "server_hello", 3: "hello_verify_request",
    4: "new_session_ticket", 5: "end_of_early_data", 8: "encrypted_extensions",
    9: "request_connection_id", 10: "new_connection_id", 11: "certificate",
    12: "server_key_exchange", 13: "certificate_request", 14: "server_hello_done",
    15: "certificate_verify", 16: "client_key_exchange", 17: "client_certificate_request",
    20: "finished", 21: "certificate_url", 22: "certificate_status", 23: "supplemental_data",
    24: "key_update", 25: "compressed_certificate", 26: "ekt_key", 254: "message_hash",
}


def test_every_iana_alert_and_its_name():
    assert {int(a): a.name.lower() for a in AlertDescription} == IANA_ALERTS
    for code, name in IANA_ALERTS.items():
        assert alert_name(code) == name
        assert alert_name(AlertDescription(code)) == name


@pytest.mark.parametrize("code", [1, 7, 53, 118, 255])
def test_alert_name_of_a_number_the_registry_lacks(code):
    assert alert_name(code) == f"alert_{code}"


def test_handshake_types_are_the_iana_registry():
    assert {int(t): t.name.lower() for t in HandshakeType} == IANA_HANDSHAKE_TYPES


def test_content_types_levels_and_extensions():
    assert {t.name.lower(): int(t) for t in ContentType} == {
        "change_cipher_spec": 20, "alert": 21, "handshake": 22, "application_data": 23,
        "heartbeat": 24, "tls12_cid": 25, "ack": 26}
    assert (AlertLevel.WARNING, AlertLevel.FATAL) == (1, 2)
    assert {t.name.lower(): int(t) for t in ExtensionType} == {
        "server_name": 0, "supported_groups": 10, "ec_point_formats": 11,
        "signature_algorithms": 13, "encrypt_then_mac": 22, "extended_master_secret": 23,
        "session_ticket": 35, "supported_versions": 43, "renegotiation_info": 0xFF01}


def test_alert_record_bytes():
    # A fatal decode_error in a TLS 1.0 record: what the selecting server writes for a
    # ClientHello it cannot read (and what s_server writes for the same).
    assert alert_record(0x0301, AlertLevel.FATAL, AlertDescription.DECODE_ERROR) == \
        bytes.fromhex("15 0301 0002 02 32")
    assert alert_record(0x0303, AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY) == \
        bytes.fromhex("15 0303 0002 01 00")


def test_plaintext_records_split_at_2_14():
    assert record_header(ContentType.HANDSHAKE, 0x0302, 0x1234) == bytes.fromhex("16 0302 1234")
    assert plaintext_records(ContentType.HANDSHAKE, 0x0303, b"") == bytes.fromhex("16 0303 0000")
    payload = bytes(range(256)) * 65   # 16640 bytes: one full record and 256 bytes
    out = plaintext_records(ContentType.HANDSHAKE, 0x0303, payload)
    assert out[:5] == bytes.fromhex("16 0303 4000")
    assert out[5 + 16384:5 + 16384 + 5] == bytes.fromhex("16 0303 0100")
    assert out[5:5 + 16384] + out[10 + 16384:] == payload
