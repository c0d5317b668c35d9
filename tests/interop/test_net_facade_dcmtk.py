"""DCMTK 3.6.7 ``echoscu`` (SCU) against our LDicomNet facade as the SCP, TLS and plain TCP.

``/usr/bin/echoscu`` by absolute path: pynetdicom installs a Python script of the same name
that shadows it on PATH.
"""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from conftest import missing_peer
from dicomtls.ldicomnet.net import LDicomNet
from dicomtls.ldicomnet.tls_settings import (DICOM_SECURE_NONE, DICOM_SECURE_TLS,
                              L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT, L_SSL_VERIFY_PEER, SslCtxCreate)

pytestmark = pytest.mark.interop

ECHOSCU = "/usr/bin/echoscu"
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
WAIT = 20.0


def echoscu() -> str:
    if not os.access(ECHOSCU, os.X_OK):
        missing_peer(f"DCMTK program {ECHOSCU} is not installed")
    return ECHOSCU


class VerificationPeer(LDicomNet):
    """A LEAD-style Verification SCP object for one accepted connection."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.events: list = []
        self.closed = threading.Event()

    def on_verify(self, ok, text, error, error_string):
        self.events.append("on_verify")
        return ok

    def on_secure_link_ready(self, error):
        self.events.append(("on_secure_link_ready", error))

    def on_receive(self, error, pdu_type, buffer, nbytes):
        self.events.append(("on_receive", pdu_type))

    def on_receive_associate_request(self, assoc):
        self.events.append(("on_receive_associate_request", assoc.calling_ae, assoc.called_ae))
        assoc.negotiate({VERIFICATION: [EXPLICIT, IMPLICIT]})
        self.send_associate_accept(assoc)

    def on_receive_c_echo_request(self, pid, message_id, class_uid):
        self.events.append("on_receive_c_echo_request")
        self.send_c_echo_response(pid, message_id, class_uid, 0)

    def on_receive_release_request(self):
        self.events.append("on_receive_release_request")
        self.send_release_response()

    def on_close(self, error, net):
        self.events.append(("on_close", error))
        self.closed.set()


class Listener(LDicomNet):
    def __init__(self, make_peer):
        super().__init__()
        self.make_peer = make_peer
        self.peers: list = []
        self.accepted = threading.Event()

    def on_accept(self, error):
        peer = self.make_peer()
        self.peers.append(peer)
        self.accept(peer)
        self.accepted.set()


def compress(events):
    out = []
    for e in events:
        if not (out and e == "on_verify" and out[-1] == "on_verify"):
            out.append(e)
    return out


@pytest.mark.parametrize("secure", [True, False], ids=["tls", "plain"])
def test_dcmtk_echoscu_against_ldicomnet_scp(pki, secure):
    program = echoscu()

    def make_peer():
        if not secure:
            return VerificationPeer(None, DICOM_SECURE_NONE)
        peer = VerificationPeer(None, DICOM_SECURE_TLS, SslCtxCreate(
            ca_file=str(pki.ca_cert), verify_depth=2,
            verify_mode=L_SSL_VERIFY_PEER | L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT))
        assert peer.set_server_certificate_tls(str(pki.server_cert), 1, str(pki.server_key)) == 0
        return peer

    listener = Listener(make_peer)
    assert listener.listen("", 0, 4) == 0
    port = listener.get_host_info()[1]
    args = [program, "-aet", "DCMTKSCU", "-aec", "LEADSCP"]
    if secure:
        args += ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca_cert)]
    try:
        proc = subprocess.run(args + ["127.0.0.1", str(port)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert listener.accepted.wait(WAIT)
        peer = listener.peers[0]
        assert peer.closed.wait(WAIT), peer.events
    finally:
        listener.close()
        for p in listener.peers:
            p.close_forced(True)
    tls = ["on_verify", ("on_secure_link_ready", 0)] if secure else []
    assert compress(peer.events) == tls + [
        ("on_receive", 1), ("on_receive_associate_request", "DCMTKSCU", "LEADSCP"),
        ("on_receive", 4), "on_receive_c_echo_request",
        ("on_receive", 5), "on_receive_release_request",
        ("on_close", 0)]
    if secure:
        session = peer.get_tls_session()
        assert session.peer_certificate is not None and session.peer_authenticated
        assert peer.get_ciphersuite_tls() != 0
    assert not listener.is_activated()  # close() joined the listener's I/O thread
