"""The I/O core: transports (plain and TLS) and the Driver's waiting.

The TLS cases run both ends in this process over a socketpair (the handshake in a thread).
What they pin down: a Driver never waits on the socket while the TLS layer still holds
decrypted bytes (``poll_event``, and the wait beside a background job); ``recv_into`` works on
TLS; reads after a wait never block on TLS housekeeping (session tickets); a ``Waker`` ends
the wait with ``WOKEN``. Every blocking step is bounded (socket timeouts, joins).
"""

from __future__ import annotations

import select
import socket
import threading

import pytest

import dicomtls
from dicomtls.dimse.messages import C_ECHO_RQ, C_STORE_RQ
from dicomtls.io import tls_socket
from dicomtls.io.transport import WOKEN, Driver, PlainTransport, Transport, Waker
from dicomtls.io.worker import OrderedWorker
from dicomtls.ul.association import Association, Established, MessageReceived
from dicomtls.ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN,
                                     VERIFICATION_SOP_CLASS)

CT = "1.2.840.10008.5.1.4.1.1.2"
SUPPORTED = {uid: (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN)
             for uid in (VERIFICATION_SOP_CLASS, CT)}
TIMEOUT = 10


def socket_pair():
    """Connected sockets with room for a message of ~100 KB in flight (both ends run in one
    thread: the writer must not wait for the reader)."""
    a, b = socket.socketpair()
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.settimeout(TIMEOUT)
    return a, b


def tls_pair(pki, **client_kw):
    """(client TLSSocket, server TLSSocket) over a socket pair, handshake done."""
    a, b = socket_pair()
    server_cfg = dicomtls.TLSConfig.from_profile(certificate=str(pki.server_cert),
                                                 private_key=str(pki.server_key),
                                                 ca_file=str(pki.ca_cert))
    client_cfg = dicomtls.TLSConfig.from_profile(certificate=str(pki.client_cert),
                                                 private_key=str(pki.client_key),
                                                 ca_file=str(pki.ca_cert), **client_kw)
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault(
        "server", tls_socket.server_handshake(b, server_cfg, timeout=TIMEOUT)))
    thread.start()
    client = tls_socket.client_handshake(a, client_cfg, server_name="127.0.0.1", timeout=TIMEOUT)
    thread.join(TIMEOUT)
    return client, out["server"]


def plain_pair():
    a, b = socket_pair()
    return PlainTransport(a), PlainTransport(b)


@pytest.fixture(params=["plain", "tls"])
def pair(request, pki):
    client, server = plain_pair() if request.param == "plain" else tls_pair(pki)
    yield client, server
    for t in (client, server):
        t.close(force=True)


def associated(client, server):
    """(requestor Driver, acceptor Driver) with an established association."""
    req = Association("requestor")
    req.request("SCP", "SCU", [VERIFICATION_SOP_CLASS, CT])
    acc = Association("acceptor", supported=SUPPORTED)
    dr, da = Driver(client, req, TIMEOUT), Driver(server, acc, TIMEOUT)
    dr.flush()
    da.next_event()  # AssociateRequested
    acc.accept()
    da.flush()
    assert isinstance(da.next_event(), Established)
    assert isinstance(dr.next_event(), Established)
    return dr, da


def context(assoc, uid):
    return next(c.context_id for c in assoc.contexts.values()
                if c.accepted and c.abstract_syntax == uid)


def send_big_then_small(dr):
    """One write: a C-STORE whose PDU is larger than a boundary read, then a C-ECHO."""
    req = dr.assoc
    req.send_message(context(req, CT), C_STORE_RQ(
        message_id=1, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3"),
        bytes(100_000))
    req.send_message(context(req, VERIFICATION_SOP_CLASS), C_ECHO_RQ(
        message_id=2, affected_sop_class_uid=VERIFICATION_SOP_CLASS))
    dr.flush()


def test_both_transports_are_transports(pair):
    for t in pair:
        assert isinstance(t, Transport)
        assert t.fileno() == t.sock.fileno()


def test_recv_into_and_data_available(pair):
    client, server = pair
    client.sendall(b"0123456789" * 2)
    buf = bytearray(8)
    assert server.recv_into(buf) == 8 and bytes(buf) == b"01234567"
    rest = bytearray(100)
    n = 0
    while n < 12:
        n += server.recv_into(memoryview(rest)[n:], 4)  # nbytes caps each read
    assert bytes(rest[:12]) == b"890123456789"
    with pytest.raises(BlockingIOError):
        server.recv(10, wait=False)
    assert server.data_available() == 0
    client.close(timeout=0)  # no drain: this test reads nothing more
    assert server.recv(10) == b"" and server.recv_into(bytearray(4)) == 0


def test_tls_plaintext_buffered_is_available_while_the_socket_is_empty(pki):
    client, server = tls_pair(pki)
    try:
        client.sendall(b"A" * 10 + b"B" * 10)
        assert server.recv(10) == b"A" * 10
        assert not select.select([server.sock], [], [], 0)[0]  # nothing left in the kernel
        assert server.data_available() == 10
        assert server.recv(100, wait=False) == b"B" * 10
        assert server.data_available() == 0
        client.sendall(b"C" * 5)
        client.shutdown_write()  # close_notify right behind the data, TCP left open
        assert server.recv(5) == b"C" * 5  # reads both records into the TLS layer
        assert not select.select([server.sock], [], [], 0)[0]
        # The end of the stream is inside the TLS layer: readable at once, not via select.
        assert server.data_available() == 1 and server.recv(10, wait=False) == b""
        assert server.peer_closed_cleanly is True
    finally:
        client.close(force=True)
        server.close(force=True)


def test_poll_event_reads_what_the_transport_holds(pair):
    client, server = pair
    dr, da = associated(client, server)
    send_big_then_small(dr)
    first = da.next_event()
    assert isinstance(first, MessageReceived) and first.message.message_id == 1
    assert len(first.dataset) == 100_000
    # Over TLS the C-ECHO is now decrypted inside the TLS layer, the socket empty: waiting on
    # the socket here would never see it.
    second = da.poll_event()
    assert isinstance(second, MessageReceived) and second.message.message_id == 2


def test_waiting_beside_a_background_job_reads_what_the_transport_holds(pair):
    client, server = pair
    dr, da = associated(client, server)
    release = threading.Event()
    worker = da.background = OrderedWorker("test-job")
    worker.submit("slow", lambda: release.wait(TIMEOUT))
    try:
        send_big_then_small(dr)
        assert da.next_event().message.message_id == 1
        event = da.next_event()  # the job runs on: the peer's message must still come first
        assert isinstance(event, MessageReceived) and event.message.message_id == 2
    finally:
        release.set()
    assert da.next_event().job == "slow"
    worker.close()


def test_waker_ends_the_wait(pair):
    client, server = pair
    waker = Waker()
    driver = Driver(server, None, None, wakeup=waker)
    threading.Timer(0.05, waker.wake).start()
    assert driver.next_event() is WOKEN
    assert not select.select([waker], [], [], 0)[0]  # cleared before it returned
    client.sendall(b"stray")  # bytes before any association: dropped, the wait goes on
    waker.wake()
    assert driver.next_event() is WOKEN
    client.close(timeout=0)  # no drain: this test reads nothing more
    assert driver.next_event() is None  # the peer closed before any association
    waker.close()


def test_tls13_session_tickets_do_not_block_a_waking_driver(pki):
    """TLS 1.3 servers send session tickets after the handshake: the socket turns readable
    with no data in it. A driver that also waits for its waker must not block in that read."""
    client, server = tls_pair(pki, min_version="TLSv1.3")
    waker = Waker()
    driver = Driver(client, None, None, wakeup=waker)
    result = []
    thread = threading.Thread(target=lambda: result.append(driver.next_event()), daemon=True)
    try:
        assert client.session.protocol == dicomtls.TLSVersion.TLSv1_3
        thread.start()
        thread.join(0.3)  # long enough to read the tickets
        waker.wake()
        thread.join(TIMEOUT)
        assert result == [WOKEN]
    finally:
        client.close(force=True)
        server.close(force=True)
        waker.close()


def test_waits_work_with_descriptors_past_1024(pki, tmp_path):
    """``select`` cannot take a descriptor >= 1024 (FD_SETSIZE); a server holding a thousand
    connections hands such numbers to its associations. Every wait polls instead: a TLS
    C-STORE association whose sockets are all numbered past 1024 runs as any other (the
    SCP waits on the peer and its background worker together, the SCU on its async window)."""
    import os
    import resource

    from pydicom.data import get_testdata_file

    import dicomtls
    from dicomtls.storage.scp import StorageServer
    from dicomtls.storage.scu import store

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    filler = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    try:
        server = StorageServer(tmp_path, tls_config=dicomtls.TLSConfig.from_profile(
            certificate=str(pki.server_cert), private_key=str(pki.server_key),
            ca_file=str(pki.ca_cert)), timeout=5).start()
        try:
            client = dicomtls.TLSConfig.from_profile(
                certificate=str(pki.client_cert), private_key=str(pki.client_key),
                ca_file=str(pki.ca_cert))
            files = [get_testdata_file(name) for name in ("CT_small.dcm", "MR_small.dcm",
                                                          "rtplan.dcm")]
            summary = store("127.0.0.1", server.port, files, tls_config=client, timeout=5)
            assert summary.sent == 3 and not summary.failed, summary.results
        finally:
            server.shutdown(1)
        assert [(r.outcome, r.stored) for r in server.results] == [("released", 3)]
    finally:
        for fd in filler:
            os.close(fd)


def test_fill_slots_takes_one_readv_and_finishes_short_reads(tmp_path):
    """``send_dataset``'s data slots are filled by one ``readinto_many`` (readv) when the reader
    has it; a short read is finished slot by slot, and a file that ends early is an OSError."""
    from dicomtls.io.transport import _fill_slots
    data = bytes(range(256)) * 400
    path = tmp_path / "data.bin"
    path.write_bytes(data)

    class Reader:
        def __init__(self, cap):
            self.file, self.cap, self.calls = open(path, "rb", buffering=0), cap, []

        def readinto(self, view):
            self.calls.append(("readinto", len(view)))
            return self.file.readinto(view)

        def readinto_many(self, views):   # a readv that may stop early, as the kernel may
            self.calls.append(("readv", len(views)))
            want, out = self.cap, 0
            for v in views:
                n = self.file.readinto(v[:min(len(v), want - out)]) if want > out else 0
                out += n
            return out

    for cap, expect_readinto in ((len(data), 0), (5000, True)):
        reader = Reader(cap)
        buf = memoryview(bytearray(len(data)))
        slots = [buf[i:i + 4000] for i in range(0, len(data), 4000)]
        _fill_slots(reader, slots)
        assert bytes(buf) == data
        assert reader.calls[0] == ("readv", len(slots))
        assert bool([c for c in reader.calls if c[0] == "readinto"]) == bool(expect_readinto)
        reader.file.close()
    reader = Reader(len(data))
    with pytest.raises(OSError, match="ended"):
        _fill_slots(reader, [memoryview(bytearray(len(data))), memoryview(bytearray(10))])
    reader.file.close()
