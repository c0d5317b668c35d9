"""Run every fuzz target for a bounded time, and replay the crash reproducers.

Each target runs in a subprocess (its atheris instrumentation and its tweaks, such as the lowered
``PREALLOCATE_LIMIT`` of fuzz_ul.py, stay out of this process) for ``FUZZ_SECONDS`` seconds
(``DICOMTLS_FUZZ_SECONDS``, default 15) after replaying its seed corpus; libFuzzer stops it by
itself (-max_total_time) and the subprocess is killed if it has not ended 90 s later. New inputs
go to a temporary directory, never into the committed corpus. The test fails on any finding: an
uncaught exception (the target lets everything but dicomtls' typed errors through), a timeout
(-timeout: one input running for 10 s), an out-of-memory (-rss_limit_mb) or a target that ran
too few inputs to count. Missing atheris skips these tests locally and fails them under CI=true
(or DICOMTLS_REQUIRE_PEERS=1), like any other missing peer.

``crashes/<target>/`` holds minimal reproducers of findings; each one must run clean once its
bug is fixed (it then stays as a regression input).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_module

require_module("atheris")

HERE = Path(__file__).resolve().parent
TARGETS = ("ul", "dimse", "tls_own", "structure")
FUZZ_SECONDS = int(os.environ.get("DICOMTLS_FUZZ_SECONDS", "15"))
GRACE_SECONDS = 90     # interpreter start, the dev PKI, the seed replay, the final report
MIN_RUNS = 200         # fewer in FUZZ_SECONDS: the target is broken or hopelessly slow
CRASHES = sorted((HERE / "crashes").glob("*/*"))


def run_target(target: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("DICOMTLS_FUZZ_PEAK_MB", None)  # tracemalloc mode is for runs by hand
    try:
        return subprocess.run([sys.executable, str(HERE / f"fuzz_{target}.py"), *args],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=HERE)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-4000:]  # bytes, whatever text= says
        pytest.fail(f"fuzz_{target}.py did not stop within {timeout:.0f} s: {tail!r}")


def finding(proc: subprocess.CompletedProcess) -> str:
    """The part of the report that says what went wrong: atheris prints the Python traceback
    on stdout, libFuzzer its summary (and where it saved the input) on stderr."""
    out = []
    at = proc.stdout.find("=== Uncaught Python exception")
    if at >= 0:
        out.append(proc.stdout[at:at + 6000])
    for marker in ("ERROR: libFuzzer", "==ERROR"):
        at = proc.stderr.find(marker)
        if at >= 0:
            out.append(proc.stderr[at:at + 1500])
            break
    return "\n".join(out) or (proc.stdout[-3000:] + proc.stderr[-3000:])


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target(target, tmp_path):
    found = tmp_path / "corpus"
    found.mkdir()
    args = [f"-max_total_time={FUZZ_SECONDS}", "-timeout=10", "-rss_limit_mb=1024",
            "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", str(found),
            str(HERE / "corpus" / target)]
    proc = run_target(target, args, FUZZ_SECONDS + GRACE_SECONDS)
    if proc.returncode != 0:
        # The input, also in base64: a CI log is all there may be to reproduce it from.
        saved = [f"{p}\n  base64: {base64.b64encode(p.read_bytes()).decode()}"
                 for p in sorted(tmp_path.iterdir()) if p.is_file()]
        pytest.fail(f"fuzz_{target}.py found something (exit {proc.returncode}); the input "
                    f"(put it in tests/fuzz/crashes/{target}/):\n" + "\n".join(saved)
                    + f"\n{finding(proc)}")
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    assert runs, f"no final stats from fuzz_{target}.py:\n{proc.stderr[-3000:]}"
    assert int(runs.group(1)) >= MIN_RUNS, \
        f"fuzz_{target}.py ran only {runs.group(1)} inputs in {FUZZ_SECONDS} s"
    seeds = len(list((HERE / "corpus" / target).iterdir()))
    inited = re.search(r"#(\d+)\s+INITED", proc.stderr)
    assert inited and int(inited.group(1)) >= seeds, \
        f"fuzz_{target}.py did not replay its {seeds} seeds:\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("crash", CRASHES, ids=[f"{p.parent.name}/{p.name}" for p in CRASHES])
def test_crash_reproducer_runs_clean(crash):
    target = crash.parent.name
    assert target in TARGETS, f"{crash}: no fuzz target {target!r}"
    proc = run_target(target, [str(crash)], GRACE_SECONDS)
    assert proc.returncode == 0, f"{crash.name} still crashes fuzz_{target}.py:\n" \
                                 f"{finding(proc)}"


def test_seed_corpus_present():
    for target in TARGETS:
        seeds = list((HERE / "corpus" / target).iterdir())
        assert len(seeds) >= 10, f"corpus/{target}: run tests/fuzz/make_corpus.py"
