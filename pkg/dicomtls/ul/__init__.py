"""DICOM Upper Layer (PS3.8): PDUs and items (``pdu``, ``items``) and stream framing (``framing``)."""

from .framing import PDUReader, read_pdu_header
from .items import (DEFAULT_APPLICATION_CONTEXT, ApplicationContextItem, AsynchronousOperationsWindow,
                    ImplementationClassUID, ImplementationVersionName, MaximumLength,
                    PresentationContextAC, PresentationContextRQ, SCPSCURoleSelection,
                    SOPClassCommonExtendedNegotiation, SOPClassExtendedNegotiation, UnknownSubItem,
                    UserIdentityAC, UserIdentityRQ, UserInformation)
from .pdu import (PDU, PDV, AAbort, AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ,
                  PDataTF, decode_pdu, encode_pdv_header)

__all__ = [
    "AAbort", "AAssociateAC", "AAssociateRJ", "AAssociateRQ", "AReleaseRP", "AReleaseRQ",
    "ApplicationContextItem", "AsynchronousOperationsWindow", "DEFAULT_APPLICATION_CONTEXT",
    "ImplementationClassUID", "ImplementationVersionName", "MaximumLength", "PDU", "PDUReader", "PDV",
    "PDataTF", "PresentationContextAC", "PresentationContextRQ", "SCPSCURoleSelection",
    "SOPClassCommonExtendedNegotiation", "SOPClassExtendedNegotiation", "UnknownSubItem",
    "UserIdentityAC", "UserIdentityRQ", "UserInformation", "decode_pdu", "encode_pdv_header",
    "read_pdu_header",
]
