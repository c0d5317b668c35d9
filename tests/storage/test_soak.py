"""Soak: 64 TLS associations at once storing 50 objects each into `dicomtls serve --tls
--workers 2`, while 8 of the clients (separate `dicomtls store` processes) are killed at
random moments and the server is stopped (SIGTERM, short drain) and started again on the same
port part-way. Clients whose association failed retry what was not answered. At the end every
object ever answered Success is on disk, byte-identical to its source, and no `.partial` file
is left. Bounded: every wait has a deadline; the objects are small (8 KiB of pixel data) so
the run is about the server's bookkeeping, not the bytes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time

import dicomtls
from conftest import free_port
from dicomtls.storage.part10 import read_dataset, read_meta
from dicomtls.storage.scu import store

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
ASSOCIATIONS, OBJECTS, KILLED = 64, 50, 8
DEADLINE = 240.0   # s for the whole soak


def _write_objects(root, count, tag):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    root.mkdir(parents=True)
    rng = random.Random(tag)
    for i in range(count):
        uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        meta.MediaStorageSOPInstanceUID = uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, uid
        ds.PatientID, ds.Modality = f"SOAK{tag}", "OT"
        ds.Rows = ds.Columns = 64
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = rng.randbytes(64 * 64 * 2)
        ds.save_as(root / f"o{i:03d}.dcm", enforce_file_format=True)


def _tls(pki, role):
    cert, key = (pki.server_cert, pki.server_key) if role == "server" else \
        (pki.client_cert, pki.client_key)
    return ["--tls", "--cert", str(cert), "--key", str(key), "--ca", str(pki.ca_cert)]


class Server:
    def __init__(self, out, port, pki):
        self.args = CLI + ["serve", str(port), "--out", str(out), "--workers", "2",
                           "--drain-timeout", "0", *_tls(pki, "server")]
        self.proc = None

    def start(self):
        deadline = time.monotonic() + 20
        while True:   # the port may still be held by the stopping one for a moment
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
            line = self.proc.stderr.readline()
            if "listening" in line:
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()
                return
            self.proc.wait(timeout=10)
            assert time.monotonic() < deadline, line
            time.sleep(0.2)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0


def test_soak_kills_and_a_restart_lose_nothing_answered(tmp_path, pki):
    sources = tmp_path / "sources"
    for c in range(ASSOCIATIONS):
        _write_objects(sources / f"c{c:02d}", OBJECTS, c)
    out = tmp_path / "out"
    port = free_port()
    server = Server(out, port, pki)
    server.start()
    config = dicomtls.TLSConfig.from_profile(certificate=str(pki.client_cert),
                                             private_key=str(pki.client_key),
                                             ca_file=str(pki.ca_cert))
    answered: dict = {}          # source path -> SOP Instance UID, answered Success
    retries: list = []           # associations that failed part-way (and were retried)
    lock = threading.Lock()
    end = time.monotonic() + DEADLINE

    def thread_client(directory):
        pending = sorted(str(p) for p in directory.iterdir())
        while pending and time.monotonic() < end:
            try:
                summary = store("127.0.0.1", port, pending, tls_config=config, timeout=20)
                results = summary.results
                if summary.failed:
                    retries.append(directory)
            except (dicomtls.DicomTLSError, OSError) as exc:
                results = getattr(getattr(exc, "summary", None), "results", [])
                retries.append(directory)
                time.sleep(0.2)   # the server is restarting: try again
            with lock:
                for r in results:
                    if r.ok:
                        answered[r.path] = r.sop_instance_uid
            pending = [p for p in pending if p not in answered]

    def process_client(directory):
        """A `dicomtls store` process killed at a random moment, mid-association: whatever it
        was answered is unknown to us (it reports at the end) and is not asserted; the
        server must clean up after it and go on."""
        proc = subprocess.Popen(CLI + ["store", "127.0.0.1", str(port), str(directory),
                                       "--quiet", *_tls(pki, "client")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.5, 3.0))
        proc.kill()
        proc.wait(timeout=30)

    dirs = sorted(sources.iterdir())
    threads = [threading.Thread(target=process_client if i < KILLED else thread_client,
                                args=(d,)) for i, d in enumerate(dirs)]
    for t in threads:
        t.start()
    halfway = time.monotonic() + 60
    while len(answered) < len(dirs[KILLED:]) * OBJECTS // 3 and time.monotonic() < halfway:
        time.sleep(0.01)
    at_restart = len(answered)
    server.stop()      # part-way: no drain, abort what is in flight
    server.start()
    for t in threads:
        t.join(timeout=max(1.0, end - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "clients still running at the deadline"
    server.stop()

    # the restart cut associations off part-way, and their clients came back
    assert retries, "the restart interrupted nothing"
    assert at_restart < len(answered)
    # every thread client finished all its objects (retrying after the restart)
    kept = {str(p) for d in dirs[KILLED:] for p in d.iterdir()}
    assert kept <= set(answered), f"{len(kept - set(answered))} objects never answered"
    names = {p.name for p in out.iterdir()}
    assert not [n for n in names if n.endswith(".partial")], "a .partial was left"
    for path, uid in answered.items():
        stored = out / f"{uid}.dcm"
        assert stored.exists(), f"answered Success but missing: {uid}"
        assert read_dataset(read_meta(str(stored))) == read_dataset(read_meta(path)), uid
    print(f"soak: {len(answered)} objects answered and verified, "
          f"{len(names)} files on disk, {ASSOCIATIONS} associations, {KILLED} killed clients, "
          f"one restart at {at_restart} answered, {len(retries)} associations retried")
