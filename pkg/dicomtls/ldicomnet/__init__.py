"""The LEADTOOLS-style facade: ``LDicomNet`` (``net``) and the parts it is made of: the
per-connection I/O thread (``io_thread``), the TLS settings (``tls_settings``), the ``on_*``
events and ``DicomAssociate`` (``events``), the DIMSE sends (``dimse_sends``). LEADTOOLS names
and error numbers live here only: the return codes and ``lead_code(exc)``, which turns any
dicomtls or socket error into one (``codes``), and LEAD's suite ordinals and per-suite enums
(``suites``). The mapping is ``docs/ldicomnet-mapping.md``."""

from . import codes as _codes
from . import suites as _suites
from . import tls_settings as _tls_settings
from .codes import *  # noqa: F401,F403  (DICOM_SUCCESS, DICOM_ERROR_*, lead_code, ...)
from .events import DicomAssociate, DicomPresentationContext
from .net import (DICOM_IPTYPE_IPV4, DICOM_IPTYPE_IPV4_OR_IPV6, DICOM_IPTYPE_IPV6,
                  DICOM_IPTYPE_NONE, DicomNet, LDicomNet)
from .suites import *  # noqa: F401,F403  (TLS_* ordinals, the L_*_METHOD enums, to_suite)
from .tls_settings import *  # noqa: F401,F403  (DICOM_SECURE_*, L_SSL_*, SslCtxCreate, ...)

__all__ = sorted({"DICOM_IPTYPE_IPV4", "DICOM_IPTYPE_IPV4_OR_IPV6", "DICOM_IPTYPE_IPV6",
                  "DICOM_IPTYPE_NONE", "DicomAssociate", "DicomNet", "DicomPresentationContext",
                  "LDicomNet", *_codes.__all__, *_suites.__all__, *_tls_settings.__all__})
