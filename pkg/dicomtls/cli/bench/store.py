"""`dicomtls bench store`: C-STORE throughput, `dicomtls store` -> `dicomtls serve`, verified.

The objects are Secondary Capture data sets made with pydicom in a temp dir, each with its own
random Pixel Data (so a data set delivered under another object's UID cannot pass the check).
Both ends are separate processes on 127.0.0.1; `serve` runs with its defaults (fsync before each
answer), as deployed. The rates use the SCU's own association-to-release time; the SCU's wall
clock (interpreter start-up and file scan included) is reported beside it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from ...storage.part10 import read_dataset, read_meta
from .common import BenchError, Child, cli_argv, emit, make_dev_pki

_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def make_objects(directory: Path, count: int, size: int) -> list[Path]:
    """``count`` Part 10 files, Explicit VR Little Endian, ``size`` bytes of OB Pixel Data."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    directory.mkdir(parents=True)
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.SOPClassUID = _SECONDARY_CAPTURE
        ds.SOPInstanceUID = generate_uid()
        ds.PatientName = "Bench^Store"
        ds.PatientID = "BENCH"
        ds.Modality = "OT"
        ds.PixelData = os.urandom(size + (size & 1))  # OB values have even length
        ds["PixelData"].VR = "OB"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = directory / f"obj{i:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def compare(sources: list[Path], out: Path) -> tuple[int, list[str]]:
    """(stored data sets byte-identical to their source, problems: one line per other object)."""
    stored = {}
    for path in sorted(out.glob("*.dcm")):
        try:
            stored[read_meta(path).sop_instance_uid] = path
        except Exception:  # noqa: BLE001 - whatever makes it unreadable, it is a failure
            stored[f"unreadable {path.name}"] = path
    identical, problems = 0, []
    for src in sources:
        meta = read_meta(src)
        got = stored.pop(meta.sop_instance_uid, None)
        if got is None:
            problems.append(f"{meta.sop_instance_uid}: not stored")
        elif read_dataset(read_meta(got)) != read_dataset(meta):
            problems.append(f"{meta.sop_instance_uid}: stored data set differs")
        else:
            identical += 1
    problems += [f"{uid}: stored, never sent" for uid in stored]
    return identical, problems


def run_store(work: Path, src: Path, out: Path, count: int, nbytes: int, use_tls: bool) -> dict:
    """One association; the SCU's JSON record plus ``wall_seconds`` (SCU spawn to exit)."""
    tls, client_tls, server_tls = [], [], []
    if use_tls:
        pki = make_dev_pki(work)
        tls = ["--tls", "--ca", pki.ca_cert]
        server_tls = ["--cert", pki.server_cert, "--key", pki.server_key]
        client_tls = ["--cert", pki.client_cert, "--key", pki.client_key]
    # Generous: even at 1 MB/s (and fsync per object) the association ends before this.
    timeout = 60.0 + nbytes / 1e6 + count * 0.1
    with Child(cli_argv("serve", 0, "--out", out, "--once", "--json", *tls, *server_tls),
               work, "serve") as server:
        port = server.wait_listening()
        started = time.perf_counter()
        with Child(cli_argv("store", "127.0.0.1", port, src, "--json", "--quiet", *tls,
                            *client_tls), work, "store") as client:
            client.check(timeout)
        wall = time.perf_counter() - started
        server.check(30.0)
        record = client.last_json()
        served = server.last_json()
    if (record.get("sent"), record.get("failed"), record.get("bytes")) != (count, 0, nbytes):
        raise BenchError(f"store sent {record.get('sent')}, failed {record.get('failed')}, "
                         f"{record.get('bytes')} bytes; expected {count}, 0, {nbytes}")
    if served.get("stored") != count:
        raise BenchError(f"serve stored {served.get('stored')} of {count} objects")
    if not record.get("seconds"):
        raise BenchError("store reported no association time")
    record["wall_seconds"] = wall
    return record


def cmd_bench_store(args) -> int:
    size = args.size_kib << 10
    report = {"benchmark": "store", "objects": args.objects, "size_kib": args.size_kib,
              "tls": args.tls, "bytes": None, "protocol": None, "cipher_suite": None,
              "seconds": None, "wall_seconds": None, "objects_per_s": None, "mb_per_s": None,
              "stored": 0, "identical": 0, "byte_identical": False, "mismatches": [],
              "ok": False, "error": None}
    with tempfile.TemporaryDirectory(prefix="dicomtls-bench-") as tmp:
        work = Path(tmp)
        try:
            sources = make_objects(work / "src", args.objects, size)
            nbytes = sum(read_meta(p).dataset_length for p in sources)
            record = run_store(work, work / "src", work / "out", args.objects, nbytes, args.tls)
        except BenchError as exc:
            report["error"] = str(exc)
        else:
            session = record.get("session") or {}
            identical, problems = compare(sources, work / "out")
            report.update(
                bytes=nbytes, protocol=session.get("protocol"),
                cipher_suite=session.get("cipher_suite"), seconds=round(record["seconds"], 4),
                wall_seconds=round(record["wall_seconds"], 4),
                objects_per_s=round(args.objects / record["seconds"], 1),
                mb_per_s=round(nbytes / 1e6 / record["seconds"], 1),
                stored=len(list((work / "out").glob("*.dcm"))), identical=identical,
                byte_identical=not problems, mismatches=problems[:20], ok=not problems)
            if problems:
                report["error"] = f"{len(problems)} of {args.objects} objects not byte-identical"
    emit(report, args.json, render)
    if report["error"]:
        sys.stderr.write(f"dicomtls bench store: {report['error']}\n")
    return 0 if report["ok"] else 1


def render(report: dict) -> str:
    transport = f"TLS ({report['protocol']} {report['cipher_suite']})" if report["tls"] \
        else "plain TCP"
    lines = [f"C-STORE {report['objects']} objects x {report['size_kib']} KiB, dicomtls store -> "
             f"dicomtls serve over 127.0.0.1, {transport}; MB = 10^6 bytes of data set"]
    if report["seconds"] is None:
        return "\n".join(lines + [f"FAILED: {report['error']}"]) + "\n"
    header = f"{'objects/s':>10} {'MB/s':>8} {'MB':>8} {'seconds':>8} {'wall s':>8}  byte-identical"
    lines += [header, "-" * len(header),
              f"{report['objects_per_s']:10.1f} {report['mb_per_s']:8.1f} "
              f"{report['bytes'] / 1e6:8.1f} {report['seconds']:8.2f} "
              f"{report['wall_seconds']:8.2f}  {report['identical']}/{report['objects']}"
              + ("" if report["byte_identical"] else " MISMATCH")]
    lines += [f"  {p}" for p in report["mismatches"]]
    return "\n".join(lines) + "\n"
