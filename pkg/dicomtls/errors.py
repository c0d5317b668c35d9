"""The dicomtls exception tree.

Every error carries ``lead_code``: the LEADTOOLS ``DICOM_ERROR_*`` number a LDicomNet user would see
for the same failure (reference: ldicomnet-api.md section 8), so the facade can report codes without a
second mapping. Protocol errors split into *local* (the caller misused the API) and *remote* (the peer
misbehaved or refused us).
"""

from __future__ import annotations

from .tls.protocol import AlertDescription  # dependency-free: the alert numbers and names

# LEADTOOLS return codes used below (ltdic.h, section 8 of the API map).
LEAD_NET_SECURITY_BREACH = 65
LEAD_ERROR_TLS = 66
LEAD_TLS_DLL_NOT_LOADED = 68
LEAD_CERTIFICATE_VERIFY_FAILED = 127
LEAD_CLOSE_NOTIFY = 128
LEAD_APPLICATION_VERIFICATION = 191
LEAD_INVALID_CTX = 192
LEAD_INVALID_CTX_VERIFY_DEPTH = 193
LEAD_INVALID_CTX_CAFILE = 195
LEAD_INVALID_CTX_OPTIONS = 196
LEAD_PRIVATE_KEY_LOAD_FAILED = 218
LEAD_CERTIFICATE_LOAD_FAILED = 219
LEAD_KEYS_MISMATCH = 221
LEAD_CRYPTO_LIB_FAILURE = 225
LEAD_NOT_CONNECTED = 49
LEAD_CONNECTION_RESET = 36

# TLS alert description -> LEAD code (127 + position in LEAD's alert list).
_ALERT_TO_LEAD = {
    0: 128, 10: 129, 20: 130, 21: 131, 22: 132, 30: 133, 40: 134, 42: 135, 43: 136, 44: 137,
    45: 138, 46: 139, 47: 140, 48: 141, 49: 142, 50: 143, 51: 144, 60: 145, 70: 146, 71: 147,
    80: 148, 90: 149, 100: 150,
}

def alert_name(description: int) -> str:
    """The IANA name of a TLS alert description ("close_notify"); ``alert_<n>`` for a number
    the registry does not hold. The numbers and names are ``tls.protocol.AlertDescription``."""
    try:
        return AlertDescription(description).name.lower()
    except ValueError:
        return f"alert_{description}"


def lead_code_for_alert(description: int) -> int:
    return _ALERT_TO_LEAD.get(description, LEAD_ERROR_TLS)


def lead_code_for_x509(verify_code: int) -> int:
    """OpenSSL X509_V_ERR_* -> LEAD code: 158 + code for 2..32, 191 for an application veto."""
    if 2 <= verify_code <= 32:
        return 158 + verify_code
    if verify_code == 50:  # X509_V_ERR_APPLICATION_VERIFICATION
        return LEAD_APPLICATION_VERIFICATION
    return LEAD_CERTIFICATE_VERIFY_FAILED


class DicomTLSError(Exception):
    """Root of every error raised by dicomtls."""

    lead_code: int = LEAD_ERROR_TLS

    def __init__(self, message: str, *, lead_code: int | None = None):
        super().__init__(message)
        if lead_code is not None:
            self.lead_code = lead_code


class LocalProtocolError(DicomTLSError):
    """The caller used the API in a way the protocol or the configuration does not allow."""


class RemoteProtocolError(DicomTLSError):
    """The peer misbehaved, refused us, or vanished."""


class ConfigurationError(LocalProtocolError):
    """A TLS configuration is inconsistent or names something unknown."""

    lead_code = LEAD_INVALID_CTX


class UnknownCipherSuiteError(ConfigurationError):
    """A ciphersuite name or code is not in the registry."""


class UnknownProfileError(ConfigurationError):
    """A PS3.15 profile name is not known."""


class EngineUnavailableError(ConfigurationError):
    """No TLS engine in this build can run what the configuration asks for."""

    lead_code = LEAD_TLS_DLL_NOT_LOADED


class CryptoLibraryError(DicomTLSError):
    """OpenSSL failed in a way no more specific error describes (an unexpected error queue entry)."""

    lead_code = LEAD_CRYPTO_LIB_FAILURE

    def __init__(self, message: str, *, openssl_errors: tuple = (), lead_code: int | None = None):
        super().__init__(message, lead_code=lead_code)
        self.openssl_errors = openssl_errors


class KeyLoadError(ConfigurationError):
    """A private key could not be read (bad file, bad format)."""

    lead_code = LEAD_PRIVATE_KEY_LOAD_FAILED

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class KeyPasswordError(KeyLoadError):
    """An encrypted private key could not be unlocked: the password was wrong, or none was given."""

    def __init__(self, message: str, *, path: str | None = None, missing: bool = False):
        super().__init__(message, path=path)
        self.missing = missing


class CertificateLoadError(ConfigurationError):
    """A certificate (own chain or trust store) could not be read."""

    lead_code = LEAD_CERTIFICATE_LOAD_FAILED

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class KeyMismatchError(ConfigurationError):
    """The private key does not belong to the certificate."""

    lead_code = LEAD_KEYS_MISMATCH


class TLSError(RemoteProtocolError):
    """A TLS connection failed. ``alert_sent``/``alert_received`` hold alert descriptions or None.

    ``peer_certificate`` is the ``CertificateInfo`` of the certificate the peer presented (its
    leaf), when it presented one before the failure: who was refused, for the operator's log."""

    lead_code = LEAD_NET_SECURITY_BREACH
    peer_certificate = None

    def __init__(self, message: str, *, alert_sent: int | None = None,
                 alert_received: int | None = None, openssl_errors: tuple = (),
                 lead_code: int | None = None):
        # Subclasses with a code of their own keep it; plain TLSErrors take the alert's code.
        if lead_code is None and type(self).lead_code == TLSError.lead_code:
            alert = alert_received if alert_received is not None else alert_sent
            if alert is not None:
                lead_code = lead_code_for_alert(alert)
        super().__init__(message, lead_code=lead_code)
        self.alert_sent = alert_sent
        self.alert_received = alert_received
        self.openssl_errors = openssl_errors


class TLSAlertReceived(TLSError):
    """The peer sent a fatal alert."""


class TLSProtocolViolation(TLSError):
    """The peer broke the TLS protocol (dicomtls' own engine). ``alert`` is the description the
    engine answers with; once sent it is also in ``alert_sent``."""

    def __init__(self, message: str, *, alert: int = 10, **kw):
        kw.setdefault("alert_sent", alert)
        super().__init__(message, **kw)
        self.alert = alert


class TLSDecodeError(TLSProtocolViolation):
    """A TLS message or extension could not be parsed (decode_error, or illegal_parameter)."""

    def __init__(self, message: str, *, alert: int = 50, **kw):
        super().__init__(message, alert=alert, **kw)


class CertificateVerifyError(TLSError):
    """The peer's certificate chain failed verification (ours or the verify callback's)."""

    def __init__(self, message: str, *, verify_code: int, depth: int | None = None, **kw):
        kw.setdefault("lead_code", lead_code_for_x509(verify_code))
        super().__init__(message, **kw)
        self.verify_code = verify_code
        self.depth = depth


class PeerCertificateRequiredError(TLSError):
    """The peer presented no certificate although the policy requires one."""

    lead_code = LEAD_CERTIFICATE_VERIFY_FAILED


class ConnectionClosedError(RemoteProtocolError):
    """The peer closed the transport (EOF without close_notify, reset, or vanished mid-transfer)."""

    lead_code = LEAD_CONNECTION_RESET


class CallbackError(DicomTLSError):
    """A user callback raised; the original exception is the ``__cause__``."""


# ---- DICOM Upper Layer (PS3.8) and DIMSE (PS3.7) ----------------------------------------------
LEAD_NET_FAILURE = 29  # LEAD's generic network failure; LEAD has no finer codes for these

# A-ABORT / A-P-ABORT provider reasons (PS3.8 Table 9-26)
ABORT_REASON_NOT_SPECIFIED = 0
ABORT_UNRECOGNIZED_PDU = 1
ABORT_UNEXPECTED_PDU = 2
ABORT_UNRECOGNIZED_PDU_PARAMETER = 4
ABORT_UNEXPECTED_PDU_PARAMETER = 5
ABORT_INVALID_PDU_PARAMETER_VALUE = 6


class PDUError(RemoteProtocolError):
    """A PDU from the peer is malformed or truncated.

    ``abort_reason`` is the A-ABORT provider reason the Upper Layer sends in answer (source 2).
    """

    lead_code = LEAD_NET_FAILURE

    def __init__(self, message: str, *, abort_reason: int = ABORT_INVALID_PDU_PARAMETER_VALUE):
        super().__init__(message)
        self.abort_reason = abort_reason


class AssociationError(RemoteProtocolError):
    """An association could not be established or was lost."""

    lead_code = LEAD_NET_FAILURE


class AssociationRejected(AssociationError):
    """A-ASSOCIATE-RJ: ``result`` 1 permanent / 2 transient, ``source`` 1-3, ``reason`` per source."""

    def __init__(self, message: str, *, result: int, source: int, reason: int):
        super().__init__(message)
        self.result, self.source, self.reason = result, source, reason


class AssociationAborted(AssociationError):
    """A-ABORT (source 0 user, 2 provider) or A-P-ABORT."""

    def __init__(self, message: str, *, source: int, reason: int):
        super().__init__(message)
        self.source, self.reason = source, reason


class DIMSEError(RemoteProtocolError):
    """A DIMSE message is malformed (bad command set, missing required element)."""

    lead_code = LEAD_NET_FAILURE


class DIMSEStatusError(DicomTLSError):
    """A DIMSE response carried a failure status (``status`` is the 16-bit code)."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status
