"""LDicomNet facade: two objects (SCU and SCP) on 127.0.0.1, over TLS and plain TCP.

Every wait is on an event the handlers set, bounded by a timeout (no sleeping); the I/O threads
are ended by close().
"""

from __future__ import annotations

import threading

import pytest

from dicomtls.ldicomnet import lead_code
from dicomtls.ldicomnet.codes import SecureModeNotSupportedError
from dicomtls.ldicomnet.events import lead_to_snake
from dicomtls.ldicomnet.net import DicomAssociate, LDicomNet
from dicomtls.ldicomnet.tls_settings import (
    DICOM_SECURE_ISCL, DICOM_SECURE_NONE, DICOM_SECURE_TLS, FLAG_SSL_CTX_CREATE_METHOD_TYPE,
    L_SSL_OP_NO_TLSv1, L_SSL_OP_NO_TLSv1_1, L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT, L_SSL_VERIFY_PEER,
    TYPE_TLSV1_METHOD, SslCtxCreate, check_ctx, version_range)
from dicomtls.tls.versions import TLSVersion

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
WAIT = 15.0

# Quiet events: on_send after each send, and the association setup of no interest here.
NOISE = {"on_send", "on_before_send_command_set"}


class Recording(LDicomNet):
    """Records every event dispatched (name, args) on the I/O thread, then runs the handler."""

    def __init__(self, *args, tag="", events=None, **kw):
        super().__init__(*args, **kw)
        self.tag = tag
        self.events = events if events is not None else []
        self.closed = threading.Event()

    def _fire(self, name, *args, default=None):
        self.events.append((self.tag, name) + tuple(a for a in args if not isinstance(
            a, (bytes, LDicomNet, DicomAssociate, str)) or name == "on_receive_abort"))
        try:
            return super()._fire(name, *args, default=default)
        finally:
            if name in ("on_close", "on_connect") and (name == "on_close" or args[0]):
                self.closed.set()

    def names(self):
        out = []
        for ev in self.events:
            if ev[1] in NOISE:
                continue
            if out and ev[1] == "on_verify" and out[-1] == "on_verify":
                continue  # once per certificate: collapse the run
            out.append(ev[1])
        return out


def tls_ctx(pki, verify_mode=L_SSL_VERIFY_PEER):
    return SslCtxCreate(ca_file=str(pki.ca_cert), verify_mode=verify_mode, verify_depth=4)


class Harness:
    """A listener whose on_accept makes a Recording peer via ``make_peer``; an SCU."""

    def __init__(self, make_peer):
        self.peers = []
        self.events = []
        self.accepted = threading.Event()
        harness = self

        def on_accept(error):
            peer = make_peer()
            harness.peers.append(peer)
            assert listener.accept(peer) == 0
            harness.accepted.set()

        listener = self.listener = Recording(tag="listener", handlers={"on_accept": on_accept})
        assert listener.listen("", 0, 8) == 0
        self.port = listener.get_host_info()[1]

    @property
    def peer(self):
        assert self.accepted.wait(WAIT)
        return self.peers[0]

    def close(self):
        self.listener.close()
        for p in self.peers:
            p.close_forced(True)


@pytest.fixture
def harness_factory():
    made = []

    def make(make_peer):
        h = Harness(make_peer)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def verification_request():
    a = DicomAssociate(called_ae="LEADSCP", calling_ae="LEADSCU")
    a.add_presentation_context(1, VERIFICATION, [IMPLICIT])
    return a


def scp_handlers(net_ref, *, reject=None):
    """Callable-style handlers for a Verification SCP."""
    def on_receive_associate_request(assoc):
        net = net_ref()
        if reject:
            assert net.send_associate_reject(*reject) == 0
            return
        assoc.negotiate({VERIFICATION: [IMPLICIT, EXPLICIT],
                         CT_IMAGE_STORAGE: [EXPLICIT, IMPLICIT]})
        assert net.send_associate_accept(assoc) == 0

    def on_receive_c_echo_request(pid, message_id, class_uid):
        assert net_ref().send_c_echo_response(pid, message_id, class_uid, 0x0000) == 0

    def on_receive_release_request():
        assert net_ref().send_release_response() == 0

    return {"on_receive_associate_request": on_receive_associate_request,
            "on_receive_c_echo_request": on_receive_c_echo_request,
            "OnReceiveReleaseRequest": on_receive_release_request}  # LEAD spelling works too


def make_scp(pki=None, *, reject=None, ctx=None, events=None, **extra):
    box = []
    handlers = scp_handlers(lambda: box[0], reject=reject)
    handlers.update(extra)
    if pki is None:
        net = Recording(None, DICOM_SECURE_NONE, tag="scp", handlers=handlers, events=events)
    else:
        net = Recording(None, DICOM_SECURE_TLS, ctx or tls_ctx(
            pki, L_SSL_VERIFY_PEER | L_SSL_VERIFY_FAIL_IF_NO_PEER_CERT), tag="scp",
            handlers=handlers, events=events)
        assert net.set_server_certificate_tls(str(pki.server_cert), 1, str(pki.server_key)) == 0
    box.append(net)
    return net


class EchoSCU(Recording):
    """Subclass-and-override style: associate when the link is up, echo, release."""

    def __init__(self, *args, secure=True, **kw):
        super().__init__(*args, tag="scu", **kw)
        self.secure = secure
        self.echo_status = None

    def on_connect(self, error):
        if error == 0 and not self.secure:
            self.send_associate_request(verification_request())

    def on_secure_link_ready(self, error):
        if error == 0:
            self.send_associate_request(verification_request())

    def on_receive_associate_accept(self, assoc):
        pid = assoc.find_abstract(VERIFICATION)
        self.send_c_echo_request(pid, 7, VERIFICATION)

    def on_receive_c_echo_response(self, pid, message_id, class_uid, status):
        self.echo_status = (message_id, class_uid, status)
        self.send_release_request()


def make_scu(pki=None, cls=EchoSCU, **kw):
    if pki is None:
        return cls(None, DICOM_SECURE_NONE, secure=False, **kw)
    net = cls(None, DICOM_SECURE_TLS, tls_ctx(pki), **kw)
    assert net.set_client_certificate_tls(str(pki.client_cert), 1, str(pki.client_key)) == 0
    return net


# ---- the LEAD event order -------------------------------------------------------------------

@pytest.mark.parametrize("secure", [True, False], ids=["tls", "plain"])
def test_echo_event_order(pki, harness_factory, secure):
    h = harness_factory(lambda: make_scp(pki if secure else None))
    scu = make_scu(pki if secure else None)
    assert scu.connect(None, 0, "127.0.0.1", h.port) == 0
    assert scu.closed.wait(WAIT), scu.events
    scp = h.peer
    assert scp.closed.wait(WAIT), scp.events
    tls = ["on_verify", "on_secure_link_ready"] if secure else []
    assert scu.names() == ["on_connect"] + tls + [
        "on_receive", "on_receive_associate_accept",
        "on_receive", "on_receive_data", "on_receive_c_echo_response",
        "on_receive", "on_receive_release_response",
        "on_close"]
    assert scp.names() == tls + [
        "on_receive", "on_receive_associate_request",
        "on_receive", "on_receive_data", "on_receive_c_echo_request",
        "on_receive", "on_receive_release_request",
        "on_close"]
    assert scu.echo_status == (7, VERIFICATION, 0)
    ev = {e[1]: e for e in scu.events}
    assert ev["on_connect"][2] == 0 and ev["on_close"][2] == 0
    # on_receive's PDU types, in order: AC, P-DATA, RP (SCU); RQ, P-DATA, RQ (SCP)
    assert [e[2:4] for e in scu.events if e[1] == "on_receive"] == [(0, 2), (0, 4), (0, 6)]
    assert [e[2:4] for e in scp.events if e[1] == "on_receive"] == [(0, 1), (0, 4), (0, 5)]
    # on_send fired once per PDU we sent: RQ, P-DATA, RELEASE-RQ
    assert [e[3] for e in scu.events if e[1] == "on_send"] == [1, 4, 5]
    if secure:
        assert [e[2] for e in scu.events if e[1] == "on_secure_link_ready"] == [0]
        verifies = [e for e in scu.events if e[1] == "on_verify"]
        assert len(verifies) == 2 and all(v[2:] == (1, 0) for v in verifies)  # CA, leaf
        assert scu.get_ciphersuite_tls() == scp.get_ciphersuite_tls() != 0
    else:
        assert scu.get_ciphersuite_tls() == 0 and scu.get_tls_session() is None
    # the listener: on_accept, then on_close(0, peer) when the peer went away
    assert h.listener.closed.wait(WAIT)  # set by the listener's on_close
    assert h.listener.names() == ["on_accept", "on_close"]
    assert not scu.is_connected() and not scu.is_associated()


def test_associate_reject(harness_factory):
    h = harness_factory(lambda: make_scp(reject=(1, 1, 7)))
    scu = make_scu()
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert scu.closed.wait(WAIT)
    assert scu.names() == ["on_connect", "on_receive", "on_receive_associate_reject", "on_close"]
    rj = next(e for e in scu.events if e[1] == "on_receive_associate_reject")
    assert rj[2:] == (1, 1, 7)
    assert h.peer.closed.wait(WAIT)
    assert h.peer.names() == ["on_receive", "on_receive_associate_request", "on_close"]


class AbortingSCU(EchoSCU):
    def on_receive_associate_accept(self, assoc):
        assert self.is_associated()
        assert self.send_abort(0, 0) == 0
        self.close_forced(True)  # LEAD demos: SendAbort, then CloseForced(TRUE)


def test_abort(harness_factory):
    h = harness_factory(lambda: make_scp())
    scu = make_scu(cls=AbortingSCU)
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert h.peer.closed.wait(WAIT)
    assert h.peer.names() == ["on_receive", "on_receive_associate_request",
                              "on_receive", "on_receive_abort", "on_close"]
    assert next(e for e in h.peer.events if e[1] == "on_receive_abort")[2:] == (0, 0)
    assert scu.join(WAIT)
    # close_forced() was ours: no on_close on the SCU
    assert "on_close" not in scu.names() and "on_receive_abort" not in scu.names()


# ---- TLS settings and getters ---------------------------------------------------------------

def test_cipher_list_by_index_and_suite_getters(pki, harness_factory):
    def scp():
        net = make_scp(pki)
        net.set_cipher_to_index_tls(0, None)
        assert net.set_cipher_to_index_tls(0, 0x15) == 0  # TLS_RSA_WITH_AES_128_CBC_SHA
        return net
    h = harness_factory(scp)
    scu = make_scu(pki)
    assert scu.set_cipher_to_index_tls(0, 0) == 0  # LEAD demos: clear, then fill
    assert scu.set_cipher_to_index_tls(0, 0x18) == 0
    assert scu.set_cipher_to_index_tls(1, "TLS_RSA_WITH_AES_128_CBC_SHA") == 0
    assert [scu.get_cipher_from_index_tls(i) for i in range(3)] == [0x18, 0x15, 0]
    assert scu.set_cipher_to_index_tls(16, 0x18) != 0
    assert scu.set_cipher_to_index_tls(2, "NO_SUCH_SUITE") != 0
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert scu.closed.wait(WAIT)
    assert scu.echo_status is not None
    suite = scu.get_ciphersuite_tls()
    assert suite == 0x15 == h.peer.get_ciphersuite_tls()
    assert scu.get_tls_session().protocol == TLSVersion.TLSv1_2
    assert scu.get_encryption_algorithm_tls(suite) == 7        # L_CRYPT_AES
    assert scu.get_integrity_algorithm_tls(suite) == 0x10      # L_MAC_SHA1
    assert scu.get_key_exchange_algorithm_tls(suite) == 0x41   # L_KEYEXCHANGE_RSA
    assert scu.get_authentication_algorithm_tls(suite) == 0x20  # L_MUTUALAUTH_RSA
    assert scu.get_encrypt_key_length_tls(suite) == 128
    assert scu.get_mutual_auth_key_length_tls(suite) == 2048   # the server's RSA key
    assert scu.get_mutual_auth_key_length_tls(0x18) == 0       # not the negotiated suite
    # pure lookups: LEAD ordinals, IANA names
    assert scu.get_key_exchange_algorithm_tls(0x13) == 0x40    # RSA-signed DHE
    assert scu.get_encryption_algorithm_tls(0x13) == 2         # 3DES
    assert scu.get_encrypt_key_length_tls("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384") == 256
    scu.set_cipher_to_index_tls(0, None)
    assert scu.get_cipher_from_index_tls(1) == 0


@pytest.mark.filterwarnings("ignore::dicomtls.LegacyCryptoWarning")
def test_lead_des_suite_runs_on_the_own_engine(pki, harness_factory):
    """LEAD's TLS_DHE_RSA_WITH_DES_CBC_SHA (ordinal 0x12) with LEAD's TLSv1 method on both
    sides: libssl has no DES, so dicomtls' own engine carries the association."""
    def lead_tls1(net):
        assert net.set_cipher_to_index_tls(0, 0) == 0
        assert net.set_cipher_to_index_tls(0, 0x12) == 0
        net.get_ctx().method_type = TYPE_TLSV1_METHOD
        net.get_ctx().flags |= FLAG_SSL_CTX_CREATE_METHOD_TYPE
        return net

    h = harness_factory(lambda: lead_tls1(make_scp(pki)))
    scu = lead_tls1(make_scu(pki))
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert scu.closed.wait(WAIT)
    assert scu.echo_status is not None
    session = scu.get_tls_session()
    assert (session.engine, session.protocol) == ("dicomtls", TLSVersion.TLSv1_0)
    assert scu.get_ciphersuite_tls() == 0x12 == h.peer.get_ciphersuite_tls()
    assert scu.get_encryption_algorithm_tls(0x12) == 1        # L_CRYPT_DES
    assert scu.get_encrypt_key_length_tls(0x12) == 56
    assert scu.get_key_exchange_algorithm_tls(0x12) == 0x40    # RSA-signed DHE


def test_tls13_suite_is_reported_by_iana_code(pki, harness_factory):
    h = harness_factory(lambda: make_scp(pki))
    scu = make_scu(pki)
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert scu.closed.wait(WAIT)
    session = scu.get_tls_session()
    assert session.protocol == TLSVersion.TLSv1_3
    assert scu.get_ciphersuite_tls() == session.cipher_suite.code  # no LEAD ordinal for 1.3


def test_encrypted_key_asks_on_private_key_password(pki, harness_factory):
    asked = []

    class KeyedSCU(EchoSCU):
        def on_private_key_password(self, size, flag):
            asked.append((size, flag, threading.current_thread() is self._io.thread))
            return pki.password

    h = harness_factory(lambda: make_scp(pki))
    scu = KeyedSCU(None, DICOM_SECURE_TLS, tls_ctx(pki))
    scu.set_client_certificate_tls(str(pki.client_cert), 1, str(pki.client_key_encrypted))
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert scu.closed.wait(WAIT)
    assert scu.echo_status is not None
    assert len(asked) == 1 and asked[0][1] == 0 and asked[0][0] > 0 and asked[0][2]
    names = scu.names()
    assert names.index("on_connect") < names.index("on_private_key_password") < \
        names.index("on_verify") < names.index("on_secure_link_ready")


def test_missing_key_password_fails_secure_link(pki, harness_factory):
    h = harness_factory(lambda: make_scp(pki))
    scu = make_scu(pki)
    scu.set_client_certificate_tls(str(pki.client_cert), 1, str(pki.client_key_encrypted))
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert scu.closed.wait(WAIT)
    assert scu.names() == ["on_connect", "on_private_key_password", "on_secure_link_ready",
                           "on_close"]
    assert scu.get_error_secure() == 218  # PRIVATE_KEY_LOAD_FAILED
    assert next(e for e in scu.events if e[1] == "on_secure_link_ready")[2] == 218


def test_on_verify_veto(pki, harness_factory):
    seen = []

    def on_verify(ok, text, error, error_string):
        seen.append((ok, error, error_string, text))
        return 0

    h = harness_factory(lambda: make_scp(pki))
    scu = make_scu(pki, handlers={"on_verify": on_verify})
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert scu.closed.wait(WAIT)
    assert scu.names() == ["on_connect", "on_verify", "on_secure_link_ready", "on_close"]
    assert len(seen) == 1 and seen[0][0] == 1 and "CN=" in seen[0][3]  # stopped at the first
    assert scu.get_error_secure() == 191  # DICOM_ERROR_TLS_APPLICATION_VERIFICATION
    assert next(e for e in scu.events if e[1] == "on_secure_link_ready")[2] == 191
    scp = h.peer
    assert scp.closed.wait(WAIT)
    code = next(e for e in scp.events if e[1] == "on_secure_link_ready")[2]
    assert code != 0 and scp.get_error_secure() == code
    assert "on_receive_associate_request" not in scp.names()


def test_server_requires_client_certificate(pki, harness_factory):
    h = harness_factory(lambda: make_scp(pki))
    scu = LDicomNet(None, DICOM_SECURE_TLS, tls_ctx(pki))  # no client certificate
    got = threading.Event()
    codes = []
    scu.on_secure_link_ready = lambda e: (codes.append(e), got.set())
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert got.wait(WAIT)
    scp = h.peer
    assert scp.closed.wait(WAIT)
    scp_code = next(e for e in scp.events if e[1] == "on_secure_link_ready")[2]
    assert scp_code == 127  # CERTIFICATE_VERIFY_FAILED: no peer certificate
    scu.close()


# ---- handler styles, threading, data sets ---------------------------------------------------

def test_callable_styles_and_raising_handler(harness_factory):
    h = harness_factory(lambda: make_scp(
        on_receive_data=lambda *a: 1 / 0))  # raises: logged, the association goes on
    connected, got, threads = threading.Event(), threading.Event(), []
    scu = LDicomNet(handlers={"OnConnect": lambda e: (
        threads.append(threading.current_thread()), connected.set())})
    scu.on_receive_associate_accept = lambda a: scu.send_c_echo_request(1, 3, VERIFICATION)
    scu.on_receive_c_echo_response = lambda pid, mid, uid, st: (threads.append(st), got.set())
    scu.connect(None, 0, "127.0.0.1", h.port)
    assert connected.wait(WAIT)
    # from a foreign thread: queued to the I/O thread, the caller gets the outcome
    assert scu.send_associate_request(verification_request()) == 0
    assert got.wait(WAIT)
    assert threads[0] is scu._io.thread and threads[1] == 0
    assert scu.is_associated()
    assert scu.send_c_echo_request(9, 4, VERIFICATION) == 29  # context 9 was never proposed
    assert scu.send_release_request() == 0
    assert scu.join(WAIT)
    with pytest.raises(ValueError):
        LDicomNet(handlers={"on_no_such_event": print})


def test_c_store_with_pydicom_dataset(harness_factory):
    from pydicom.dataset import Dataset
    from pydicom.filereader import read_dataset
    import io

    stored, done = [], threading.Event()
    box = []

    def on_store(pid, mid, class_uid, instance_uid, priority, move_ae, move_id, dataset):
        stored.append((class_uid, instance_uid, dataset))
        box[0].send_c_store_response(pid, mid, class_uid, instance_uid, 0)

    def scp():
        net = make_scp(on_receive_c_store_request=on_store)
        box.append(net)
        return net
    h = harness_factory(scp)
    ds = Dataset()
    ds.PatientName = "LEAD^PORT"
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, "1.2.3.4"
    status = []
    connected = threading.Event()
    scu = LDicomNet(handlers={"on_connect": lambda error: connected.set()})
    scu.on_receive_c_store_response = lambda *a: (status.append(a), done.set())
    rq = DicomAssociate(called_ae="SCP", calling_ae="SCU")
    rq.add_presentation_context(1, CT_IMAGE_STORAGE, [EXPLICIT])
    accepted = threading.Event()
    scu.on_receive_associate_accept = lambda a: accepted.set()
    scu.connect("", 0, "127.0.0.1", h.port)
    assert connected.wait(WAIT) and scu.is_connected()
    assert scu.send_associate_request(rq) == 0
    assert accepted.wait(WAIT)
    assert scu.get_associate().presentation_contexts[0].transfer_syntaxes == [EXPLICIT]
    assert scu.send_c_store_request(1, 5, CT_IMAGE_STORAGE, "1.2.3.4", 0, None, None, ds) == 0
    assert done.wait(WAIT)
    assert status[0][1:] == (5, CT_IMAGE_STORAGE, "1.2.3.4", 0)
    back = read_dataset(io.BytesIO(stored[0][2]), False, True)
    assert str(back.PatientName) == "LEAD^PORT"
    assert scu.get_peer_info() == ("127.0.0.1", h.port)
    scu.send_release_request()
    assert scu.join(WAIT)


def test_connect_refused_and_not_connected(port):
    codes, got = [], threading.Event()
    net = LDicomNet(handlers={"on_connect": lambda e: (codes.append(e), got.set())})
    assert net.send_c_echo_request(1, 1, VERIFICATION) == 49  # NOT_CONNECTED
    net.connect(None, 0, "127.0.0.1", port)
    assert got.wait(WAIT) and codes == [35]  # CONNECTION_REFUSED
    assert net.join(WAIT) and not net.is_connected()


# ---- construction, context settings, naming ---------------------------------------------------

def test_security_modes():
    assert LDicomNet(None, DICOM_SECURE_TLS).get_secure_mode() == DICOM_SECURE_TLS
    assert LDicomNet(None, 0x1234).get_secure_mode() == DICOM_SECURE_NONE  # LEAD: becomes NONE
    with pytest.raises(SecureModeNotSupportedError, match="ISCL") as info:
        LDicomNet(None, DICOM_SECURE_ISCL)
    assert lead_code(info.value) == 69
    net = LDicomNet()
    assert net.initialize(None, DICOM_SECURE_ISCL) == 69


def test_ctx_settings(pki, tmp_path):
    assert check_ctx(SslCtxCreate(ca_file=str(pki.ca_cert))) == 0
    assert check_ctx(SslCtxCreate(ca_file=str(tmp_path / "none.pem"))) == 195
    assert check_ctx(SslCtxCreate(verify_depth=-1)) == 193
    assert check_ctx(SslCtxCreate(verify_mode=8)) == 194
    assert check_ctx(SslCtxCreate(options=0x40000000)) == 196
    assert check_ctx(SslCtxCreate(method_type=1)) == 192  # SSLv2
    assert version_range(SslCtxCreate()) == (None, None)
    assert version_range(SslCtxCreate(options=L_SSL_OP_NO_TLSv1 | L_SSL_OP_NO_TLSv1_1)) == (
        TLSVersion.TLSv1_2, TLSVersion.TLSv1_3)
    net = LDicomNet(None, DICOM_SECURE_TLS)
    ctx = SslCtxCreate(ca_file=str(pki.ca_cert), verify_mode=L_SSL_VERIFY_PEER, verify_depth=2)
    assert net.initialize(None, DICOM_SECURE_TLS, ctx) == 0 and ctx.success == 0
    config = net._tls.config("client", lambda vc: 1, None)
    assert config.peer_cert == "require" and config.verify_depth == 2
    assert net.set_client_certificate_tls(str(pki.client_cert), 3, None) != 0
    assert net.set_client_certificate_tls(str(tmp_path / "x.pem"), 1, None) == 219


# LDicomNet members of the API map, sections 2 and 5 (C++ names).
LEAD_MEMBERS = """
StartUp ShutDown Initialize GetOpenSslVersion SetClientCertificateTLS SetServerCertificateTLS
SetCipherToIndexTLS GetCipherFromIndexTLS GetCiphersuiteTLS GetEncryptionAlgorithmTLS
GetAuthenticationAlgorithmTLS GetIntegrityAlgorithmTLS GetKeyExchangeAlgorithmTLS
GetEncryptKeyLengthTLS GetMutualAuthKeyLengthTLS GetErrorSecure GetSecureMode CloseForced GetCTX
CTXSetOptions SetSLLMethodType SetIsSecureConnected GetIsSecureConnected GetTLSStatus
SetHandshakeDebug OnSecureLinkReady OnPrivateKeyPassword OnVerify OnCreateCTX
Connect Listen Accept Close ServerClose IsActivated IsConnected IsAssociated GetQueueSend
GetServer GetClientCount GetClient GetHostInfo GetPeerInfo GetAssociate GetCommandSet
GetSocketOptions SetSocketOptions GetDefaultSocketOptions SetFlags GetFlags EnableOptimizedSend
EnableReferenceCounting Breathe SendAssociateRequest SendAssociateAccept SendAssociateReject
SendReleaseRequest SendReleaseResponse SendAbort SendData
SendCStoreRequest SendCStoreResponse SendCFindRequest SendCFindResponse SendCGetRequest
SendCGetResponse SendCMoveRequest SendCMoveResponse SendCCancelRequest SendCEchoRequest
SendCEchoResponse SendNReportRequest SendNReportResponse SendNGetRequest SendNGetResponse
SendNSetRequest SendNSetResponse SendNActionRequest SendNActionResponse SendNCreateRequest
SendNCreateResponse SendNDeleteRequest SendNDeleteResponse
OnConnect OnAccept OnClose OnReceive OnSend OnReceiveAssociateRequest OnReceiveAssociateAccept
OnReceiveAssociateReject OnReceiveData OnReceiveReleaseRequest OnReceiveReleaseResponse
OnReceiveAbort OnReceiveCStoreRequest OnReceiveCStoreResponse OnReceiveCFindRequest
OnReceiveCFindResponse OnReceiveCGetRequest OnReceiveCGetResponse OnReceiveCMoveRequest
OnReceiveCMoveResponse OnReceiveCCancelRequest OnReceiveCEchoRequest OnReceiveCEchoResponse
OnReceiveNReportRequest OnReceiveNReportResponse OnReceiveNGetRequest OnReceiveNGetResponse
OnReceiveNSetRequest OnReceiveNSetResponse OnReceiveNActionRequest OnReceiveNActionResponse
OnReceiveNCreateRequest OnReceiveNCreateResponse OnReceiveNDeleteRequest
OnReceiveNDeleteResponse OnReceiveUnknown OnBeforeSendCommandSet
""".split()


def test_every_lead_member_has_a_snake_case_twin():
    assert lead_to_snake("SetCipherToIndexTLS") == "set_cipher_to_index_tls"
    assert lead_to_snake("GetCiphersuiteTLS") == "get_ciphersuite_tls"
    assert lead_to_snake("SendCEchoRequest") == "send_c_echo_request"
    assert lead_to_snake("OnReceiveCCancelRequest") == "on_receive_c_cancel_request"
    assert lead_to_snake("CTXSetOptions") == "ctx_set_options"
    missing = [n for n in LEAD_MEMBERS if not callable(getattr(LDicomNet, lead_to_snake(n), None))]
    assert missing == []


def test_mapping_document_lists_every_member():
    from pathlib import Path
    doc = Path(__file__).resolve().parents[2] / "docs" / "ldicomnet-mapping.md"
    text = doc.read_text()
    missing = [n for n in LEAD_MEMBERS if f"`{lead_to_snake(n)}`" not in text]
    assert missing == []
