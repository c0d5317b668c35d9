"""LEADTOOLS return codes, and ``lead_code(exc)``: the code a LEAD caller sees for an exception.

The core (``tls/``, ``ul/``, ``dimse/``, ``io/``) raises typed errors that carry the protocol's
own facts: the TLS alert sent or received, the X.509 verification code, the A-ABORT reason, the
file that failed to load. Only here are those facts turned into LEAD's numbers (``ltdic.h``;
reference ``ldicomnet-api.md`` section 8), at the facade's edge: every ``send_*``/``on_*`` code
of ``LDicomNet`` comes from ``lead_code``, and code ported from LEADTOOLS may call it too.
"""

from __future__ import annotations

import errno
import socket

from ..errors import (AssociationError, CertificateLoadError, CertificateVerifyError,
                      ConfigurationError, ConnectionClosedError, CryptoLibraryError,
                      DIMSEError, DicomTLSError, EngineUnavailableError, KeyLoadError,
                      KeyMismatchError, LocalProtocolError, PDUError,
                      PeerCertificateRequiredError, TLSError)

DICOM_SUCCESS = 0

# ---- socket (29-64, 423) -----------------------------------------------------------------------
DICOM_ERROR_NET_FAILURE = 29          # also LEAD's answer for DICOM Upper Layer / DIMSE failures
DICOM_ERROR_NET_CONNECTION_REFUSED = 35
DICOM_ERROR_NET_CONNECTION_RESET = 36
DICOM_ERROR_NET_NOT_CONNECTED = 49
DICOM_ERROR_NET_TIME_OUT = 56
DICOM_ERROR_NET_HOST_NOT_FOUND = 58
DICOM_ERROR_NET_HOST_UN_REACH = 423

# ---- security (65-69) --------------------------------------------------------------------------
DICOM_ERROR_NET_SECURITY_BREACH = 65  # a TLS failure without an alert to name it
DICOM_ERROR_TLS = 66                  # LEAD's "internal" TLS error: anything not finer
DICOM_ERROR_TLS_DLL_NOT_LOADED = 68
DICOM_ERROR_BAD_SECURE_MODE = 69

# ---- TLS alerts (127-152), X.509 verification (160-191) ----------------------------------------
DICOM_ERROR_TLS_CERTIFICATE_VERIFY_FAILED = 127
DICOM_ERROR_TLS_CLOSE_NOTIFY = 128
DICOM_ERROR_TLS_APPLICATION_VERIFICATION = 191

# ---- context settings (192-196) ----------------------------------------------------------------
DICOM_ERROR_TLS_INVALID_CTX = 192
DICOM_ERROR_TLS_INVALID_CTX_VERIFY_DEPTH = 193
DICOM_ERROR_TLS_INVALID_CTX_VERIFY_MODE = 194
DICOM_ERROR_TLS_INVALID_CTX_CAFILE = 195
DICOM_ERROR_TLS_INVALID_CTX_OPTIONS = 196

# ---- keys and certificates (216-225) -----------------------------------------------------------
DICOM_ERROR_PRIVATE_KEY_LOAD_FAILED = 218
DICOM_ERROR_CERTIFICATE_LOAD_FAILED = 219
DICOM_ERROR_KEYS_MISMATCH = 221
DICOM_ERROR_CRYPTO_LIB_FAILURE = 225

#: TLS alert description -> LEAD code: LEAD numbers the alerts of its list from 128 on (its list
#: skips no_certificate, 41, and stops at no_renegotiation, 100).
ALERT_CODES = {
    0: 128, 10: 129, 20: 130, 21: 131, 22: 132, 30: 133, 40: 134, 42: 135, 43: 136, 44: 137,
    45: 138, 46: 139, 47: 140, 48: 141, 49: 142, 50: 143, 51: 144, 60: 145, 70: 146, 71: 147,
    80: 148, 90: 149, 100: 150,
}

X509_V_ERR_APPLICATION_VERIFICATION = 50


class SecureModeNotSupportedError(LocalProtocolError):
    """DICOM_SECURE_ISCL (or an unknown mode) was asked for: dicomtls speaks TLS or plain TCP."""


def lead_code_for_alert(description: int) -> int:
    """The LEAD code of a TLS alert (``DICOM_ERROR_TLS`` for one LEAD's list lacks)."""
    return ALERT_CODES.get(description, DICOM_ERROR_TLS)


def lead_code_for_x509(verify_code: int) -> int:
    """OpenSSL ``X509_V_ERR_*`` -> LEAD code: 158 + code for 2..32, 191 for the application's
    veto (``on_verify`` returned 0), 127 for the codes LEAD's list stops before."""
    if 2 <= verify_code <= 32:
        return 158 + verify_code
    if verify_code == X509_V_ERR_APPLICATION_VERIFICATION:
        return DICOM_ERROR_TLS_APPLICATION_VERIFICATION
    return DICOM_ERROR_TLS_CERTIFICATE_VERIFY_FAILED


def _tls_code(exc: TLSError) -> int:
    if isinstance(exc, CertificateVerifyError):
        return lead_code_for_x509(exc.verify_code)
    if isinstance(exc, PeerCertificateRequiredError):
        # Its alert (certificate_required / handshake_failure) is only how TLS says it.
        return DICOM_ERROR_TLS_CERTIFICATE_VERIFY_FAILED
    # The peer's alert explains more than ours (ours may only answer it).
    alert = exc.alert_received if exc.alert_received is not None else exc.alert_sent
    return DICOM_ERROR_NET_SECURITY_BREACH if alert is None else lead_code_for_alert(alert)


def _configuration_code(exc: ConfigurationError) -> int:
    if isinstance(exc, KeyLoadError):  # KeyPasswordError too: wrong or missing password
        return DICOM_ERROR_PRIVATE_KEY_LOAD_FAILED
    if isinstance(exc, CertificateLoadError):
        return DICOM_ERROR_CERTIFICATE_LOAD_FAILED
    if isinstance(exc, KeyMismatchError):
        return DICOM_ERROR_KEYS_MISMATCH
    if isinstance(exc, EngineUnavailableError):   # LEAD: the TLS library cannot do it
        return DICOM_ERROR_TLS_DLL_NOT_LOADED
    if exc.setting in ("ca_file", "ca_dir"):
        return DICOM_ERROR_TLS_INVALID_CTX_CAFILE
    return DICOM_ERROR_TLS_INVALID_CTX


def _socket_code(exc: OSError, default: int) -> int:
    if isinstance(exc, ConnectionRefusedError):
        return DICOM_ERROR_NET_CONNECTION_REFUSED
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return DICOM_ERROR_NET_CONNECTION_RESET
    if isinstance(exc, socket.gaierror):
        return DICOM_ERROR_NET_HOST_NOT_FOUND
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return DICOM_ERROR_NET_TIME_OUT
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return DICOM_ERROR_NET_HOST_UN_REACH
    return default


def lead_code(exc: BaseException, default: int = DICOM_ERROR_NET_FAILURE) -> int:
    """The LEAD code for ``exc``: a dicomtls error by its class and the protocol facts it
    carries, a socket error by its kind; ``default`` for anything else."""
    if isinstance(exc, SecureModeNotSupportedError):
        return DICOM_ERROR_BAD_SECURE_MODE
    if isinstance(exc, TLSError):
        return _tls_code(exc)
    if isinstance(exc, ConfigurationError):
        return _configuration_code(exc)
    if isinstance(exc, ConnectionClosedError):
        return DICOM_ERROR_NET_CONNECTION_RESET
    if isinstance(exc, CryptoLibraryError):
        return DICOM_ERROR_CRYPTO_LIB_FAILURE
    if isinstance(exc, (PDUError, AssociationError, DIMSEError)):
        return DICOM_ERROR_NET_FAILURE  # LEAD has no finer codes for the Upper Layer
    if isinstance(exc, DicomTLSError):
        return DICOM_ERROR_TLS
    if isinstance(exc, OSError):
        return _socket_code(exc, default)
    return default


__all__ = ["ALERT_CODES", "SecureModeNotSupportedError", "lead_code", "lead_code_for_alert",
           "lead_code_for_x509"] + [n for n in dir() if n.startswith("DICOM_")]
