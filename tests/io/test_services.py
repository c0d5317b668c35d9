"""Services composed on one server (``io.services``, ``io.server``): what registration checks,
how requests are routed by type and SOP class, what a request nobody serves is answered, and
that a service's bug ends its association only. Loopback, plain TCP."""

from __future__ import annotations

import pytest

from dicomtls.dimse.messages import C_FIND_RQ, N_GET_RQ
from dicomtls.io.association_runner import associate
from dicomtls.io.server import AssociationServer
from dicomtls.io.services import (EchoHandler, NHandler, ServiceBase, ServiceRegistry,
                                  StoreHandler, VerificationService)
from dicomtls.nservices import NServiceBase, NServiceClient, NServices
from dicomtls.ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
                                     VERIFICATION_SOP_CLASS)

TIMEOUT = 10
PRINTER = "1.2.840.10008.5.1.1.16"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


class Printer(NServiceBase):
    def n_get(self, instance, tags, req):
        return 0x0000 if instance == PRINTER_INSTANCE else None


class NotAService:
    supported = {VERIFICATION_SOP_CLASS: (IMPLICIT_VR_LITTLE_ENDIAN,)}


class NoProtocol(ServiceBase):
    supported = {VERIFICATION_SOP_CLASS: (IMPLICIT_VR_LITTLE_ENDIAN,)}


class CountingEcho(VerificationService):
    """A second Verification service: answers with a warning and counts."""

    def __init__(self):
        self.echoes = 0

    def c_echo(self, link, event):
        self.echoes += 1
        link.answer(event, 0x0001)


class BuggyEcho(VerificationService):
    def c_echo(self, link, event):
        raise RuntimeError("service bug")


def test_registration_checks_protocols_once():
    echo, nservices = VerificationService(), NServices({PRINTER: Printer()})
    assert isinstance(echo, EchoHandler) and not isinstance(echo, StoreHandler)
    assert isinstance(nservices, NHandler)
    registry = ServiceRegistry([echo, nservices])
    assert set(registry.supported) == {VERIFICATION_SOP_CLASS, PRINTER}
    with pytest.raises(TypeError, match="is not a service"):
        ServiceRegistry([NotAService()])
    with pytest.raises(TypeError, match="implements no service-class protocol"):
        ServiceRegistry([NoProtocol()])
    with pytest.raises(ValueError, match="two services answer C-ECHO-RQ"):
        ServiceRegistry([echo, CountingEcho()])
    with pytest.raises(TypeError, match="not an NServiceHandler"):
        NServices({PRINTER: object()})
    with pytest.raises(TypeError):   # before the port is bound: the factories are checked
        AssociationServer(services=(NotAService,))


def test_contexts_offered_are_the_union_of_the_services():
    class ExplicitOnlyEcho(CountingEcho):
        supported = {VERIFICATION_SOP_CLASS: (EXPLICIT_VR_LITTLE_ENDIAN,)}

    class NoEcho(ServiceBase):   # an N-service on the Verification class only adds syntaxes
        supported = {VERIFICATION_SOP_CLASS: (IMPLICIT_VR_LITTLE_ENDIAN,)}

        def n_request(self, link, event):
            link.answer(event, 0x0000)

        def n_event_report_answered(self, link, event):
            pass

    registry = ServiceRegistry([ExplicitOnlyEcho(), NoEcho()])
    assert registry.supported == {VERIFICATION_SOP_CLASS: (EXPLICIT_VR_LITTLE_ENDIAN,
                                                           IMPLICIT_VR_LITTLE_ENDIAN)}


def test_requests_are_routed_and_unserved_ones_answered():
    """C-ECHO goes to the echo service, N-GET to the printer's handler; a C-FIND on the
    printer context (a class served, not for C-FIND) is 0x0211, an N-GET naming a class nobody
    serves 0x0122: answers, not aborts, and each is recorded."""
    echo = CountingEcho()
    with AssociationServer(services=(lambda: echo, lambda: NServices({PRINTER: Printer()})),
                           timeout=TIMEOUT) as server:
        with associate("127.0.0.1", server.port, contexts=[VERIFICATION_SOP_CLASS, PRINTER],
                       timeout=TIMEOUT) as assoc:
            assert assoc.echo() == 0x0001
            client = NServiceClient(assoc)
            assert client.n_get(PRINTER, PRINTER_INSTANCE)[0] == 0x0000
            ctx = assoc.context_for(PRINTER)
            for rq, want in ((C_FIND_RQ(message_id=assoc.next_message_id(),
                                        affected_sop_class_uid=PRINTER), 0x0211),
                             (N_GET_RQ(message_id=assoc.next_message_id(),
                                       requested_sop_class_uid=STUDY_FIND,
                                       requested_sop_instance_uid="1.2.3"), 0x0122)):
                assoc.send_message(ctx, rq, b"" if isinstance(rq, C_FIND_RQ) else None)
                assert assoc.wait_response(rq.message_id).message.status == want
            assert assoc.echo() == 0x0001   # the association goes on
        server.close()
    (result,) = server.results
    assert result.outcome == "released" and echo.echoes == 2
    assert [(op["service"], op["status"]) for op in result.operations] == [
        ("n_get", 0x0000), ("find", 0x0211), ("n_get", 0x0122)]


def test_a_service_bug_ends_its_association_only():
    with AssociationServer(services=(BuggyEcho,), timeout=TIMEOUT) as server:
        with pytest.raises(Exception):
            with associate("127.0.0.1", server.port, timeout=TIMEOUT) as assoc:
                assoc.echo()
        server.close()
    (result,) = server.results
    assert result.outcome == "error" and "service bug" in result.error
