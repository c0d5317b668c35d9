"""Association negotiation (PS3.8 7.1.1, 9.3.2-9.3.4, Annex D; PS3.7 D.3.3), pure functions.

Requestor side: ``build_request`` numbers the proposed presentation contexts 1, 3, 5, ... and adds
the user information we always send (Maximum Length, Implementation Class UID, Implementation
Version Name); ``accepted_contexts`` maps the A-ASSOCIATE-AC's results back onto the proposal.

Acceptor side: ``check_request`` decides whether an A-ASSOCIATE-RQ is rejected as a whole
(returns an ``AAssociateRJ``) and ``negotiate_contexts`` answers each proposed context with
result 0 acceptance, 3 abstract-syntax-not-supported or 4 transfer-syntaxes-not-supported;
``build_accept`` wraps the answer in an ``AAssociateAC``.

Maximum length (PS3.8 D.1): each side announces the largest P-DATA-TF PDU-length it will
*receive*; a sender fragments to the peer's value (0 = unlimited). ``peer_max_length`` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from .items import (ABSTRACT_SYNTAX_NOT_SUPPORTED, ACCEPTANCE, DEFAULT_APPLICATION_CONTEXT,
                    TRANSFER_SYNTAXES_NOT_SUPPORTED, PresentationContextAC, PresentationContextRQ)
from .user_info import (AsynchronousOperationsWindow, ImplementationClassUID,
                        ImplementationVersionName, MaximumLength, UserInformation)
from .pdu import (REJECTED_PERMANENT, SOURCE_SERVICE_PROVIDER_ACSE, SOURCE_SERVICE_USER,
                  AAssociateAC, AAssociateRJ, AAssociateRQ)

#: dicomtls's Implementation Class UID: "2.25." + the integer of
#: uuid5(NAMESPACE_URL, "urn:dicomtls:implementation-class"), computed once and fixed here.
IMPLEMENTATION_CLASS_UID = "2.25.54285338252540022591997666698022106305"
IMPLEMENTATION_VERSION_NAME = "DICOMTLS_010"
#: The Maximum Length we announce by default (PS3.8 D.1). DCMTK and pynetdicom announce 16 KiB
#: by default; we take 1 MiB so a large data set crosses in few PDUs (each one a state machine
#: step and a read on our side: 256 KiB cost a fifth more per byte received). It only bounds
#: what peers send to us; we send what the peer announces.
DEFAULT_MAX_PDU_LENGTH = 1024 * 1024

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DEFAULT_TRANSFER_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)

# A-ASSOCIATE-RJ reasons for source 1 (service-user), PS3.8 Table 9-21.
RJ_NO_REASON = 1
RJ_APPLICATION_CONTEXT_NOT_SUPPORTED = 2
RJ_CALLING_AE_NOT_RECOGNIZED = 3
RJ_CALLED_AE_NOT_RECOGNIZED = 7
RJ_PROTOCOL_VERSION_NOT_SUPPORTED = 2  # source 2


@dataclass(frozen=True)
class NegotiatedContext:
    """One presentation context as both sides see it after negotiation."""

    context_id: int
    abstract_syntax: str
    result: int                       # 0 acceptance, 1-4 rejection reasons (items.RESULT_NAMES)
    transfer_syntax: Optional[str]    # the accepted transfer syntax, None when rejected
    proposed_transfer_syntaxes: tuple = ()

    @property
    def accepted(self) -> bool:
        return self.result == ACCEPTANCE


# ---- requestor ------------------------------------------------------------------------------

def propose_contexts(contexts: Iterable) -> tuple[PresentationContextRQ, ...]:
    """``contexts``: abstract syntax UIDs, or ``(abstract, [transfer syntaxes])`` pairs, or
    ``PresentationContextRQ`` items (kept as given). Others are numbered 1, 3, 5, ..."""
    out = []
    next_id = 1
    for item in contexts:
        if isinstance(item, PresentationContextRQ):
            out.append(item)
            next_id = max(next_id, item.context_id + 2)
            continue
        if isinstance(item, str):
            abstract, transfers = item, DEFAULT_TRANSFER_SYNTAXES
        else:
            abstract, transfers = item
            transfers = (transfers,) if isinstance(transfers, str) else tuple(transfers)
        if next_id > 255:
            raise ValueError("at most 128 presentation contexts can be proposed")
        out.append(PresentationContextRQ(next_id, abstract, tuple(transfers)))
        next_id += 2
    if not out:
        raise ValueError("an A-ASSOCIATE-RQ needs at least one presentation context")
    ids = [c.context_id for c in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate presentation context IDs {ids}")
    return tuple(out)


def user_information(max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH, *,
                     extra: Sequence = ()) -> UserInformation:
    """Maximum Length, Implementation Class UID, then any extra sub-items, then Version Name."""
    return UserInformation((MaximumLength(max_pdu_length),
                            ImplementationClassUID(IMPLEMENTATION_CLASS_UID),
                            *extra,
                            ImplementationVersionName(IMPLEMENTATION_VERSION_NAME)))


def build_request(called_ae: str, calling_ae: str, contexts: Iterable, *,
                  max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
                  extra_user_items: Sequence = ()) -> AAssociateRQ:
    """The A-ASSOCIATE-RQ proposing ``contexts`` (abstract syntaxes, or (abstract syntax,
    transfer syntaxes) pairs) with our maximum length and implementation identity."""
    return AAssociateRQ(called_ae_title=called_ae, calling_ae_title=calling_ae,
                        presentation_contexts=propose_contexts(contexts),
                        user_information=user_information(max_pdu_length,
                                                          extra=extra_user_items),
                        application_context_name=DEFAULT_APPLICATION_CONTEXT)


def accepted_contexts(rq: AAssociateRQ, ac: AAssociateAC) -> dict[int, NegotiatedContext]:
    """The proposal with the acceptor's answer, keyed by context ID. A context the AC leaves out
    counts as rejected with result 2 (no-reason, provider rejection)."""
    answers = {c.context_id: c for c in ac.presentation_contexts}
    out = {}
    for c in rq.presentation_contexts:
        a = answers.get(c.context_id)
        if a is None:
            out[c.context_id] = NegotiatedContext(c.context_id, c.abstract_syntax, 2, None,
                                                  c.transfer_syntaxes)
        elif a.accepted and a.transfer_syntax not in c.transfer_syntaxes:
            # PS3.8 9.3.3.2: the accepted syntax must be one we proposed; treat it as refused.
            out[c.context_id] = NegotiatedContext(c.context_id, c.abstract_syntax,
                                                  TRANSFER_SYNTAXES_NOT_SUPPORTED, None,
                                                  c.transfer_syntaxes)
        else:
            out[c.context_id] = NegotiatedContext(
                c.context_id, c.abstract_syntax, a.result,
                a.transfer_syntax if a.accepted else None, c.transfer_syntaxes)
    return out


def async_window(pdu) -> tuple[int, int]:
    """(Maximum Number Operations Invoked, ... Performed) of an RQ's proposal or an AC's answer
    (PS3.7 D.3.3.3); (1, 1), one outstanding operation each way, when the item is absent.
    In an AC: how many requests the requestor may have outstanding, and the acceptor."""
    ui = pdu.user_information if pdu is not None else None
    item = ui.asynchronous_operations_window if ui is not None else None
    if item is None:
        return 1, 1
    return item.maximum_number_operations_invoked, item.maximum_number_operations_performed


def answer_async_window(rq: AAssociateRQ, *, invoked: int,
                        performed: int = 1) -> Optional[AsynchronousOperationsWindow]:
    """The acceptor's sub-item for ``rq``'s proposal, or None when it proposed none (then we
    must not send one). Each answer is the proposal capped at our limit; a proposed 0
    (unlimited) gets our limit."""
    if rq.user_information is None or rq.user_information.asynchronous_operations_window \
            is None:
        return None
    want_invoked, want_performed = async_window(rq)

    def cap(want: int, limit: int) -> int:
        return limit if want == 0 else min(want, limit)
    return AsynchronousOperationsWindow(cap(want_invoked, invoked),
                                        cap(want_performed, performed))


def peer_max_length(pdu) -> int:
    """The Maximum Length the peer announced in its RQ or AC; 0 (no limit) if absent."""
    value = pdu.user_information.maximum_length if pdu.user_information else None
    return value or 0


# ---- acceptor -------------------------------------------------------------------------------

def check_request(rq: AAssociateRQ, *, ae_title: Optional[str] = None,
                  calling_aes: Optional[Iterable[str]] = None) -> Optional[AAssociateRJ]:
    """An A-ASSOCIATE-RJ if the request is refused as a whole, else None.

    ``ae_title``: our AE title; a different called AE title is rejected (source 1, reason 7).
    ``calling_aes``: if given, the calling AE titles we accept (else reason 3).
    Titles are compared without leading/trailing spaces (PS3.8 9.3.2: they are space-padded).
    """
    if not rq.supports_version_1:
        return AAssociateRJ(REJECTED_PERMANENT, SOURCE_SERVICE_PROVIDER_ACSE,
                            RJ_PROTOCOL_VERSION_NOT_SUPPORTED)
    if rq.application_context_name != DEFAULT_APPLICATION_CONTEXT:
        return AAssociateRJ(REJECTED_PERMANENT, SOURCE_SERVICE_USER,
                            RJ_APPLICATION_CONTEXT_NOT_SUPPORTED)
    if ae_title is not None and rq.called_ae_title.strip() != ae_title.strip():
        return AAssociateRJ(REJECTED_PERMANENT, SOURCE_SERVICE_USER, RJ_CALLED_AE_NOT_RECOGNIZED)
    if calling_aes is not None and rq.calling_ae_title.strip() not in {
            a.strip() for a in calling_aes}:
        return AAssociateRJ(REJECTED_PERMANENT, SOURCE_SERVICE_USER,
                            RJ_CALLING_AE_NOT_RECOGNIZED)
    return None


def negotiate_contexts(proposed: Iterable[PresentationContextRQ],
                       supported: Mapping[str, Sequence[str]], *,
                       prefer: str = "ours") -> tuple[PresentationContextAC, ...]:
    """Answer each proposed context. ``supported`` maps abstract syntax -> our transfer syntaxes
    in preference order. ``prefer="ours"``: our most preferred one the requestor also proposed;
    ``"proposer"``: the requestor's first one we support (``accept_in_proposer_order``)."""
    if prefer not in ("ours", "proposer"):
        raise ValueError(f"prefer must be 'ours' or 'proposer', not {prefer!r}")
    out = []
    for c in proposed:
        ours = supported.get(c.abstract_syntax)
        if ours is None:
            out.append(PresentationContextAC(c.context_id, ABSTRACT_SYNTAX_NOT_SUPPORTED, None))
            continue
        if prefer == "ours":
            choice = next((ts for ts in ours if ts in c.transfer_syntaxes), None)
        else:
            choice = next((ts for ts in c.transfer_syntaxes if ts in ours), None)
        out.append(PresentationContextAC(c.context_id, TRANSFER_SYNTAXES_NOT_SUPPORTED, None)
                   if choice is None else PresentationContextAC(c.context_id, ACCEPTANCE, choice))
    return tuple(out)


def build_accept(rq: AAssociateRQ, contexts: Sequence[PresentationContextAC], *,
                 max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
                 extra_user_items: Sequence = ()) -> AAssociateAC:
    """The A-ASSOCIATE-AC answering ``rq``: AE titles echoed, the DICOM application context."""
    # The AC names the application context the association runs in, which may differ from the
    # proposed one (PS3.8 7.1.1.2, PS3.7 A.1: the requestor aborts if it cannot operate in it).
    # We only run DICOM's (PS3.7 A.2.1), so we name it rather than echo the peer's: an RQ
    # proposing another one that the caller accepts without check_request (which rejects it,
    # A-ASSOCIATE-RJ 1/1/2) must not get an AC claiming a context we do not implement.
    return AAssociateAC(called_ae_title=rq.called_ae_title, calling_ae_title=rq.calling_ae_title,
                        presentation_contexts=tuple(contexts),
                        user_information=user_information(max_pdu_length,
                                                          extra=extra_user_items),
                        application_context_name=DEFAULT_APPLICATION_CONTEXT)


def negotiated(rq: AAssociateRQ, ac_contexts: Sequence[PresentationContextAC]
               ) -> dict[int, NegotiatedContext]:
    """The acceptor's view of the result, keyed by context ID."""
    by_id = {c.context_id: c for c in ac_contexts}
    return {c.context_id: NegotiatedContext(
        c.context_id, c.abstract_syntax, by_id[c.context_id].result,
        by_id[c.context_id].transfer_syntax if by_id[c.context_id].accepted else None,
        c.transfer_syntaxes) for c in rq.presentation_contexts if c.context_id in by_id}


def accept_in_proposer_order(proposed, supported: Mapping[str, Iterable[str]]) -> tuple:
    """Answer each proposed context with the proposer's first transfer syntax we support (unlike
    ``negotiate_contexts``' default, which prefers ours): a storage SCP then keeps the syntax a
    sender stored its objects in whenever the sender proposes it first."""
    return negotiate_contexts(proposed, supported, prefer="proposer")


__all__ = [
    "DEFAULT_MAX_PDU_LENGTH", "DEFAULT_TRANSFER_SYNTAXES", "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLEMENTATION_CLASS_UID", "IMPLEMENTATION_VERSION_NAME", "IMPLICIT_VR_LITTLE_ENDIAN",
    "NegotiatedContext", "RJ_APPLICATION_CONTEXT_NOT_SUPPORTED", "RJ_CALLED_AE_NOT_RECOGNIZED",
    "RJ_CALLING_AE_NOT_RECOGNIZED", "RJ_NO_REASON", "VERIFICATION_SOP_CLASS",
    "accept_in_proposer_order", "accepted_contexts", "answer_async_window", "async_window",
    "build_accept", "build_request", "check_request", "negotiate_contexts",
    "negotiated", "peer_max_length", "propose_contexts", "user_information",
]
