"""dicomtls: DICOM networking secured by TLS, with its hot paths in C over OpenSSL 3."""

from .errors import (CertificateLoadError, CertificateVerifyError, ConfigurationError,
                     ConnectionClosedError, DicomTLSError, EngineUnavailableError, KeyLoadError,
                     KeyMismatchError, KeyPasswordError, LocalProtocolError,
                     PeerCertificateRequiredError, RemoteProtocolError, TLSAlertReceived, TLSError,
                     UnknownCipherSuiteError, UnknownProfileError)
from .tls.versions import TLSVersion
from .tls.suites import ALL_SUITES, CipherSuite, lookup as lookup_suite
from .tls.profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile
from .tls.config import LegacyCryptoWarning, TLSConfig, VerifyContext
from .tls.connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                             HandshakeComplete, SessionInfo, TLSConnection)
from .tls.engines import new_connection, select_engine
from .io.tls_socket import TLSSocket, accept, connect, listen
from ._binding import Features, features

__version__ = "0.1.0"

__all__ = [
    "ALL_SUITES", "ApplicationData", "CertificateLoadError", "CertificateVerifyError",
    "CipherSuite", "CloseNotify", "ConfigurationError", "ConnectionClosed",
    "ConnectionClosedError", "DEFAULT_PROFILE", "Features", "features", "DicomTLSError", "EngineUnavailableError",
    "HandshakeComplete", "KeyLoadError", "KeyMismatchError", "KeyPasswordError",
    "LegacyCryptoWarning", "LocalProtocolError", "NEED_DATA", "PROFILES",
    "PeerCertificateRequiredError", "Profile", "RemoteProtocolError", "SessionInfo",
    "TLSAlertReceived", "TLSConfig", "TLSConnection", "TLSError", "TLSSocket", "TLSVersion",
    "UnknownCipherSuiteError", "UnknownProfileError", "VerifyContext", "accept", "connect",
    "get_profile", "listen", "lookup_suite", "new_connection", "select_engine",
]
