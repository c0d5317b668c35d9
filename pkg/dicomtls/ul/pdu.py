"""The seven Upper Layer PDUs of PS3.8 9.3, encoded and decoded exactly; no I/O.

``decode_pdu(data)`` takes one whole PDU (header included, as ``framing.PDUReader`` yields it) and
returns one of the dataclasses below; every object has ``encode() -> bytes``. A malformed PDU raises
``PDUError`` whose ``abort_reason`` is the A-ABORT reason to answer with (PS3.8 Table 9-26):
unknown PDU type 1, unknown item type 4, known item in the wrong place 5, any bad length or value 6.

Decisions where PS3.8 leaves room:
* Reserved fields are never tested on decode and are written as zero (PS3.8 9.3.1). The exception is
  the A-ASSOCIATE-AC's AE title fields, which PS3.8 calls reserved but tells the acceptor to echo: they
  are kept as decoded, unvalidated.
* The protocol version is kept raw; ``supports_version_1`` tells the acceptor whether to go on or
  reject with reason protocol-version-not-supported (a decision, not a parse error).
* A-ASSOCIATE-RQ AE titles must be printable ISO 646 without backslash (PDUError otherwise); an
  all-space title decodes to "" so the acceptor can answer with an A-ASSOCIATE-RJ instead of an abort.
* A-ASSOCIATE-RJ result/source/reason must be a combination Table 9-21 defines, both ways.
* A-ABORT: any source and reason byte is accepted on decode, kept raw. An abort ends the association
  whatever it says, and answering one with a PDUError would be pointless. Encode allows source 0
  (reason 0) or 2 (reason 0-2, 4-6); source 1 is reserved.
* P-DATA-TF PDVs are read-only memoryview slices of the input: no fragment is copied.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Iterable, Union

from ..errors import (ABORT_INVALID_PDU_PARAMETER_VALUE, ABORT_UNEXPECTED_PDU_PARAMETER,
                      ABORT_UNRECOGNIZED_PDU, ABORT_UNRECOGNIZED_PDU_PARAMETER, PDUError)
from .framing import (A_ABORT, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ, A_RELEASE_RP,
                      A_RELEASE_RQ, P_DATA_TF, PDU_HEADER, PDU_HEADER_LENGTH, PDU_NAMES,
                      read_pdu_header)
from .items import (APPLICATION_CONTEXT_ITEM, DEFAULT_APPLICATION_CONTEXT, KNOWN_ITEM_TYPES,
                    PRESENTATION_CONTEXT_ITEM_AC, PRESENTATION_CONTEXT_ITEM_RQ,
                    SOP_CLASS_COMMON_EXTENDED_NEGOTIATION_SUB_ITEM, USER_IDENTITY_SUB_ITEM_AC,
                    USER_IDENTITY_SUB_ITEM_RQ, USER_INFORMATION_ITEM, ApplicationContextItem,
                    PresentationContextAC, PresentationContextRQ, iter_items)
from .user_info import UserInformation

# A-ASSOCIATE-RJ (PS3.8 Table 9-21)
REJECTED_PERMANENT = 1
REJECTED_TRANSIENT = 2
SOURCE_SERVICE_USER = 1
SOURCE_SERVICE_PROVIDER_ACSE = 2
SOURCE_SERVICE_PROVIDER_PRESENTATION = 3
RJ_REASONS = {
    SOURCE_SERVICE_USER: {1: "no-reason-given", 2: "application-context-name-not-supported",
                          3: "calling-AE-title-not-recognized", 7: "called-AE-title-not-recognized"},
    SOURCE_SERVICE_PROVIDER_ACSE: {1: "no-reason-given", 2: "protocol-version-not-supported"},
    SOURCE_SERVICE_PROVIDER_PRESENTATION: {1: "temporary-congestion", 2: "local-limit-exceeded"},
}

# A-ABORT sources (PS3.8 Table 9-26); provider reasons are the ABORT_* constants in dicomtls.errors.
ABORT_SOURCE_SERVICE_USER = 0
ABORT_SOURCE_SERVICE_PROVIDER = 2

_ASSOC_FIXED = struct.Struct(">H2x16s16s32x")  # Protocol-version, reserved, called, calling, reserved
_FOUR = struct.Struct(">4B")
_U32 = struct.Struct(">I")
_PDV_HEADER = struct.Struct(">IBB")  # Item-length, Presentation-context-ID, message control header
_MAX_PDU_LENGTH = 0xFFFFFFFF


def _fail(message: str, reason: int = ABORT_INVALID_PDU_PARAMETER_VALUE) -> PDUError:
    return PDUError(message, abort_reason=reason)


def _header(pdu_type: int, length: int) -> bytes:
    if length > _MAX_PDU_LENGTH:
        raise ValueError(f"{PDU_NAMES[pdu_type]}: {length} bytes do not fit a 4-byte PDU-length")
    return PDU_HEADER.pack(pdu_type, length)


# ---- AE titles -----------------------------------------------------------------------------------

def _ae_ok(title: str) -> bool:
    # ISO 646 basic G0 set without control characters; backslash is the DICOM value separator.
    return all(" " <= c <= "~" and c != "\\" for c in title)


def encode_ae_title(title: str, what: str, allow_empty: bool = False) -> bytes:
    """16 bytes, space padded. Leading/trailing spaces are not significant (PS3.8 9.3.2)."""
    t = title.strip(" ") if isinstance(title, str) else None
    if t is None or len(t) > 16 or not _ae_ok(t) or (not t and not allow_empty):
        raise ValueError(f"{what} {title!r}: 1-16 printable ASCII characters, no backslash")
    return t.encode("ascii").ljust(16, b" ")


def _decode_ae_title(raw: bytes, what: str, offset: int, strict: bool) -> str:
    raw = raw.rstrip(b"\0 ").lstrip(b" ")  # some peers pad with NUL
    text = raw.decode("latin-1")
    if strict and not _ae_ok(text):
        raise _fail(f"{what} at offset {offset}: {raw!r} is not printable ISO 646 without backslash")
    return text


# ---- A-ASSOCIATE-RQ / -AC ------------------------------------------------------------------------

def _encode_associate(pdu, contexts_type, strict_ae: bool) -> bytes:
    if not 0 <= pdu.protocol_version <= 0xFFFF:
        raise ValueError(f"Protocol-version {pdu.protocol_version!r} is not a uint16")
    if not pdu.presentation_contexts:
        raise ValueError(f"{PDU_NAMES[pdu.pdu_type]}: at least one presentation context is required")
    for pc in pdu.presentation_contexts:
        if not isinstance(pc, contexts_type):
            raise ValueError(f"{PDU_NAMES[pdu.pdu_type]}: {type(pc).__name__} is not a "
                             f"{contexts_type.__name__}")
    fixed = _ASSOC_FIXED.pack(
        pdu.protocol_version,
        encode_ae_title(pdu.called_ae_title, "Called-AE-title", allow_empty=not strict_ae),
        encode_ae_title(pdu.calling_ae_title, "Calling-AE-title", allow_empty=not strict_ae))
    body = b"".join([fixed, ApplicationContextItem(pdu.application_context_name).encode(),
                     *(pc.encode() for pc in pdu.presentation_contexts),
                     pdu.user_information.encode()])
    return _header(pdu.pdu_type, len(body)) + body


def _decode_associate(cls, buf: memoryview, end: int):
    name = PDU_NAMES[cls.pdu_type]
    rq = cls.pdu_type == A_ASSOCIATE_RQ
    if end - PDU_HEADER_LENGTH < _ASSOC_FIXED.size:
        raise _fail(f"{name}: PDU-length {end - PDU_HEADER_LENGTH} is shorter than the "
                    f"{_ASSOC_FIXED.size} bytes of fixed fields")
    version, called, calling = _ASSOC_FIXED.unpack_from(buf, PDU_HEADER_LENGTH)
    called = _decode_ae_title(called, "Called-AE-title", 10, strict=rq)
    calling = _decode_ae_title(calling, "Calling-AE-title", 26, strict=rq)
    context_type, context_cls = ((PRESENTATION_CONTEXT_ITEM_RQ, PresentationContextRQ) if rq
                                 else (PRESENTATION_CONTEXT_ITEM_AC, PresentationContextAC))
    app = user = None
    contexts: list = []
    for t, b2, s, e in iter_items(buf, PDU_HEADER_LENGTH + _ASSOC_FIXED.size, end, name):
        if t == APPLICATION_CONTEXT_ITEM:
            if app is not None:
                raise _fail(f"{name}: second Application Context Item at offset {s - 4}",
                            ABORT_UNEXPECTED_PDU_PARAMETER)
            app = ApplicationContextItem._parse(buf, s, e)
        elif t == context_type:
            contexts.append(context_cls._parse(buf, s, e))
        elif t == USER_INFORMATION_ITEM:
            if user is not None:
                raise _fail(f"{name}: second User Information Item at offset {s - 4}",
                            ABORT_UNEXPECTED_PDU_PARAMETER)
            user = UserInformation._parse(buf, s, e)
        elif t in KNOWN_ITEM_TYPES:
            raise _fail(f"{name}: unexpected item 0x{t:02X} at offset {s - 4}",
                        ABORT_UNEXPECTED_PDU_PARAMETER)
        else:
            raise _fail(f"{name}: unrecognized item 0x{t:02X} at offset {s - 4}",
                        ABORT_UNRECOGNIZED_PDU_PARAMETER)
    if app is None:
        raise _fail(f"{name}: no Application Context Item")
    if not contexts:
        raise _fail(f"{name}: no Presentation Context Item")
    if user is None:
        raise _fail(f"{name}: no User Information Item")
    ids = [pc.context_id for pc in contexts]
    if len(set(ids)) != len(ids):
        raise _fail(f"{name}: Presentation-context-IDs repeat: {ids}")
    # Sub-items defined for the other direction only (PS3.7 D.3.3.6-D.3.3.7).
    wrong = ({USER_IDENTITY_SUB_ITEM_AC} if rq else
             {USER_IDENTITY_SUB_ITEM_RQ, SOP_CLASS_COMMON_EXTENDED_NEGOTIATION_SUB_ITEM})
    for sub in user.sub_items:
        if sub.item_type in wrong:
            raise _fail(f"{name}: sub-item 0x{sub.item_type:02X} does not belong in this PDU",
                        ABORT_UNEXPECTED_PDU_PARAMETER)
    return cls(called_ae_title=called, calling_ae_title=calling, presentation_contexts=tuple(contexts),
               user_information=user, application_context_name=app.application_context_name,
               protocol_version=version)


@dataclass(frozen=True)
class _Associate:
    called_ae_title: str
    calling_ae_title: str
    presentation_contexts: tuple
    user_information: UserInformation
    application_context_name: str = DEFAULT_APPLICATION_CONTEXT
    protocol_version: int = 1  # bit 0: version 1 of the DICOM UL protocol

    def __post_init__(self):
        if not isinstance(self.presentation_contexts, tuple):
            object.__setattr__(self, "presentation_contexts", tuple(self.presentation_contexts))

    @property
    def supports_version_1(self) -> bool:
        """PS3.8 9.3.2: a version-1 receiver shall only test that bit 0 is set."""
        return bool(self.protocol_version & 1)


@dataclass(frozen=True)
class AAssociateRQ(_Associate):
    """A-ASSOCIATE-RQ (0x01). ``presentation_contexts`` holds ``PresentationContextRQ``."""

    pdu_type: ClassVar[int] = A_ASSOCIATE_RQ
    presentation_contexts: tuple[PresentationContextRQ, ...]

    def encode(self) -> bytes:
        return _encode_associate(self, PresentationContextRQ, strict_ae=True)


@dataclass(frozen=True)
class AAssociateAC(_Associate):
    """A-ASSOCIATE-AC (0x02). The AE titles echo the RQ; PS3.8 says they are not to be tested."""

    pdu_type: ClassVar[int] = A_ASSOCIATE_AC
    presentation_contexts: tuple[PresentationContextAC, ...]

    def encode(self) -> bytes:
        return _encode_associate(self, PresentationContextAC, strict_ae=False)


# ---- A-ASSOCIATE-RJ, A-RELEASE, A-ABORT: four-byte bodies -----------------------------------------

def _four_bytes(buf: memoryview, name: str) -> tuple[int, int, int, int]:
    if len(buf) != PDU_HEADER_LENGTH + 4:
        raise _fail(f"{name}: PDU-length {len(buf) - PDU_HEADER_LENGTH}, must be 4")
    return _FOUR.unpack_from(buf, PDU_HEADER_LENGTH)


def _rj_problem(result: int, source: int, reason: int) -> str | None:
    if result not in (REJECTED_PERMANENT, REJECTED_TRANSIENT):
        return f"Result {result} is not 1 (rejected-permanent) or 2 (rejected-transient)"
    if source not in RJ_REASONS:
        return f"Source {source} is not 1-3"
    if reason not in RJ_REASONS[source]:
        return f"Reason/Diag. {reason} is not defined for Source {source}"
    return None


@dataclass(frozen=True)
class AAssociateRJ:
    """A-ASSOCIATE-RJ (0x03): ``result`` 1/2, ``source`` 1-3, ``reason`` per ``RJ_REASONS[source]``."""

    pdu_type: ClassVar[int] = A_ASSOCIATE_RJ
    result: int = REJECTED_PERMANENT
    source: int = SOURCE_SERVICE_USER
    reason: int = 1

    @property
    def reason_name(self) -> str:
        return RJ_REASONS.get(self.source, {}).get(self.reason, f"reason-{self.reason}")

    def encode(self) -> bytes:
        problem = _rj_problem(self.result, self.source, self.reason)
        if problem:
            raise ValueError(f"A-ASSOCIATE-RJ: {problem}")
        return _header(self.pdu_type, 4) + bytes((0, self.result, self.source, self.reason))

    @classmethod
    def _decode(cls, buf: memoryview) -> AAssociateRJ:
        _, result, source, reason = _four_bytes(buf, "A-ASSOCIATE-RJ")
        problem = _rj_problem(result, source, reason)
        if problem:
            raise _fail(f"A-ASSOCIATE-RJ: {problem}")
        return cls(result, source, reason)


class _Release:
    pdu_type: ClassVar[int]

    def encode(self) -> bytes:
        return _header(self.pdu_type, 4) + bytes(4)

    @classmethod
    def _decode(cls, buf: memoryview):
        _four_bytes(buf, PDU_NAMES[cls.pdu_type])
        return cls()


@dataclass(frozen=True)
class AReleaseRQ(_Release):
    """A-RELEASE-RQ (0x05): four reserved bytes."""

    pdu_type: ClassVar[int] = A_RELEASE_RQ


@dataclass(frozen=True)
class AReleaseRP(_Release):
    """A-RELEASE-RP (0x06): four reserved bytes."""

    pdu_type: ClassVar[int] = A_RELEASE_RP


@dataclass(frozen=True)
class AAbort:
    """A-ABORT (0x07): ``source`` 0 service-user / 2 service-provider; ``reason`` is meaningful only
    for source 2 (``dicomtls.errors.ABORT_*``)."""

    pdu_type: ClassVar[int] = A_ABORT
    source: int = ABORT_SOURCE_SERVICE_USER
    reason: int = 0

    def encode(self) -> bytes:
        if self.source == ABORT_SOURCE_SERVICE_USER:
            if self.reason != 0:
                raise ValueError("A-ABORT: reason is not significant for source 0 and is sent as 0")
        elif self.source == ABORT_SOURCE_SERVICE_PROVIDER:
            if self.reason not in (0, 1, 2, 4, 5, 6):
                raise ValueError(f"A-ABORT: provider reason {self.reason!r} is not 0-2 or 4-6")
        else:
            raise ValueError(f"A-ABORT: source {self.source!r} is not 0 or 2 (1 is reserved)")
        return _header(self.pdu_type, 4) + bytes((0, 0, self.source, self.reason))

    @classmethod
    def _decode(cls, buf: memoryview) -> AAbort:
        _, _, source, reason = _four_bytes(buf, "A-ABORT")
        return cls(source, reason)


# ---- P-DATA-TF -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PDV:
    """One Presentation Data Value item: a fragment of a command or data set (PS3.8 9.3.5.1, E.2)."""

    context_id: int
    is_command: bool
    is_last: bool
    data: bytes | bytearray | memoryview

    def header(self) -> bytes:
        return encode_pdv_header(self.context_id, self.is_command, self.is_last, len(self.data))


def encode_pdv_header(context_id: int, is_command: bool, is_last: bool, payload_len: int) -> bytes:
    """The 6 bytes before a PDV's fragment: Item-length, Presentation-context-ID, control header."""
    if not (isinstance(context_id, int) and 1 <= context_id <= 255 and context_id % 2):
        raise ValueError(f"PDV: Presentation-context-ID {context_id!r} is not an odd number 1-255")
    if not 0 <= payload_len <= _MAX_PDU_LENGTH - 6:
        raise ValueError(f"PDV: fragment of {payload_len} bytes does not fit")
    return _PDV_HEADER.pack(payload_len + 2, context_id,
                            (1 if is_command else 0) | (2 if is_last else 0))


@dataclass(frozen=True)
class PDataTF:
    """P-DATA-TF (0x04): one or more PDVs.

    For the send path, ``encode_parts()`` gives header and payload buffers to write in order (no
    concatenation), and ``header_for_single_pdv`` the 12 bytes to write before a single fragment.
    """

    pdu_type: ClassVar[int] = P_DATA_TF
    pdvs: tuple[PDV, ...]

    def __post_init__(self):
        if not isinstance(self.pdvs, tuple):
            object.__setattr__(self, "pdvs", tuple(self.pdvs))

    @staticmethod
    def header_for(pdv_payload_lengths: Iterable[int]) -> bytes:
        """The 6-byte PDU header of a P-DATA-TF carrying PDVs with these fragment lengths."""
        lengths = list(pdv_payload_lengths)
        if not lengths:
            raise ValueError("P-DATA-TF: at least one PDV is required")
        return _header(P_DATA_TF, sum(6 + n for n in lengths))

    @staticmethod
    def header_for_single_pdv(context_id: int, is_command: bool, is_last: bool,
                              payload_len: int) -> bytes:
        """PDU header + PDV header (12 bytes) for a P-DATA-TF carrying one fragment."""
        pdv = encode_pdv_header(context_id, is_command, is_last, payload_len)
        return _header(P_DATA_TF, 6 + payload_len) + pdv

    def encode_parts(self) -> list:
        parts: list = [self.header_for(len(p.data) for p in self.pdvs)]
        for p in self.pdvs:
            parts.append(p.header())
            parts.append(p.data)
        return parts

    def encode(self) -> bytes:
        return b"".join(self.encode_parts())

    @classmethod
    def _decode(cls, buf: memoryview) -> PDataTF:
        end, off, pdvs = len(buf), PDU_HEADER_LENGTH, []
        view = buf.toreadonly()
        while off < end:
            if end - off < 4:
                raise _fail(f"P-DATA-TF: truncated PDV Item-length at offset {off} "
                            f"({end - off} of 4 bytes)")
            (length,) = _U32.unpack_from(buf, off)
            if length < 2:
                raise _fail(f"P-DATA-TF: PDV at offset {off} has Item-length {length} (min 2: "
                            f"Presentation-context-ID and message control header)")
            if off + 4 + length > end:
                raise _fail(f"P-DATA-TF: PDV at offset {off} has Item-length {length} but only "
                            f"{end - off - 4} bytes remain")
            context_id, control = buf[off + 4], buf[off + 5]
            if context_id % 2 == 0:
                raise _fail(f"P-DATA-TF: PDV at offset {off}: Presentation-context-ID {context_id} "
                            f"is not odd")
            # Bits 2-7 of the message control header are reserved: not tested (PS3.8 E.2).
            pdvs.append(PDV(context_id, bool(control & 1), bool(control & 2),
                            view[off + 6:off + 4 + length]))
            off += 4 + length
        if not pdvs:
            raise _fail("P-DATA-TF: no PDV item")
        return cls(tuple(pdvs))


PDU = Union[AAssociateRQ, AAssociateAC, AAssociateRJ, PDataTF, AReleaseRQ, AReleaseRP, AAbort]

_DECODERS = {
    A_ASSOCIATE_RQ: lambda buf: _decode_associate(AAssociateRQ, buf, len(buf)),
    A_ASSOCIATE_AC: lambda buf: _decode_associate(AAssociateAC, buf, len(buf)),
    A_ASSOCIATE_RJ: AAssociateRJ._decode,
    P_DATA_TF: PDataTF._decode,
    A_RELEASE_RQ: AReleaseRQ._decode,
    A_RELEASE_RP: AReleaseRP._decode,
    A_ABORT: AAbort._decode,
}


def decode_pdu(data: bytes | bytearray | memoryview) -> PDU:
    """Decode exactly one whole PDU, header included. P-DATA-TF fragments are views of ``data``."""
    buf = memoryview(data)
    if buf.format != "B" or buf.ndim != 1:
        buf = buf.cast("B")
    pdu_type, length = read_pdu_header(buf)
    decoder = _DECODERS.get(pdu_type)
    if decoder is None:
        raise _fail(f"unrecognized PDU type 0x{pdu_type:02X}", ABORT_UNRECOGNIZED_PDU)
    if PDU_HEADER_LENGTH + length != len(buf):
        raise _fail(f"{PDU_NAMES[pdu_type]}: PDU-length {length} but {len(buf) - PDU_HEADER_LENGTH} "
                    f"bytes follow the header")
    return decoder(buf)
