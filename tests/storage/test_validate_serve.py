"""Data set validation in the Storage SCP, end to end over 127.0.0.1 with real peers: a
malformed object is answered 0xC000 with the reason in the Error Comment, leaves neither a file
nor a ``.partial`` behind, and the association goes on; a data set naming another object than
its C-STORE-RQ gets 0xA900; ``serve --validate none`` stores what arrives, as before; objects
pynetdicom and DCMTK's storescu send are not refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pydicom
import pytest
from pydicom.data import get_testdata_file

from conftest import require_binary, require_module
from dicomtls.dimse.messages import C_STORE_RQ, C_STORE_RSP
from dicomtls.io.association_runner import associate
from dicomtls.storage import incoming as incoming_module
from dicomtls.storage.part10 import read_dataset, read_meta, write_part10
from dicomtls.storage.scp import StorageServer, StorageService, safe_filename
from dicomtls.storage.scu import store

from test_serve_lifecycle import start_serve  # this directory is on sys.path
from test_store import SECONDARY_CAPTURE, make_object
from test_structure import HEAD, NAME, PIXEL_DATA, ex

EXPLICIT = "1.2.840.10008.1.2.1"
CLI = [sys.executable, "-m", "dicomtls.cli.main"]
INSTANCE = "1.2.3.4.5"        # HEAD's SOP Instance UID
TRUNCATED_COMMENT = f"(7FE0,0010)@{len(HEAD + NAME)}: 2147483648 bytes declared, 16 sent"


def truncated_object(path) -> str:
    """The issue's case, by hand: Pixel Data declaring 2 GiB and carrying 16 bytes."""
    write_part10(path, SECONDARY_CAPTURE, INSTANCE, EXPLICIT,
                 HEAD + NAME + ex(PIXEL_DATA, b"OB", bytes(range(16)), length=2 << 30))
    return INSTANCE


def listing(out) -> list:
    return sorted(os.listdir(out))


@pytest.mark.parametrize("window", [8, 1], ids=["async-window", "one-at-a-time"])
def test_truncated_pixel_data_refused_and_the_association_goes_on(tmp_path, window):
    """With a window the refusal is answered in order with the objects around it (their fsync
    and rename run on the worker); without, each object is finished before the next is read."""
    src = tmp_path / "src"
    src.mkdir()
    before = make_object(src / "0-before.dcm", 200_000)
    truncated_object(src / "1-truncated.dcm")
    after = make_object(src / "2-after.dcm", 200_000)
    out = tmp_path / "out"
    out.mkdir()
    with StorageServer(out, timeout=20) as server:
        summary = store("127.0.0.1", server.port, [src], timeout=20, async_window=window)
        server.close()
    first, refused, last = summary.results
    assert first.ok and last.ok
    assert refused.error == f"C-STORE status 0xC000 (Error: Cannot understand): " \
                            f"{TRUNCATED_COMMENT}"
    assert listing(out) == sorted([safe_filename(before), safe_filename(after)])  # no .partial
    (result,) = server.results
    assert (result.outcome, result.stored, result.failed) == ("released", 2, 1)
    for uid, path in ((before, "0-before.dcm"), (after, "2-after.dcm")):
        assert read_dataset(read_meta(out / safe_filename(uid))) == \
            read_dataset(read_meta(src / path))


def test_malformed_start_of_a_large_object_refused(tmp_path, monkeypatch):
    """Tags out of order in the first bytes of a 12 MiB object: refused as soon as the header
    arrives (the rest is received but never written: not one byte reaches the file), answered
    once the data set has ended."""
    written = []
    real_writev = os.writev

    def counting_writev(fd, buffers):   # the real call, counted
        n = real_writev(fd, buffers)
        written.append(n)
        return n

    monkeypatch.setattr(incoming_module, "_os_writev", counting_writev)
    bad = tmp_path / "bad.dcm"
    uid = make_object(bad, 12 << 20)
    meta = read_meta(bad)
    data = bytearray(read_dataset(meta))
    ds = pydicom.dcmread(bad)
    # Swap two short elements' order: PatientName (0010,0010) after Modality (0008,0060).
    name_at = data.index(b"\x10\x00\x10\x00PN")
    modality_at = data.index(b"\x08\x00\x60\x00CS")
    assert modality_at < name_at and ds.Modality == "OT"
    modality = bytes(data[modality_at:modality_at + 10])
    name_length = 8 + int.from_bytes(data[name_at + 6:name_at + 8], "little")
    name = bytes(data[name_at:name_at + name_length])
    data[modality_at:name_at + name_length] = name + bytes(
        data[modality_at + 10:name_at]) + modality
    write_part10(bad, meta.sop_class_uid, uid, meta.transfer_syntax_uid, bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    with StorageServer(out, timeout=20) as server:
        summary = store("127.0.0.1", server.port, [bad], timeout=20)
        server.close()
    (r,) = summary.results
    assert r.status == 0xC000 and "tags not ascending" in r.error
    assert listing(out) == []
    assert server.results[0].bytes_received == meta.dataset_length
    assert written == []


def test_raw_requests_get_the_status_comment_and_offending_element(tmp_path):
    """C-STORE-RQs sent one by one on one association: a data set naming another SOP Instance
    than its request gets 0xA900, one cut short 0xC000, each with Error Comment and Offending
    Element; nothing of theirs is stored, and the well-formed one after them is."""
    out = tmp_path / "out"
    out.mkdir()
    good = HEAD + NAME + ex(PIXEL_DATA, b"OB", bytes(16))
    cut = HEAD + NAME + ex(PIXEL_DATA, b"OB", bytes(16), length=2 << 30)
    with StorageServer(out, timeout=20) as server:
        assoc = associate("127.0.0.1", server.port, contexts=[(SECONDARY_CAPTURE, [EXPLICIT])],
                          timeout=20)
        answers = []
        try:
            ctx = assoc.context_for(SECONDARY_CAPTURE)
            for named, data in (("9.9.9.9", good), (INSTANCE, cut), (INSTANCE, good)):
                msg_id = assoc.next_message_id()
                assoc.send_message(ctx, C_STORE_RQ(
                    message_id=msg_id, affected_sop_class_uid=SECONDARY_CAPTURE,
                    affected_sop_instance_uid=named, priority=0), data)
                rsp = assoc.wait_response(msg_id, C_STORE_RSP).message
                answers.append((rsp.status, rsp.error_comment, rsp.offending_element or None))
        finally:
            assoc.release()
        server.close()
    assert answers == [
        (0xA900, "data set's SOP Instance UID is not the request's", (0x00080018,)),
        (0xC000, TRUNCATED_COMMENT, (PIXEL_DATA,)),
        (0x0000, None, None)]
    assert listing(out) == [safe_filename(INSTANCE)]


def test_validate_must_be_known(tmp_path):
    with pytest.raises(ValueError, match="structure, none"):
        StorageService(tmp_path, validate="strict")
    with pytest.raises(ValueError, match="structure, none"):
        StorageServer(tmp_path, validate="")


def _serve_once(out, *extra):
    proc, port, _line = start_serve(out, "--once", *extra)
    return proc, port


def _store_through_serve_once(out, src, *extra):
    """`dicomtls store` of ``src`` to `serve --once` with ``extra`` options: (the store
    summary, serve's JSON record)."""
    serve, port = _serve_once(out, *extra)
    try:
        summary = store("127.0.0.1", port, [src], timeout=20)
        assert serve.wait(20) == 0
        return summary, json.loads(serve.stdout.read())
    finally:
        serve.kill()


@pytest.mark.parametrize("validate", [None, "structure", "none"])
def test_cli_serve_validate(tmp_path, validate):
    """`serve` validates by default; `--validate none` publishes the truncated object as
    before (what the sender is told is then a lie: the 2 GiB never came)."""
    src = tmp_path / "truncated.dcm"
    truncated_object(src)
    out = tmp_path / "out"
    summary, served = _store_through_serve_once(
        out, src, *(["--validate", validate] if validate else []))
    (r,) = summary.results
    if validate == "none":
        assert r.ok and served["stored"] == 1
        stored = out / safe_filename(INSTANCE)
        assert listing(out) == [stored.name]
        assert read_dataset(read_meta(stored)) == read_dataset(read_meta(src))
    else:
        assert r.status == 0xC000 and TRUNCATED_COMMENT in r.error
        assert (served["stored"], served["failed"]) == (0, 1)
        assert listing(out) == []


def test_cli_serve_ignore_answers_but_writes_nothing(tmp_path):
    """`serve --ignore` (storescp's option): a well-formed 6 MiB object (past the writer
    threshold) and a small one are answered Success, the truncated one is still refused by
    validation; nothing at all is written to the output directory."""
    src = tmp_path / "src"
    src.mkdir()
    make_object(src / "big.dcm", 6 << 20)
    make_object(src / "small.dcm", 20_000)
    truncated_object(src / "truncated.dcm")
    out = tmp_path / "out"
    summary, served = _store_through_serve_once(out, src, "--ignore")
    by_name = {os.path.basename(r.path): r for r in summary.results}
    assert by_name["big.dcm"].ok and by_name["small.dcm"].ok
    assert by_name["truncated.dcm"].status == 0xC000
    assert (served["stored"], served["failed"]) == (2, 1)
    assert served["bytes_received"] >= 6 << 20
    assert os.listdir(out) == []


# ---- other senders: no false positives -------------------------------------------------------
PEER_FILES = ["CT_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "JPEG2000.dcm",
              "SC_rgb_rle.dcm"]


def test_pynetdicom_sender_is_not_refused(tmp_path):
    pynetdicom = require_module("pynetdicom")
    out = tmp_path / "out"
    out.mkdir()
    datasets = [pydicom.dcmread(get_testdata_file(n)) for n in PEER_FILES]
    ae = pynetdicom.AE(ae_title="PYNETDICOM")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for ds in datasets:   # one context per object: each goes in its own transfer syntax
        ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    with StorageServer(out, timeout=20) as server:
        assoc = ae.associate("127.0.0.1", server.port, ae_title="ANY-SCP")
        assert assoc.is_established
        try:
            statuses = [assoc.send_c_store(ds).Status for ds in datasets]
        finally:
            assoc.release()
        server.close()
    assert statuses == [0] * len(PEER_FILES)
    assert listing(out) == sorted(safe_filename(ds.SOPInstanceUID) for ds in datasets)


@pytest.mark.parametrize("option, syntax", [("-xd", "1.2.840.10008.1.2.1.99"),
                                            ("-xb", "1.2.840.10008.1.2.2")],
                         ids=["deflated", "big-endian"])
def test_dcmtk_storescu_sender_is_not_refused(tmp_path, option, syntax):
    """storescu re-encodes the objects in the syntax it proposes first: deflated (its own
    zlib stream) and big endian, two encodings our own SCU never produces."""
    storescu = require_binary("/usr/bin/storescu")
    out = tmp_path / "out"
    out.mkdir()
    files = [get_testdata_file(n) for n in ("CT_small.dcm", "MR_small_implicit.dcm",
                                             "rtplan.dcm")]
    with StorageServer(out, timeout=20) as server:
        proc = subprocess.run([storescu, option, "-aec", "ANY-SCP", "127.0.0.1",
                               str(server.port), *files],
                              capture_output=True, text=True, timeout=60)
        server.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = server.results
    assert (result.stored, result.failed) == (len(files), 0)
    stored = [read_meta(out / name) for name in listing(out)]
    assert len(stored) == len(files)
    assert syntax in {m.transfer_syntax_uid for m in stored}
