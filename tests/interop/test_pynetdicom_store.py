"""C-STORE against pynetdicom, both roles, plain TCP and TLS with mutual authentication.

* our ``store()`` (SCU) -> a pynetdicom Storage SCP (``AE.start_server`` with an
  ``EVT_C_STORE`` handler keeping the raw ``event.request.DataSet`` bytes): what pynetdicom
  received must be byte-identical to the source file's data set (we send it as stored), or to
  its Implicit <-> Explicit VR conversion when only the other syntax was accepted.
* pynetdicom ``send_c_store`` (SCU) -> our ``StorageServer``: pynetdicom re-encodes from a
  Dataset, so the stored files are compared decoded (pydicom), ignoring Data Set Trailing Padding.

Several pydicom test files are used, compressed (JPEG 2000, JPEG Extended, RLE) as well as
uncompressed (Explicit and Implicit VR Little Endian). Over TLS the version and suite pynetdicom's
``ssl`` socket reports must be what our SessionInfo says, TLS 1.2 and 1.3.
"""

from __future__ import annotations

import io
import shutil
import threading

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomtls.storage.part10 import CONVERTIBLE, convert_dataset, read_dataset, read_meta
from dicomtls.storage.scp import StorageServer, safe_filename
from dicomtls.storage.scu import store

from pynetdicom_peer import (TIMEOUT, PynetdicomServer, assert_same_session, evt,  # noqa: E402
                             make_ae, our_config, py_context, tls_seen_by_pynetdicom)

pytestmark = pytest.mark.interop

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"

# Distinct SOP instances; compressed: JPEG 2000 (.4.91), JPEG Extended (.4.51), RLE (.5).
FILES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm", "SC_rgb_rle.dcm",
         "JPGExtended.dcm"]
COMPRESSED = {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.5"}


def _metas(names=FILES):
    return [read_meta(get_testdata_file(n)) for n in names]


def test_the_file_set_covers_compressed_and_uncompressed_syntaxes():
    syntaxes = {m.transfer_syntax_uid for m in _metas()}
    assert COMPRESSED <= syntaxes and {EXPLICIT_LE, IMPLICIT_LE} <= syntaxes


# ---- a pynetdicom Storage SCP ------------------------------------------------------------------
class _PynetdicomStoreSCP(PynetdicomServer):
    """pynetdicom Storage SCP on 127.0.0.1 (ephemeral port) keeping every received data set raw.

    ``supported``: {SOP class: [transfer syntaxes]}; by default each file's SOP class with its
    stored syntax and both uncompressed little-endian ones."""

    def __init__(self, supported: dict, ssl_context=None):
        self.ae = make_ae("PYNETDICOM")
        for sop_class, syntaxes in supported.items():
            self.ae.add_supported_context(sop_class, list(syntaxes))
        self.received: list[dict] = []
        self._lock = threading.Lock()
        self.ssl_context = ssl_context
        self.server = None

    def _on_store(self, event):
        raw = event.request.DataSet
        data = raw.getvalue() if isinstance(raw, io.BytesIO) else bytes(raw)
        with self._lock:
            self.received.append({
                "sop_class": event.request.AffectedSOPClassUID,
                "sop_instance": event.request.AffectedSOPInstanceUID,
                "transfer_syntax": event.context.transfer_syntax,
                "calling_ae": event.assoc.requestor.ae_title,
                "data": data, **tls_seen_by_pynetdicom(event.assoc)})
        return 0x0000

    def handlers(self) -> list:
        return [(evt.EVT_C_STORE, self._on_store)]


def _supported_for(metas) -> dict:
    out: dict = {}
    for m in metas:
        syntaxes = out.setdefault(m.sop_class_uid, [EXPLICIT_LE, IMPLICIT_LE])
        if m.transfer_syntax_uid not in syntaxes:
            syntaxes.append(m.transfer_syntax_uid)
    return out


def _copy_files(tmp_path, names=FILES):
    src = tmp_path / "src"
    src.mkdir()
    for n in names:
        shutil.copy(get_testdata_file(n), src / n)
    return src


def _check_received_as_stored(scp, metas):
    by_uid = {r["sop_instance"]: r for r in scp.received}
    assert len(scp.received) == len(metas)
    for m in metas:
        got = by_uid[m.sop_instance_uid]
        assert got["sop_class"] == m.sop_class_uid
        assert got["transfer_syntax"] == m.transfer_syntax_uid, m.path
        assert got["data"] == read_dataset(m), m.path  # byte-identical: sent as stored
        assert got["calling_ae"] == "OURSCU"


# ---- our store() -> pynetdicom SCP -------------------------------------------------------------
def test_our_store_to_pynetdicom_plain(tmp_path):
    src = _copy_files(tmp_path)
    metas = _metas()
    with _PynetdicomStoreSCP(_supported_for(metas)) as scp:
        summary = store("127.0.0.1", scp.port, [src], called_ae="PYNETDICOM",
                        calling_ae="OURSCU", timeout=TIMEOUT)
    assert (summary.sent, summary.failed) == (len(FILES), 0), summary.to_dict()
    assert summary.session is None
    assert summary.bytes == sum(m.dataset_length for m in metas)
    assert all(r["version"] is None for r in scp.received)
    _check_received_as_stored(scp, metas)


@pytest.mark.parametrize("version", [None, "1.2", "1.3"], ids=["default", "tls1.2", "tls1.3"])
def test_our_store_to_pynetdicom_tls(tmp_path, pki, version):
    src = _copy_files(tmp_path)
    metas = _metas()
    with _PynetdicomStoreSCP(_supported_for(metas),
                             py_context(pki, "server", version)) as scp:
        summary = store("127.0.0.1", scp.port, [src], tls_config=our_config(pki, "client"),
                        called_ae="PYNETDICOM", calling_ae="OURSCU", timeout=TIMEOUT)
    assert (summary.sent, summary.failed) == (len(FILES), 0), summary.to_dict()
    _check_received_as_stored(scp, metas)
    # One association: every C-STORE saw the same TLS session, the one our SessionInfo names.
    seen = {(r["version"], r["cipher"]) for r in scp.received}
    assert len(seen) == 1
    assert_same_session(summary.session, scp.received[0], version, our_name="dicomtls client")


@pytest.mark.parametrize("accepted", [EXPLICIT_LE, IMPLICIT_LE])
def test_our_store_converts_when_pynetdicom_accepts_only_the_other_uncompressed_syntax(
        tmp_path, accepted):
    """pynetdicom accepts only one uncompressed syntax: a file stored in the other one arrives
    converted (our Implicit <-> Explicit VR LE conversion), still identical element by element;
    a compressed file it cannot take fails alone with a clear error, the rest go through."""
    names = ["CT_small.dcm", "rtplan.dcm", "JPEG2000.dcm"]
    src = _copy_files(tmp_path, names)
    metas = _metas(names)
    supported = {m.sop_class_uid: [accepted] for m in metas}
    with _PynetdicomStoreSCP(supported) as scp:
        summary = store("127.0.0.1", scp.port, [src], called_ae="PYNETDICOM",
                        calling_ae="OURSCU", timeout=TIMEOUT)
    by_name = {r.path.rsplit("/", 1)[-1]: r for r in summary.results}
    assert not by_name["JPEG2000.dcm"].ok and by_name["JPEG2000.dcm"].status is None
    # Its SOP class (Secondary Capture) was proposed with JPEG 2000 only, and refused.
    assert "accepted no presentation context for SOP class 1.2.840.10008.5.1.4.1.1.7" in \
        by_name["JPEG2000.dcm"].error
    assert by_name["CT_small.dcm"].ok and by_name["rtplan.dcm"].ok, summary.to_dict()
    by_uid = {r["sop_instance"]: r for r in scp.received}
    assert len(scp.received) == 2
    for m in metas:
        if m.transfer_syntax_uid not in CONVERTIBLE:
            continue
        got = by_uid[m.sop_instance_uid]
        assert got["transfer_syntax"] == accepted
        expected = read_dataset(m) if m.transfer_syntax_uid == accepted else \
            convert_dataset(read_dataset(m), m.transfer_syntax_uid, accepted)
        assert got["data"] == expected, m.path
        # ... and pydicom reads the same elements from both.
        b = pydicom.dcmread(m.path)
        a_vals = {e.tag: e.value for e in pydicom.dcmread(
            io.BytesIO(_part10(got["data"], m, accepted))) if e.tag != 0xFFFCFFFC}
        b_vals = {e.tag: e.value for e in b if e.tag != 0xFFFCFFFC}
        assert a_vals == b_vals, m.path


def _part10(data: bytes, meta, syntax: str) -> bytes:
    from dicomtls.storage.part10 import file_meta_bytes
    return file_meta_bytes(meta.sop_class_uid, meta.sop_instance_uid, syntax) + data


# ---- pynetdicom SCU -> our StorageServer -------------------------------------------------------
def _request_stored_syntaxes(ae, metas):
    """One context per (SOP class, stored syntax): our SCP accepts a context's first syntax it
    supports, so a single context listing several would be accepted as uncompressed."""
    done = set()
    for m in metas:
        if (m.sop_class_uid, m.transfer_syntax_uid) not in done:
            done.add((m.sop_class_uid, m.transfer_syntax_uid))
            ae.add_requested_context(m.sop_class_uid, m.transfer_syntax_uid)


def _pynetdicom_store(port, names, *, ssl_context=None):
    """pynetdicom associates proposing each file's class with its stored syntax, sends every
    file (by path, as pynetdicom users do), releases: (statuses, TLS seen)."""
    metas = _metas(names)
    ae = make_ae("PYSCU")
    _request_stored_syntaxes(ae, metas)
    tls_args = (ssl_context, "127.0.0.1") if ssl_context is not None else None
    try:
        assoc = ae.associate("127.0.0.1", port, ae_title="OURSCP", tls_args=tls_args)
        assert assoc.is_established
        try:
            seen = tls_seen_by_pynetdicom(assoc)
            statuses = [assoc.send_c_store(pydicom.dcmread(get_testdata_file(n)))
                        for n in names]
            assoc.release()
        finally:
            if assoc.is_established:
                assoc.abort()
        assert assoc.is_released
        return statuses, seen
    finally:
        ae.shutdown()


def _dataset_uid(name) -> str:
    """The data set's SOP Instance UID, which pynetdicom sends as Affected SOP Instance UID
    (rtplan.dcm's file meta names another one)."""
    return pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True).SOPInstanceUID


def _check_stored_decoded(out, names):
    assert len(list(out.iterdir())) == len(names)
    for name in names:
        src = read_meta(get_testdata_file(name))
        uid = _dataset_uid(name)
        stored = out / safe_filename(uid)
        got = read_meta(stored)
        assert got.transfer_syntax_uid == src.transfer_syntax_uid, name
        a, b = pydicom.dcmread(stored), pydicom.dcmread(src.path)
        for ds in (a, b):
            if 0xFFFCFFFC in ds:
                del ds[0xFFFCFFFC]
        assert a == b, name
        assert a.file_meta.SourceApplicationEntityTitle == "PYSCU"
        assert a.file_meta.MediaStorageSOPInstanceUID == uid
        assert a.file_meta.MediaStorageSOPClassUID == src.sop_class_uid


def test_pynetdicom_store_to_our_scp_plain(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with StorageServer(out, ae_title="OURSCP", timeout=TIMEOUT) as server:
        statuses, seen = _pynetdicom_store(server.port, FILES)
        server.close()
    assert [s.Status for s in statuses] == [0x0000] * len(FILES)
    assert seen["version"] is None
    (result,) = server.results
    assert (result.outcome, result.stored, result.failed, result.calling_ae) == \
        ("released", len(FILES), 0, "PYSCU")
    assert result.session is None
    _check_stored_decoded(out, FILES)


@pytest.mark.parametrize("version", [None, "1.2", "1.3"], ids=["default", "tls1.2", "tls1.3"])
def test_pynetdicom_store_to_our_scp_tls(tmp_path, pki, version):
    out = tmp_path / "out"
    out.mkdir()
    with StorageServer(out, tls_config=our_config(pki, "server"), ae_title="OURSCP",
                       timeout=TIMEOUT) as server:
        statuses, seen = _pynetdicom_store(server.port, FILES,
                                           ssl_context=py_context(pki, "client", version))
        server.close()
    assert [s.Status for s in statuses] == [0x0000] * len(FILES)
    (result,) = server.results
    assert (result.outcome, result.stored, result.failed) == ("released", len(FILES), 0)
    assert_same_session(result.session, seen, version, our_name="localhost")
    _check_stored_decoded(out, FILES)


def test_pynetdicom_store_by_path_to_our_scp_keeps_bytes(tmp_path):
    """pynetdicom 2.x sends a file given by path without decoding it: then even the bytes we
    stored are the source's."""
    out = tmp_path / "out"
    out.mkdir()
    names = ["JPEG2000.dcm", "rtplan.dcm", "CT_small.dcm"]
    metas = _metas(names)
    ae = make_ae("PYSCU")
    _request_stored_syntaxes(ae, metas)
    with StorageServer(out, ae_title="OURSCP", timeout=TIMEOUT) as server:
        try:
            assoc = ae.associate("127.0.0.1", server.port, ae_title="OURSCP")
            assert assoc.is_established
            statuses = [assoc.send_c_store(get_testdata_file(n)) for n in names]
            assoc.release()
        finally:
            ae.shutdown()
        server.close()
    assert [s.Status for s in statuses] == [0x0000] * len(names)
    for name, m in zip(names, metas):
        got = read_meta(out / safe_filename(_dataset_uid(name)))
        assert got.transfer_syntax_uid == m.transfer_syntax_uid
        assert read_dataset(got) == read_dataset(m), m.path
