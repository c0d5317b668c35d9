"""Write the seed corpus of the fuzz targets: real messages, made by real peers, no network.

    python3 tests/fuzz/make_corpus.py    # rewrites tests/fuzz/corpus/{ul,dimse,tls_own,structure}/

* ``ul``: what a requestor (our ``Association``, and pynetdicom's PDU encoder when installed)
  sends: A-ASSOCIATE-RQ with extended negotiation, whole sessions (C-ECHO, C-STORE with a
  fragmented data set, release), each other PDU type on its own (AC, RJ, P-DATA-TF, A-RELEASE-RQ
  and -RP, A-ABORT), and headers declaring 4 GiB / 1 MiB bodies;
* ``dimse``: the command set of every DIMSE-C and DIMSE-N message type (a C-STORE-RQ among them);
* ``tls_own``: ClientHellos of our own client and of Python's ``ssl`` (OpenSSL) for TLS 1.0, 1.1
  and 1.2 (and a TLS 1.3-capable one), whole client flights against our server, and server
  flights of our server and of Python's ``ssl`` answering our client's (fixed-random) hello.
  Both sides run in memory (``ssl.MemoryBIO``, sans-IO connections);
* ``structure``: the data sets of pydicom's small test files (every transfer syntax the Storage
  SCP takes: implicit, explicit little and big endian, deflated, encapsulated) and hand-built
  nested sequences, encapsulated Pixel Data and a Pixel Data declaring 2 GiB.

Each seed starts with the two-byte control header of ``_fuzzutil`` (flags, chunking). The TLS
seeds hold certificates of a dev PKI made for the occasion: the fuzz targets make their own, so
the client target runs with peer_cert="ignore" unless a flag asks to verify.
"""

from __future__ import annotations

import logging
import os
import ssl
import struct
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _fuzzutil  # noqa: E402
from _fuzzutil import header  # noqa: E402

from dicomtls.crypto.devpki import create_dev_pki  # noqa: E402
from dicomtls.dimse import messages as m  # noqa: E402
from dicomtls.tls import engines  # noqa: E402
from dicomtls.tls.connection import NEED_DATA  # noqa: E402
from dicomtls.ul import user_info as ui  # noqa: E402
from dicomtls.ul.association import NEED_DATA as UL_NEED_DATA  # noqa: E402
from dicomtls.ul.association import Association  # noqa: E402
from dicomtls.ul.negotiation import (EXPLICIT_VR_LITTLE_ENDIAN,  # noqa: E402
                                     IMPLICIT_VR_LITTLE_ENDIAN, VERIFICATION_SOP_CLASS)
from dicomtls.ul.pdu import (AAbort, AAssociateRJ, AReleaseRP, AReleaseRQ,  # noqa: E402
                             PDataTF)

logging.getLogger("dicomtls").setLevel(logging.ERROR)  # the legacy-suite notices

CORPUS = HERE / "corpus"
CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
MPPS = "1.2.840.10008.3.1.2.3.3"

# The fuzz targets' flag bits (fuzz_ul.py, fuzz_dimse.py, fuzz_tls_own.py)
UL_STREAM, UL_EOF, UL_REJECT, UL_RESPOND, UL_RECV_INTO = 1, 2, 4, 8, 16
DIMSE_DATA, DIMSE_LAST = 1, 2
TLS_CLIENT, TLS_SERVER_NO_CERT, TLS_EOF = 1, 8, 16


def write(target: str, name: str, data: bytes) -> None:
    (CORPUS / target / name).write_bytes(data)


# ---- Upper Layer ---------------------------------------------------------------------------------

def _drain(assoc):
    events = []
    while True:
        event = assoc.next_event()
        if event is UL_NEED_DATA:
            return events
        events.append(event)


def _session(dataset_length: int = 0, echo: bool = True) -> tuple[bytes, dict]:
    """A requestor's whole side of an association against our acceptor: RQ, a message, release.
    Returns (requestor bytes, the single PDUs by name)."""
    extra = [ui.AsynchronousOperationsWindow(4, 4), ui.SCPSCURoleSelection(CT, True, True),
             ui.SOPClassExtendedNegotiation(FIND, b"\x01\x01\x01"),
             ui.SOPClassCommonExtendedNegotiation(CT, "1.2.840.10008.4.2", ("1.2.3.4",)),
             ui.UserIdentityRQ(2, b"user", b"secret", True)]
    scu = Association("requestor", max_pdu_length=16384)
    scp = Association("acceptor", max_pdu_length=1024,
                      supported={VERIFICATION_SOP_CLASS: [IMPLICIT_VR_LITTLE_ENDIAN],
                                 CT: [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]})
    pdus = {}
    scu.request("STORESCP", "STORESCU", [VERIFICATION_SOP_CLASS,
                                         (CT, [EXPLICIT_VR_LITTLE_ENDIAN])],
                extra_user_items=extra)
    sent = [scu.data_to_send()]
    pdus["a-associate-rq"] = sent[-1]
    scp.receive_data(sent[-1])
    _drain(scp)
    scp.accept()
    _drain(scp)
    ac = scp.data_to_send()
    pdus["a-associate-ac"] = ac
    scu.receive_data(ac)
    _drain(scu)
    if echo:
        scu.send_message(1, m.C_ECHO_RQ(message_id=1, affected_sop_class_uid=VERIFICATION_SOP_CLASS))
        sent.append(scu.data_to_send())
        pdus["p-data-tf-c-echo-rq"] = sent[-1]
    if dataset_length:
        dataset = (b"\x08\x00\x16\x00\x1a\x00\x00\x00" + CT.encode() + b"\x00" * 6)
        dataset = (dataset * (dataset_length // len(dataset) + 1))[:dataset_length]
        scu.send_message(3, m.C_STORE_RQ(message_id=2, affected_sop_class_uid=CT,
                                         affected_sop_instance_uid="1.2.3.4.5.6", priority=0),
                         dataset)
        sent.append(scu.data_to_send())
    scu.release()
    sent.append(scu.data_to_send())
    pdus["a-release-rq"] = sent[-1]
    return b"".join(sent), pdus


def _pynetdicom_rq() -> bytes | None:
    try:
        from pynetdicom.pdu import A_ASSOCIATE_RQ
        from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
        from pynetdicom.presentation import build_context
    except ImportError:
        return None
    primitive = A_ASSOCIATE()
    primitive.calling_ae_title = "PYNETDICOM"
    primitive.called_ae_title = "ANY-SCP"
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    contexts = [build_context(VERIFICATION_SOP_CLASS), build_context(CT)]
    for i, cx in enumerate(contexts):
        cx.context_id = 2 * i + 1
    primitive.presentation_context_definition_list = contexts
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = 16382
    primitive.user_information = [max_length]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


def ul_corpus() -> None:
    echo, pdus = _session()
    write("ul", "session-echo", header(UL_RESPOND | UL_EOF) + echo)
    write("ul", "session-echo-bytewise", header(UL_RESPOND, chunking=1, seed=1) + echo)
    write("ul", "session-echo-recv-into", header(UL_RECV_INTO | UL_RESPOND, 5, 7) + echo)
    store, _ = _session(3000, echo=False)
    write("ul", "session-c-store", header(UL_RESPOND) + store)
    write("ul", "session-c-store-streamed", header(UL_STREAM | UL_RESPOND, 4, 3) + store)
    big, _ = _session(6000, echo=False)  # over the target's 4096-byte data set limit
    write("ul", "session-c-store-too-long", header(UL_RECV_INTO, 6, 9) + big)
    write("ul", "a-associate-rq", header() + pdus["a-associate-rq"])
    write("ul", "a-associate-rq-rejected", header(UL_REJECT | UL_EOF) + pdus["a-associate-rq"])
    write("ul", "a-associate-ac", header() + pdus["a-associate-ac"])
    write("ul", "a-associate-rj", header() + AAssociateRJ(1, 1, 7).encode())
    write("ul", "p-data-tf-c-echo-rq", header() + pdus["p-data-tf-c-echo-rq"])
    write("ul", "a-release-rq", header() + AReleaseRQ().encode())
    write("ul", "a-release-rp", header() + AReleaseRP().encode())
    write("ul", "a-abort", header() + AAbort(2, 6).encode())
    write("ul", "rq-then-abort", header(UL_EOF) + pdus["a-associate-rq"] + AAbort(0, 0).encode())
    # Lying lengths: 4 GiB P-DATA-TF and A-ASSOCIATE-RQ, a 1 MiB A-ASSOCIATE-RQ (at the cap).
    pdata = PDataTF.header_for_single_pdv(1, True, True, 10)
    write("ul", "declared-4gib-p-data-tf", header(UL_RECV_INTO, 4, 1) + pdus["a-associate-rq"]
          + b"\x04\x00\xff\xff\xff\xff" + pdata[6:] + b"\x00" * 64)
    write("ul", "declared-4gib-a-associate-rq", header() + b"\x01\x00\xff\xff\xff\xff"
          + pdus["a-associate-rq"][6:])
    write("ul", "declared-1mib-a-associate-rq", header(0, 6, 2) + b"\x01\x00\x00\x10\x00\x00"
          + pdus["a-associate-rq"][6:])
    rq = _pynetdicom_rq()
    if rq is not None:
        write("ul", "pynetdicom-a-associate-rq", header(UL_RESPOND) + rq + echo[len(pdus["a-associate-rq"]):])


# ---- DIMSE ---------------------------------------------------------------------------------------

def dimse_corpus() -> None:
    messages = {
        "c-echo-rq": m.C_ECHO_RQ(message_id=1, affected_sop_class_uid=VERIFICATION_SOP_CLASS),
        "c-echo-rsp": m.C_ECHO_RSP(message_id_being_responded_to=1, status=0,
                                   affected_sop_class_uid=VERIFICATION_SOP_CLASS),
        "c-store-rq": m.C_STORE_RQ(message_id=7, affected_sop_class_uid=CT,
                                   affected_sop_instance_uid="1.2.826.0.1.3680043.2.1125.1",
                                   priority=0, move_originator_application_entity_title="MOVESCU",
                                   move_originator_message_id=3, has_dataset=True),
        "c-store-rsp": m.C_STORE_RSP(message_id_being_responded_to=7, status=0xB000,
                                     affected_sop_class_uid=CT,
                                     affected_sop_instance_uid="1.2.3", offending_element=(0x00100010,),
                                     error_comment="coerced"),
        "c-find-rq": m.C_FIND_RQ(message_id=2, affected_sop_class_uid=FIND, priority=1,
                                 has_dataset=True),
        "c-find-rsp": m.C_FIND_RSP(message_id_being_responded_to=2, status=0xFF00,
                                   affected_sop_class_uid=FIND, has_dataset=True),
        "c-move-rq": m.C_MOVE_RQ(message_id=3, affected_sop_class_uid=MOVE, priority=2,
                                 move_destination="STORESCP", has_dataset=True),
        "c-move-rsp": m.C_MOVE_RSP(message_id_being_responded_to=3, status=0xFF00,
                                   affected_sop_class_uid=MOVE,
                                   number_of_remaining_suboperations=5,
                                   number_of_completed_suboperations=1,
                                   number_of_failed_suboperations=0,
                                   number_of_warning_suboperations=0),
        "c-cancel-rq": m.C_CANCEL_RQ(message_id_being_responded_to=3),
        "n-event-report-rq": m.N_EVENT_REPORT_RQ(message_id=4, affected_sop_class_uid=COMMITMENT,
                                                 affected_sop_instance_uid=COMMITMENT_INSTANCE,
                                                 event_type_id=1, has_dataset=True),
        "n-action-rq": m.N_ACTION_RQ(message_id=5, requested_sop_class_uid=COMMITMENT,
                                     requested_sop_instance_uid=COMMITMENT_INSTANCE,
                                     action_type_id=1, has_dataset=True),
        "n-create-rsp": m.N_CREATE_RSP(message_id_being_responded_to=6, status=0,
                                       affected_sop_class_uid=MPPS,
                                       affected_sop_instance_uid="1.2.3.4"),
        "n-get-rq": m.N_GET_RQ(message_id=8, requested_sop_class_uid=MPPS,
                               requested_sop_instance_uid="1.2.3.4",
                               attribute_identifier_list=(0x00400252, 0x00400253)),
        "n-set-rq": m.N_SET_RQ(message_id=9, requested_sop_class_uid=MPPS,
                               requested_sop_instance_uid="1.2.3.4", has_dataset=True),
        "n-delete-rsp": m.N_DELETE_RSP(message_id_being_responded_to=10, status=0x0112,
                                       error_id=3),
    }
    for name, message in messages.items():
        write("dimse", name, header() + message.encode())
    store = messages["c-store-rq"].encode()
    write("dimse", "c-store-rq-fragmented", header(DIMSE_DATA | DIMSE_LAST, 3, 5) + store)
    write("dimse", "c-store-rq-bytewise", header(DIMSE_DATA, 1, 0) + store)


# ---- the own TLS engine --------------------------------------------------------------------------

def _drive(conn) -> bytes:
    while conn.next_event() is not NEED_DATA:
        pass
    return conn.data_to_send()


def _own_client(pki, high: str | None = None):
    """The client fuzz_tls_own.py makes for flags TLS_CLIENT (same hello: fixed random), or one
    offering TLS 1.0 up to ``high``."""
    if high is None:
        config = _fuzzutil.tls_role_config(pki, TLS_CLIENT)[1]
    else:
        config = _fuzzutil.tls_config(pki, "client", _fuzzutil.client_suites(), high=high,
                                      peer_cert="ignore")
    conn = engines.new_connection(config, "client")
    conn.client_random = _fuzzutil.CLIENT_RANDOM
    return conn


def _own_server(pki, suites, version: str | None = None, peer_cert: str = "require"):
    low = high = version
    config = _fuzzutil.tls_config(pki, "server", suites, low=low or "1.0", high=high or "1.2",
                                  peer_cert=peer_cert)
    conn = engines.new_connection(config, "server")
    conn.server_random = _fuzzutil.SERVER_RANDOM
    return conn


def _python_context(server: bool, version: str | None, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        if version is not None:
            ctx.maximum_version = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                                   "1.2": ssl.TLSVersion.TLSv1_2}[version]
    role = "server" if server else "client"
    ctx.load_cert_chain(str(getattr(pki, f"{role}_cert")), str(getattr(pki, f"{role}_key")))
    return ctx


def _python_client(pki, version):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = _python_context(False, version, pki).wrap_bio(incoming, outgoing, server_side=False)
    return obj, incoming, outgoing


def _step(obj, incoming, outgoing, data: bytes) -> bytes:
    if data:
        incoming.write(data)
    try:
        obj.do_handshake()
    except (ssl.SSLWantReadError, ssl.SSLError):
        pass
    return outgoing.read()


def tls_corpus() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_dev_pki(tmp)
        # ClientHellos, and whole client flights, for our server (flags: server, suite order 0).
        for high in ("1.0", "1.1", "1.2"):
            hello = _drive(_own_client(pki, high=high))
            write("tls_own", f"client-hello-own-tls{high}", header(0) + hello)
            for order in (1, 2, 3):
                write("tls_own", f"client-hello-own-tls{high}-order{order}",
                      header(order << 1) + hello)
        for version in ("1.0", "1.1", "1.2", None):
            obj, incoming, outgoing = _python_client(pki, version)
            hello = _step(obj, incoming, outgoing, b"")
            name = f"client-hello-python-tls{version or '1.3-capable'}"
            write("tls_own", name, header(0) + hello)
            write("tls_own", name + "-bytewise", header(0, 3, 4) + hello)
            if version is None:
                continue
            # Against a server without CertificateRequest (flag 8, peer_cert="ignore") the
            # flight carries no certificate of the corpus' PKI, so the target's server gets
            # through ClientKeyExchange to Finished (which fails: other randoms and keys).
            server = _own_server(pki, _fuzzutil.server_suites(0), peer_cert="ignore")
            server.receive_data(hello)
            flight = _drive(server)
            second = _step(obj, incoming, outgoing, flight)
            write("tls_own", f"client-flight-python-tls{version}",
                  header(TLS_EOF | TLS_SERVER_NO_CERT) + hello + second)
        for version, order, peer_cert in (("1.2", 0, "require"), ("1.0", 1, "ignore"),
                                          ("1.2", 2, "ignore"), ("1.1", 3, "ignore"),
                                          ("1.2", 1, "ignore")):
            client = _own_client(pki, high=version)
            hello = _drive(client)
            server = _own_server(pki, _fuzzutil.server_suites(order), peer_cert=peer_cert)
            server.receive_data(hello)
            flight = _drive(server)
            client.receive_data(flight)
            second = _drive(client)
            flags = order << 1 | (TLS_SERVER_NO_CERT if peer_cert == "ignore" else 0)
            write("tls_own", f"client-flight-own-tls{version}-order{order}-{peer_cert}",
                  header(flags) + hello + second)
        # Server flights answering our client's hello (flags: client, peer_cert ignore).
        cases = [("ecdhe-tls1.2", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], "1.2", "require"),
                 ("ecdhe-tls1.0", ["TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"], "1.0", "ignore"),
                 ("dhe-tls1.2", ["TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"], "1.2", "require"),
                 ("dhe-3des-tls1.1", ["TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"], "1.1", "ignore"),
                 ("rsa-tls1.2", ["TLS_RSA_WITH_AES_256_GCM_SHA384"], "1.2", "ignore"),
                 ("rsa-3des-tls1.0", ["TLS_RSA_WITH_3DES_EDE_CBC_SHA"], "1.0", "require"),
                 ("rsa-null-tls1.2", ["TLS_RSA_WITH_NULL_SHA256"], "1.2", "require")]
        for name, suites, version, peer_cert in cases:
            client = _own_client(pki)
            hello = _drive(client)
            server = _own_server(pki, suites, version, peer_cert)
            server.receive_data(hello)
            write("tls_own", f"server-flight-own-{name}", header(TLS_CLIENT) + _drive(server))
        for version in ("1.0", "1.2"):
            hello = _drive(_own_client(pki))
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = _python_context(True, version, pki).wrap_bio(incoming, outgoing,
                                                               server_side=True)
            flight = _step(obj, incoming, outgoing, hello)
            write("tls_own", f"server-flight-python-tls{version}", header(TLS_CLIENT) + flight)


# ---- data set structure ------------------------------------------------------------------------

STRUCTURE_SYNTAXES = {"1.2.840.10008.1.2": 0, "1.2.840.10008.1.2.2": 2,
                      "1.2.840.10008.1.2.1.99": 3}   # anything else: Explicit VR LE (1)
STRUCTURE_RECORD = 4
PYDICOM_FILES = ("rtplan.dcm", "reportsi.dcm", "rtstruct.dcm", "nested_priv_SQ.dcm",
                 "priv_SQ.dcm", "UN_sequence.dcm", "SC_rgb_small_odd.dcm",
                 "SC_rgb_small_odd_big_endian.dcm", "rtdose_1frame.dcm", "SC_rgb_rle.dcm",
                 "JPEG2000.dcm", "image_dfl.dcm", "empty_charset_LEI.dcm")


def _explicit(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    n = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2s2xI", tag >> 16, tag & 0xFFFF, vr, n) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, n) + value


def structure_corpus() -> None:
    from pydicom.data import get_testdata_file

    from dicomtls.storage.part10 import Part10Error, read_dataset, read_meta
    for name in PYDICOM_FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = get_testdata_file(name)
        if path is None:
            continue
        try:
            meta = read_meta(path)
        except Part10Error:  # some of pydicom's files have no preamble
            continue
        flags = STRUCTURE_SYNTAXES.get(meta.transfer_syntax_uid, 1) | STRUCTURE_RECORD
        dataset = read_dataset(meta)
        write("structure", f"pydicom-{name}", header(flags) + dataset)
        write("structure", f"pydicom-{name}-chunked", header(flags | 8, 4, 6) + dataset)
    # By hand, Explicit VR LE: nested undefined-length sequences and items, encapsulated Pixel
    # Data, and a Pixel Data declaring 2 GiB that carries 16 bytes.
    uid = _explicit(0x00080016, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0") + \
        _explicit(0x00080018, b"UI", b"1.2.3.4.5\0")
    item_end = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    inner = _explicit(0x00081150, b"UI", b"1.2.3\0")
    nested = _explicit(0x00081140, b"SQ", b"", 0xFFFFFFFF) + \
        struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner + \
        _explicit(0x0040A730, b"SQ", struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner) + \
        item_end + seq_end
    write("structure", "nested-sequences", header(1 | STRUCTURE_RECORD) + uid + nested)
    fragments = struct.pack("<HHI", 0xFFFE, 0xE000, 0) + \
        struct.pack("<HHI", 0xFFFE, 0xE000, 8) + b"\xff\xd8\xff\xe0\x00\x10JF"
    write("structure", "encapsulated-pixel-data", header(1, 2, 1) + uid +
          _explicit(0x7FE00010, b"OB", fragments, 0xFFFFFFFF) + seq_end)
    write("structure", "pixel-data-declares-2gib", header(1) + uid +
          _explicit(0x7FE00010, b"OW", b"\0" * 16, 0x80000000))


def main() -> None:
    for target, make in (("ul", ul_corpus), ("dimse", dimse_corpus), ("tls_own", tls_corpus),
                         ("structure", structure_corpus)):
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            old.unlink()
        make()
        print(f"{directory.relative_to(HERE.parent.parent)}: {len(os.listdir(directory))} seeds")


if __name__ == "__main__":
    main()
