"""The dicomtls exception tree.

Errors carry the protocol's own facts (the TLS alert sent or received, the X.509 verification
code, the A-ABORT reason, the file that failed to load), never a product's error numbers: the
LDicomNet facade derives LEADTOOLS codes from these (``dicomtls.ldicomnet.lead_code``). Protocol
errors split into *local* (the caller misused the API) and *remote* (the peer misbehaved or
refused us).
"""

from __future__ import annotations

from .tls.protocol import AlertDescription  # dependency-free: the alert numbers and names


def alert_name(description: int) -> str:
    """The IANA name of a TLS alert description ("close_notify"); ``alert_<n>`` for a number
    the registry does not hold. The numbers and names are ``tls.protocol.AlertDescription``."""
    try:
        return AlertDescription(description).name.lower()
    except ValueError:
        return f"alert_{description}"


class DicomTLSError(Exception):
    """Root of every error raised by dicomtls."""


class LocalProtocolError(DicomTLSError):
    """The caller used the API in a way the protocol or the configuration does not allow."""


class RemoteProtocolError(DicomTLSError):
    """The peer misbehaved, refused us, or vanished."""


class ConfigurationError(LocalProtocolError):
    """A TLS configuration is inconsistent or names something unknown. ``setting`` names the
    ``TLSConfig`` field at fault when one is (e.g. "ca_file": trust anchors are missing)."""

    def __init__(self, message: str, *, setting: str | None = None):
        super().__init__(message)
        self.setting = setting


class UnknownCipherSuiteError(ConfigurationError):
    """A ciphersuite name or code is not in the registry."""


class UnknownProfileError(ConfigurationError):
    """A PS3.15 profile name is not known."""


class EngineUnavailableError(ConfigurationError):
    """No TLS engine in this build can run what the configuration asks for."""


class CryptoLibraryError(DicomTLSError):
    """OpenSSL failed in a way no more specific error describes (an unexpected error queue entry)."""

    def __init__(self, message: str, *, openssl_errors: tuple = ()):
        super().__init__(message)
        self.openssl_errors = openssl_errors


class KeyLoadError(ConfigurationError):
    """A private key could not be read (bad file, bad format)."""

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

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class KeyMismatchError(ConfigurationError):
    """The private key does not belong to the certificate."""


class TLSError(RemoteProtocolError):
    """A TLS connection failed. ``alert_sent``/``alert_received`` hold alert descriptions or None.

    ``peer_certificate`` is the ``CertificateInfo`` of the certificate the peer presented (its
    leaf), when it presented one before the failure: who was refused, for the operator's log."""

    peer_certificate = None

    def __init__(self, message: str, *, alert_sent: int | None = None,
                 alert_received: int | None = None, openssl_errors: tuple = ()):
        super().__init__(message)
        self.alert_sent = alert_sent
        self.alert_received = alert_received
        self.openssl_errors = openssl_errors


class TLSAlertReceived(TLSError):
    """The peer sent a fatal alert."""


class TLSProtocolViolation(TLSError):
    """The peer broke the TLS protocol (dicomtls' own engine). ``alert`` is the description the
    engine answers with; once sent it is also in ``alert_sent``."""

    def __init__(self, message: str, *, alert: int = AlertDescription.UNEXPECTED_MESSAGE, **kw):
        kw.setdefault("alert_sent", alert)
        super().__init__(message, **kw)
        self.alert = alert


class TLSDecodeError(TLSProtocolViolation):
    """A TLS message or extension could not be parsed (decode_error, or illegal_parameter)."""

    def __init__(self, message: str, *, alert: int = AlertDescription.DECODE_ERROR, **kw):
        super().__init__(message, alert=alert, **kw)


class CertificateVerifyError(TLSError):
    """The peer's certificate chain failed verification (ours or the verify callback's)."""

    def __init__(self, message: str, *, verify_code: int, depth: int | None = None, **kw):
        super().__init__(message, **kw)
        self.verify_code = verify_code
        self.depth = depth


class PeerCertificateRequiredError(TLSError):
    """The peer presented no certificate although the policy requires one."""


class ConnectionClosedError(RemoteProtocolError):
    """The peer closed the transport (EOF without close_notify, reset, or vanished mid-transfer)."""


class CallbackError(DicomTLSError):
    """A user callback raised; the original exception is the ``__cause__``."""


# ---- DICOM Upper Layer (PS3.8) and DIMSE (PS3.7) ----------------------------------------------
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

    def __init__(self, message: str, *, abort_reason: int = ABORT_INVALID_PDU_PARAMETER_VALUE):
        super().__init__(message)
        self.abort_reason = abort_reason


class AssociationError(RemoteProtocolError):
    """An association could not be established or was lost."""


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


class DIMSEStatusError(DicomTLSError):
    """A DIMSE response carried a failure status (``status`` is the 16-bit code)."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status
