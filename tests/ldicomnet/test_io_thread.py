"""The LDicomNet I/O thread on the shared I/O core: it wakes for work from other threads (no
polling), never blocks in a read while work waits, and close() ends any phase promptly.

Every wait is on an event a handler sets, bounded by a timeout."""

from __future__ import annotations

import socket
import threading
import time

import test_net_facade
from test_net_facade import (CT_IMAGE_STORAGE, EXPLICIT, VERIFICATION, WAIT, Recording, make_scp,
                             tls_ctx, verification_request)

from dicomtls.ldicomnet.net import DicomAssociate, LDicomNet
from dicomtls.ldicomnet.tls_settings import DICOM_SECURE_TLS
from dicomtls.tls.versions import TLSVersion

PROMPT = 5.0  # seconds: far below the 30 s a missed wake-up or a blocked read would cost

harness_factory = test_net_facade.harness_factory  # the fixture: a listener making SCP peers


def tls_scu(pki, **kw):
    net = Recording(None, DICOM_SECURE_TLS, tls_ctx(pki), tag="scu", **kw)
    assert net.set_client_certificate_tls(str(pki.client_cert), 1, str(pki.client_key)) == 0
    return net


def test_foreign_thread_association_over_tls13(pki, harness_factory):
    """The link is up and idle (TLS 1.3: the server's session tickets arrive, no data): an
    A-ASSOCIATE-RQ from another thread must wake the I/O thread, which must not be sitting in
    a read that waits for data."""
    h = harness_factory(lambda: make_scp(pki))
    ready, accepted, echoed = threading.Event(), threading.Event(), threading.Event()
    scu = tls_scu(pki, handlers={
        "on_secure_link_ready": lambda error: ready.set(),
        "on_receive_associate_accept": lambda assoc: accepted.set(),
        "on_receive_c_echo_response": lambda pid, mid, uid, status: echoed.set()})
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert ready.wait(WAIT) and scu.get_tls_session().protocol == TLSVersion.TLSv1_3
    time.sleep(0.2)  # let the tickets arrive first (the case under test), not a wait for a result
    started = time.monotonic()
    assert scu.send_associate_request(verification_request()) == 0
    assert time.monotonic() - started < PROMPT
    assert accepted.wait(WAIT) and scu.is_associated()
    assert scu.send_c_echo_request(1, 1, VERIFICATION) == 0
    assert echoed.wait(WAIT)
    assert scu.send_release_request() == 0
    assert scu.closed.wait(WAIT)
    assert scu.names()[-1] == "on_close"


def test_close_wakes_an_idle_connection(harness_factory):
    h = harness_factory(lambda: make_scp())
    connected = threading.Event()
    scu = LDicomNet(handlers={"on_connect": lambda error: connected.set()})
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert connected.wait(WAIT)
    started = time.monotonic()
    assert scu.close() == 0
    assert time.monotonic() - started < PROMPT and not scu.is_activated()
    assert scu.send_c_echo_request(1, 1, VERIFICATION) == 49  # NOT_CONNECTED, at once


def test_close_interrupts_a_stalled_handshake(pki):
    """A peer that accepts TCP and never answers the ClientHello: close() must not wait for
    the handshake's 30 s deadline."""
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        connected = threading.Event()
        scu = tls_scu(pki, handlers={"on_connect": lambda error: connected.set()})
        scu.connect(None, 0, "127.0.0.1", silent.getsockname()[1])
        assert connected.wait(WAIT)
        peer, _ = silent.accept()
        peer.settimeout(WAIT)
        assert peer.recv(5)[:1] == b"\x16"  # the ClientHello: the SCU waits for our answer
        started = time.monotonic()
        scu.close()
        assert time.monotonic() - started < PROMPT and not scu.is_activated()
        # The handshake reports its failure; our own close() gives no on_close.
        ready = [e for e in scu.events if e[1] == "on_secure_link_ready"]
        assert len(ready) == 1 and ready[0][2] != 0
        assert "on_close" not in scu.names()
        peer.close()
    finally:
        silent.close()


def test_large_data_set_over_tls_is_read_in_place(pki, harness_factory):
    """A C-STORE whose PDUs span many TLS reads: the Driver reads them into the PDU buffers
    (TLSSocket.recv_into) on the facade's I/O thread too."""
    stored, box = [], []

    def on_store(pid, mid, class_uid, instance_uid, priority, move_ae, move_id, dataset):
        stored.append(dataset)
        box[0].send_c_store_response(pid, mid, class_uid, instance_uid, 0)

    def scp():
        net = make_scp(pki, on_receive_c_store_request=on_store)
        box.append(net)
        return net

    h = harness_factory(scp)
    ready, accepted, done = threading.Event(), threading.Event(), threading.Event()
    scu = tls_scu(pki, handlers={
        "on_secure_link_ready": lambda error: ready.set(),
        "on_receive_associate_accept": lambda a: accepted.set(),
        "on_receive_c_store_response": lambda *a: done.set()})
    scu.connect(None, 0, "127.0.0.1", h.port)
    rq = DicomAssociate(called_ae="SCP", calling_ae="SCU")
    rq.add_presentation_context(1, CT_IMAGE_STORAGE, [EXPLICIT])
    assert ready.wait(WAIT)
    assert scu.send_associate_request(rq) == 0
    assert accepted.wait(WAIT)
    data = bytes(range(256)) * 12_000  # ~3 MiB: several 1 MiB PDUs
    assert scu.send_c_store_request(1, 5, CT_IMAGE_STORAGE, "1.2.3.4", 0, None, None,
                                    data) == 0
    assert done.wait(WAIT)
    assert stored == [data]
    assert scu.send_release_request() == 0
    assert scu.closed.wait(WAIT)
