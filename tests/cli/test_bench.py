"""`dicomtls bench tls|store` as a user runs it: tiny sizes, table and JSON, exit codes.

No assertion on how fast anything is (shared machines are noisy), only that every row ran and
reports positive numbers, and that store's byte-identical check is made and can fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dicomtls.cli.bench import store as bench_store, tls as bench_tls
from dicomtls.cli.bench.common import BenchError
from dicomtls.cli.main import main
from dicomtls.storage.part10 import read_meta

CLI = [sys.executable, "-m", "dicomtls.cli.main"]
DEFAULT_LABELS = [label for label, _, _ in bench_tls.DEFAULT_ROWS]


def run(*args, timeout=240):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tls_json():
    proc = run("bench", "tls", "--mib", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_tls_json_default_rows(tls_json):
    assert tls_json["benchmark"] == "tls" and tls_json["bytes"] == 2 << 20 and tls_json["ok"]
    assert [r["label"] for r in tls_json["rows"]] == DEFAULT_LABELS
    engines = {}
    for row in tls_json["rows"]:
        assert row["status"] == "ok", row
        assert row["mb_per_s"] > 0
        assert row["protocol"] == "TLSv" + row["label"].split()[1]
        engines[row["suite"]] = row["engine"]
        if shutil.which("openssl"):
            assert row["openssl_speed_mb_per_s"] > 0 and row["ratio"] > 0, row
    # Under --engine auto, libssl takes what it has and the own engine the rest.
    assert engines["TLS_AES_256_GCM_SHA384"] == "libssl"
    assert engines["TLS_RSA_WITH_3DES_EDE_CBC_SHA"] == "dicomtls"
    assert engines["TLS_RSA_WITH_DES_CBC_SHA"] == "dicomtls"


def test_tls_table_chosen_suite_and_forced_engine():
    proc = run("bench", "tls", "--mib", "1", "--engine", "dicomtls", "--cipher", "AES128-SHA")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "speed MB/s" in lines[1]
    (row,) = [ln for ln in lines if ln.startswith("TLS 1.2 AES128-SHA")]
    fields = row.split()
    assert fields[3:5] == ["TLSv1.2", "dicomtls"] and float(fields[5]) > 0


@pytest.mark.parametrize("args", [
    ["tls", "--mib", "0"],
    ["tls", "--repeat", "x"],
    ["tls", "--cipher", "NO-SUCH-SUITE"],
    ["tls", "--engine", "libssl", "--cipher", "TLS_RSA_WITH_DES_CBC_SHA"],
    ["tls", "--engine", "gnutls"],
    ["store", "--objects", "0"],
    ["store", "--size-kib", "-1"],
    [],
])
def test_usage_errors_exit_2(args):
    proc = run("bench", *args, timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "usage:" in proc.stderr and proc.stdout == ""


def test_tls_failed_row_exits_1(monkeypatch, capsys):
    real = bench_tls.transfer

    def flaky(pkis, work, nbytes, version, suite, engine):
        if suite.name == "TLS_RSA_WITH_DES_CBC_SHA":
            raise BenchError("tls-client exited 1: handshake failed")
        return real(pkis, work, nbytes, version, suite, engine)

    monkeypatch.setattr(bench_tls, "transfer", flaky)
    rc = main(["bench", "tls", "--mib", "1", "--json", "--cipher", "DES-CBC-SHA", "AES128-SHA"])
    out, err = capsys.readouterr()
    assert rc == 1
    report = json.loads(out)
    assert not report["ok"]
    assert [r["status"] for r in report["rows"]] == ["failed", "ok"]
    assert "handshake failed" in report["rows"][0]["error"] and "DES-CBC-SHA" in err


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_store_json(tls):
    proc = run("bench", "store", "--objects", "5", "--size-kib", "64", "--json",
               *(["--tls"] if tls else []))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and report["byte_identical"] and report["error"] is None
    assert (report["objects"], report["stored"], report["identical"]) == (5, 5, 5)
    assert report["bytes"] > 5 * 64 * 1024
    assert report["objects_per_s"] > 0 and report["mb_per_s"] > 0 and report["seconds"] > 0
    assert report["tls"] is tls
    if tls:
        assert report["protocol"] and report["cipher_suite"]
    else:
        assert report["protocol"] is None


def test_store_table():
    proc = run("bench", "store", "--objects", "3", "--size-kib", "1", "--tls")
    assert proc.returncode == 0, proc.stderr
    assert "byte-identical" in proc.stdout and "3/3" in proc.stdout
    assert "TLS (TLSv1." in proc.stdout


def test_store_mismatch_exits_1(monkeypatch, capsys):
    real = bench_store.run_store

    def corrupting(work, src, out, count, nbytes, use_tls):
        record = real(work, src, out, count, nbytes, use_tls)
        victim = sorted(Path(out).glob("*.dcm"))[0]
        data = bytearray(victim.read_bytes())
        data[-1] ^= 0xFF  # the last Pixel Data byte: still a readable file, another data set
        victim.write_bytes(bytes(data))
        return record

    monkeypatch.setattr(bench_store, "run_store", corrupting)
    rc = main(["bench", "store", "--objects", "2", "--size-kib", "4", "--json"])
    out, err = capsys.readouterr()
    assert rc == 1
    report = json.loads(out)
    assert not report["ok"] and not report["byte_identical"]
    assert report["identical"] == 1 and report["stored"] == 2
    assert "differs" in report["mismatches"][0] and "not byte-identical" in err


def test_compare_reports_missing_and_extra(tmp_path):
    sources = bench_store.make_objects(tmp_path / "src", 2, 32)
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(sources[0], out / "a.dcm")
    extra = bench_store.make_objects(tmp_path / "other", 1, 32)[0]
    shutil.copy(extra, out / "b.dcm")
    identical, problems = bench_store.compare(sources, out)
    assert identical == 1
    assert problems == [f"{read_meta(sources[1]).sop_instance_uid}: not stored",
                        f"{read_meta(extra).sop_instance_uid}: stored, never sent"]


def test_table_runs_bench_all_with_the_arguments_after_table():
    """`dicomtls bench table ARGS` is the source checkout's benchmarks/bench_all.py with ARGS:
    here the association-rate rows only, 3 associations each, for all three stacks (DCMTK and
    pynetdicom are installed by .ci/setup; bench_all fails, not skips, without them)."""
    from dicomtls.cli.bench.command import bench_all_script
    assert bench_all_script() == Path(__file__).resolve().parents[2] / "benchmarks" / "bench_all.py"
    proc = run("bench", "table", "--quick", "--only", "rate", "--rate", "3", timeout=300)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| rate 3 assoc")]
    assert [row.split("|")[2].strip() for row in rows] == ["plain", "TLS 1.2", "TLS 1.3"]
    for row in rows:   # a number in the dicomtls, DCMTK and pynetdicom columns
        assert all(float(cell.split()[0]) > 0 for cell in row.split("|")[4:7]), row


def test_table_help_of_bench_all_after_a_double_dash():
    proc = run("bench", "table", "--", "--help", timeout=60)
    assert proc.returncode == 0 and "--bulk-count" in proc.stdout, proc.stderr


def test_unknown_arguments_are_still_usage_errors():
    proc = run("echo", "127.0.0.1", "11112", "--no-such-option", timeout=60)
    assert proc.returncode == 2 and "unrecognized arguments: --no-such-option" in proc.stderr
