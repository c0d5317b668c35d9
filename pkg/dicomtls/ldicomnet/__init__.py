"""The LEADTOOLS-style facade: ``LDicomNet`` (``net``) and the parts it is made of: the
per-object I/O thread (``io_thread``), the TLS settings and getters (``tls_settings``), the
``on_*`` events and ``DicomAssociate`` (``events``) and the DIMSE sends (``dimse_sends``).
LEADTOOLS names and error numbers live here only; the mapping is ``docs/ldicomnet-mapping.md``."""

from .events import DicomAssociate, DicomPresentationContext
from .net import (DICOM_IPTYPE_IPV4, DICOM_IPTYPE_IPV4_OR_IPV6, DICOM_IPTYPE_IPV6,
                  DICOM_IPTYPE_NONE, DicomNet, LDicomNet)
from .tls_settings import *  # noqa: F401,F403  (the DICOM_* / L_* constants LEAD code uses)
from .tls_settings import __all__ as _tls_names

__all__ = sorted(["DICOM_IPTYPE_IPV4", "DICOM_IPTYPE_IPV4_OR_IPV6", "DICOM_IPTYPE_IPV6",
                  "DICOM_IPTYPE_NONE", "DicomAssociate", "DicomNet", "DicomPresentationContext",
                  "LDicomNet", *_tls_names])
