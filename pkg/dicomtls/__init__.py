"""dicomtls: DICOM networking secured by TLS, with its hot paths in C over OpenSSL 3.

Top level: the TLS API (``TLSConfig``, ``TLSConnection``, ``connect``/``accept``/``listen``), the
blocking DICOM API (``associate`` -> ``ClientAssociation``; ``AssociationServer`` with the
services of ``io.services``), the
LEADTOOLS-style facade ``LDicomNet`` and every error. Storage lives in ``dicomtls.storage``
(imported on demand: its SCP needs pydicom's UID tables).
The sans-IO layers are namespaces: ``dicomtls.ul`` (``Association``, its events, PDUs, negotiation)
and ``dicomtls.dimse`` (messages, command sets, statuses). ``ul.NEED_DATA`` and the TLS layer's
``NEED_DATA`` here are different sentinels, which is why ``Association`` is not at the top level.

The names below are imported on first use (PEP 562), so ``import dicomtls`` -- and every
``dicomtls`` command, which imports it -- loads only the errors: ``dicomtls.TLSConfig`` imports
``dicomtls.tls.config`` when first asked for, and ``dir()``, ``__all__`` and
``from dicomtls import *`` see every name as before.
"""

from typing import TYPE_CHECKING

# The errors are cheap and every layer raises them: they stay eager.
from .errors import (AssociationAborted, AssociationError, AssociationRejected, CallbackError,
                     CertificateLoadError, CertificateVerifyError, ConfigurationError,
                     ConnectionClosedError, CryptoLibraryError, DicomTLSError, DIMSEError,
                     DIMSEStatusError, EngineUnavailableError, KeyLoadError, KeyMismatchError,
                     KeyPasswordError, LocalProtocolError, PDUError, PeerCertificateRequiredError,
                     RemoteProtocolError, TLSAlertReceived, TLSDecodeError, TLSError,
                     TLSProtocolViolation, UnknownCipherSuiteError,
                     UnknownProfileError)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time ``__getattr__`` below
    from .tls.versions import TLSVersion
    from .tls.suites import ALL_SUITES, CipherSuite, lookup as lookup_suite
    from .tls.profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile
    from .tls.config import LegacyCryptoWarning, TLSConfig, VerifyContext
    from .tls.session_cache import SessionCache
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
        "ServedAssociation", "Service", "ServiceBase", "ServiceLink", "SessionCache", "SessionInfo",
        "StoreHandler",
        "TLSAlertReceived", "TLSConfig", "TLSConnection", "TLSDecodeError", "TLSError",
        "TLSProtocolViolation", "TLSSocket", "TLSVersion", "UnknownCipherSuiteError",
        "UnknownProfileError", "VerificationServer", "VerificationService", "VerifyContext", "accept",
        "associate", "check_config", "connect", "dimse", "features", "get_profile", "listen",
        "lookup_suite", "new_connection", "nservices", "select_engine", "serve_association",
        "serve_echo_once", "ul",
    ]

__version__ = "0.1.0"

#: The lazily imported names: name -> (module relative to this package, attribute in it; None:
#: the module itself).
_LAZY = {
    "TLSVersion": (".tls.versions", "TLSVersion"),
    "ALL_SUITES": (".tls.suites", "ALL_SUITES"),
    "CipherSuite": (".tls.suites", "CipherSuite"),
    "lookup_suite": (".tls.suites", "lookup"),
    "DEFAULT_PROFILE": (".tls.profiles", "DEFAULT_PROFILE"),
    "PROFILES": (".tls.profiles", "PROFILES"),
    "Profile": (".tls.profiles", "Profile"),
    "get_profile": (".tls.profiles", "get_profile"),
    "LegacyCryptoWarning": (".tls.config", "LegacyCryptoWarning"),
    "TLSConfig": (".tls.config", "TLSConfig"),
    "VerifyContext": (".tls.config", "VerifyContext"),
    "SessionCache": (".tls.session_cache", "SessionCache"),
    "NEED_DATA": (".tls.connection", "NEED_DATA"),
    "ApplicationData": (".tls.connection", "ApplicationData"),
    "CloseNotify": (".tls.connection", "CloseNotify"),
    "ConnectionClosed": (".tls.connection", "ConnectionClosed"),
    "HandshakeComplete": (".tls.connection", "HandshakeComplete"),
    "SessionInfo": (".tls.connection", "SessionInfo"),
    "TLSConnection": (".tls.connection", "TLSConnection"),
    "new_connection": (".tls.engines", "new_connection"),
    "select_engine": (".tls.engines", "select_engine"),
    "ConfigCheck": (".tls.check", "ConfigCheck"),
    "check_config": (".tls.check", "check_config"),
    "TLSSocket": (".io.tls_socket", "TLSSocket"),
    "accept": (".io.tls_socket", "accept"),
    "connect": (".io.tls_socket", "connect"),
    "listen": (".io.tls_socket", "listen"),
    "Features": ("._binding", "Features"),
    "features": ("._binding", "features"),
    "dimse": (".dimse", None),
    "nservices": (".nservices", None),
    "ul": (".ul", None),
    "ClientAssociation": (".io.association_runner", "ClientAssociation"),
    "associate": (".io.association_runner", "associate"),
    "serve_association": (".io.association_runner", "serve_association"),
    "serve_echo_once": (".io.association_runner", "serve_echo_once"),
    "ServedAssociation": (".io.served", "ServedAssociation"),
    "AssociationServer": (".io.server", "AssociationServer"),
    "VerificationServer": (".io.server", "VerificationServer"),
    "EchoHandler": (".io.services", "EchoHandler"),
    "NHandler": (".io.services", "NHandler"),
    "QueryRetrieveHandler": (".io.services", "QueryRetrieveHandler"),
    "Service": (".io.services", "Service"),
    "ServiceBase": (".io.services", "ServiceBase"),
    "ServiceLink": (".io.services", "ServiceLink"),
    "StoreHandler": (".io.services", "StoreHandler"),
    "VerificationService": (".io.services", "VerificationService"),
    "DicomAssociate": (".ldicomnet", "DicomAssociate"),
    "LDicomNet": (".ldicomnet", "LDicomNet"),
}

#: ``__all__`` at run time: every error class of ``errors`` and the lazy names (the same list as
#: the static one above; tests/cli/test_startup_imports.py checks that they agree).
_ALL = sorted([name for name, obj in list(globals().items())
               if isinstance(obj, type) and issubclass(obj, DicomTLSError)] + list(_LAZY))


def __getattr__(name: str):
    """Import a public name on first use and keep it (later lookups do not come here).
    ``__all__`` imports them all first, so what introspects the package through it (pydoc,
    pdoc, ``from dicomtls import *``) finds everything in the module as an eager import
    would have put it there."""
    if name == "__all__":
        for lazy in _LAZY:
            __getattr__(lazy)
        globals()["__all__"] = _ALL
        return _ALL
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    from importlib import import_module
    value = import_module(module, __name__)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_ALL) | {"__all__"})
