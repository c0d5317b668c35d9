"""dicomtls: DICOM networking secured by TLS, with its hot paths in C over OpenSSL 3.

Top level: the TLS API (``TLSConfig``, ``TLSConnection``, ``connect``/``accept``/``listen``), the
blocking DICOM API (``associate`` -> ``ClientAssociation``; ``AssociationServer`` with the
services of ``io.services``), the
LEADTOOLS-style facade ``LDicomNet`` and every error. Storage lives in ``dicomtls.storage``
(imported on demand: its SCP needs pydicom's UID tables).
The sans-IO layers are namespaces: ``dicomtls.ul`` (``Association``, its events, PDUs, negotiation)
and ``dicomtls.dimse`` (messages, command sets, statuses). ``ul.NEED_DATA`` and the TLS layer's
``NEED_DATA`` here are different sentinels, which is why ``Association`` is not at the top level.
"""

from .errors import (AssociationAborted, AssociationError, AssociationRejected, CallbackError,
                     CertificateLoadError, CertificateVerifyError, ConfigurationError,
                     ConnectionClosedError, CryptoLibraryError, DicomTLSError, DIMSEError,
                     DIMSEStatusError, EngineUnavailableError, KeyLoadError, KeyMismatchError,
                     KeyPasswordError, LocalProtocolError, PDUError, PeerCertificateRequiredError,
                     RemoteProtocolError, TLSAlertReceived, TLSDecodeError, TLSError,
                     TLSProtocolViolation, UnknownCipherSuiteError,
                     UnknownProfileError)
from .tls.versions import TLSVersion
from .tls.suites import ALL_SUITES, CipherSuite, lookup as lookup_suite
from .tls.profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile
from .tls.config import LegacyCryptoWarning, TLSConfig, VerifyContext
from .tls.connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                             HandshakeComplete, SessionInfo, TLSConnection)
from .tls.engines import new_connection, select_engine
from .tls.check import ConfigCheck, check_config
from .io.tls_socket import TLSSocket, accept, connect, listen
from ._binding import Features, features
from . import dimse, nservices, ul
from .io.association_runner import (ClientAssociation, associate, serve_association,
                                    serve_echo_once)
from .io.served import ServedAssociation
from .io.server import AssociationServer, VerificationServer
from .io.services import (EchoHandler, NHandler, QueryRetrieveHandler, Service, ServiceBase,
                          ServiceLink, StoreHandler, VerificationService)
from .ldicomnet import DicomAssociate, LDicomNet

__version__ = "0.1.0"

__all__ = [
    "ALL_SUITES", "ApplicationData", "AssociationAborted", "AssociationError",
    "AssociationRejected", "AssociationServer", "CallbackError", "CertificateLoadError",
    "CertificateVerifyError", "CipherSuite", "ClientAssociation", "CloseNotify", "ConfigCheck",
    "ConfigurationError", "ConnectionClosed", "ConnectionClosedError", "CryptoLibraryError",
    "DEFAULT_PROFILE", "DIMSEError", "DIMSEStatusError", "DicomAssociate", "DicomTLSError",
    "EchoHandler", "EngineUnavailableError", "Features", "HandshakeComplete", "KeyLoadError",
    "KeyMismatchError", "KeyPasswordError", "LDicomNet", "LegacyCryptoWarning",
    "LocalProtocolError", "NEED_DATA", "NHandler", "PDUError", "PROFILES",
    "PeerCertificateRequiredError", "Profile", "QueryRetrieveHandler", "RemoteProtocolError",
    "ServedAssociation", "Service", "ServiceBase", "ServiceLink", "SessionInfo", "StoreHandler",
    "TLSAlertReceived", "TLSConfig", "TLSConnection", "TLSDecodeError", "TLSError",
    "TLSProtocolViolation", "TLSSocket", "TLSVersion", "UnknownCipherSuiteError",
    "UnknownProfileError", "VerificationServer", "VerificationService", "VerifyContext", "accept",
    "associate", "check_config", "connect", "dimse", "features", "get_profile", "listen",
    "lookup_suite", "new_connection", "nservices", "select_engine", "serve_association",
    "serve_echo_once", "ul",
]
