"""DICOM Upper Layer (PS3.8), sans-IO.

* ``association``: ``Association``, one association's state as bytes in / events out (``Established``,
  ``MessageReceived``, ``Released``, ``Aborted``, ...). Its ``NEED_DATA`` is not the TLS layer's.
* ``negotiation``: presentation contexts, AE titles and maximum length; well-known UIDs.
* ``pdu``, ``items``, ``user_info``: the PDUs and their items, encoded and decoded exactly.
* ``framing``: cutting a byte stream into PDUs.

Every public name of those modules is re-exported here. ``fsm`` (the PS3.8 state table) is the
machinery under ``Association`` and is left in its module; ``Association`` keeps the ARTIM deadline
itself (``artim_deadline``/``check_timers``), the io layer waits on it.
"""

from . import association, framing, items, negotiation, pdu, user_info  # noqa: F401
from .association import *  # noqa: F401,F403
from .framing import (A_ABORT, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ, A_RELEASE_RP,
                      A_RELEASE_RQ, P_DATA_TF, PDU_HEADER_LENGTH, PDU_NAMES, PDUReader,
                      read_pdu_header)
from .items import *  # noqa: F401,F403
from .negotiation import *  # noqa: F401,F403
from .user_info import *  # noqa: F401,F403
from .pdu import (ABORT_SOURCE_SERVICE_PROVIDER, ABORT_SOURCE_SERVICE_USER, PDU, PDV, REJECTED_PERMANENT,
                  REJECTED_TRANSIENT, RJ_REASONS, SOURCE_SERVICE_PROVIDER_ACSE,
                  SOURCE_SERVICE_PROVIDER_PRESENTATION, SOURCE_SERVICE_USER, AAbort, AAssociateAC,
                  AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ, PDataTF, decode_pdu,
                  encode_ae_title, encode_pdv_header)

_FRAMING = ["A_ABORT", "A_ASSOCIATE_AC", "A_ASSOCIATE_RJ", "A_ASSOCIATE_RQ", "A_RELEASE_RP",
            "A_RELEASE_RQ", "PDUReader", "PDU_HEADER_LENGTH", "PDU_NAMES", "P_DATA_TF",
            "read_pdu_header"]
_PDU = ["AAbort", "AAssociateAC", "AAssociateRJ", "AAssociateRQ", "ABORT_SOURCE_SERVICE_PROVIDER",
        "ABORT_SOURCE_SERVICE_USER", "AReleaseRP", "AReleaseRQ", "PDU", "PDV", "PDataTF",
        "REJECTED_PERMANENT", "REJECTED_TRANSIENT", "RJ_REASONS", "SOURCE_SERVICE_PROVIDER_ACSE",
        "SOURCE_SERVICE_PROVIDER_PRESENTATION", "SOURCE_SERVICE_USER", "decode_pdu",
        "encode_ae_title", "encode_pdv_header"]

__all__ = sorted({*association.__all__, *_FRAMING, *items.__all__, *negotiation.__all__, *_PDU,
                  *user_info.__all__})
del _FRAMING, _PDU
