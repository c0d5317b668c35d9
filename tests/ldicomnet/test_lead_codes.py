"""``lead_code(exc)``: the LEADTOOLS code for each error, from its class and its protocol facts.

Expected numbers: ldicomnet-api.md section 8 (LEAD's ``ltdic.h``)."""

from __future__ import annotations

import errno
import socket

import pytest

from dicomtls import errors as E
from dicomtls.ldicomnet import codes as C
from dicomtls.ldicomnet import lead_code


@pytest.mark.parametrize("exc,code", [
    # TLS: the alert names the failure, the peer's before ours; none at all is a breach
    (E.TLSAlertReceived("x", alert_received=40), 134),
    (E.TLSError("x", alert_sent=48), 141),
    (E.TLSError("x", alert_sent=80, alert_received=42), 135),
    (E.TLSProtocolViolation("x", alert=20), 130),
    (E.TLSDecodeError("x"), 143),
    (E.TLSError("x", alert_received=116), C.DICOM_ERROR_TLS),  # not in LEAD's list
    (E.TLSError("x"), C.DICOM_ERROR_NET_SECURITY_BREACH),
    # certificates: X.509 code, never the alert that carried it
    (E.CertificateVerifyError("x", verify_code=10, alert_sent=45), 168),
    (E.CertificateVerifyError("x", verify_code=22), 180),
    (E.CertificateVerifyError("x", verify_code=50), 191),
    (E.CertificateVerifyError("x", verify_code=62), 127),
    (E.PeerCertificateRequiredError("x", alert_sent=116), 127),
    # configuration and credentials
    (E.KeyPasswordError("x", path="k.pem", missing=True), 218),
    (E.KeyLoadError("x", path="k.pem"), 218),
    (E.CertificateLoadError("x", path="c.pem"), 219),
    (E.KeyMismatchError("x"), 221),
    (E.EngineUnavailableError("x"), 68),
    (E.ConfigurationError("x", setting="ca_file"), 195),
    (E.ConfigurationError("x"), 192),
    (E.UnknownCipherSuiteError("x"), 192),
    (E.CryptoLibraryError("x"), 225),
    # the transport and the Upper Layer
    (E.ConnectionClosedError("x"), 36),
    (E.PDUError("x", abort_reason=2), 29),
    (E.AssociationAborted("x", source=2, reason=0), 29),
    (E.DIMSEError("x"), 29),
    (E.LocalProtocolError("x"), C.DICOM_ERROR_TLS),
    (C.SecureModeNotSupportedError("x"), 69),
    # sockets
    (ConnectionRefusedError(), 35),
    (ConnectionResetError(), 36),
    (BrokenPipeError(), 36),
    (socket.gaierror(), 58),
    (socket.timeout(), 56),
    (OSError(errno.EHOSTUNREACH, "no route"), 423),
])
def test_lead_code(exc, code):
    assert lead_code(exc) == code


def test_default_for_what_has_no_code():
    assert lead_code(ValueError()) == C.DICOM_ERROR_NET_FAILURE
    assert lead_code(OSError(errno.EACCES, "x"), C.DICOM_ERROR_TLS) == C.DICOM_ERROR_TLS


def test_alert_and_x509_tables():
    assert C.lead_code_for_alert(0) == C.DICOM_ERROR_TLS_CLOSE_NOTIFY == 128
    assert C.lead_code_for_alert(100) == 150
    assert C.lead_code_for_alert(41) == C.DICOM_ERROR_TLS  # no_certificate: not in LEAD's list
    assert [C.lead_code_for_x509(v) for v in (2, 32, 1, 33, 50)] == [160, 190, 127, 127, 191]


def test_the_core_errors_carry_no_lead_code():
    for cls in vars(E).values():
        if isinstance(cls, type) and issubclass(cls, Exception):
            assert not hasattr(cls, "lead_code"), cls
