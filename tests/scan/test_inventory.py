"""Inventory files (`scan --targets`): every accepted spelling, a clear error naming the line for
anything else, and the shared time budget (scan/inventory.py). The end-to-end run against real
servers is in tests/interop/test_scan_reports.py."""

from __future__ import annotations

import time

import pytest

from dicomtls.errors import ConfigurationError
from dicomtls.scan import ScanTargetError
from dicomtls.scan.inventory import ScanTarget, parse_targets, scan_inventory


def test_spellings_comments_and_options():
    targets = parse_targets(
        "# site inventory\n\n10.0.0.5 2762\npacs.example.org:11112   # archive\n"
        "[::1]:2762 called_ae=PACS server_name=pacs.local\n")
    assert targets == [ScanTarget("10.0.0.5", 2762, line=3),
                       ScanTarget("pacs.example.org", 11112, line=4),
                       ScanTarget("::1", 2762, "PACS", "pacs.local", line=5)]


@pytest.mark.parametrize("text, message", [
    ("pacs 70000\n", "line 1: bad host or port"),
    ("pacs\n", "line 1: expected HOST PORT or HOST:PORT"),
    ("pacs 104 extra\n", "line 1: expected HOST PORT or HOST:PORT"),
    ("a 1\npacs 104 aet=X\n", "line 2: unknown option aet"),
    ("# nothing\n", "lists no target"),
    ("pacs:0\n", "line 1: bad host or port"),
])
def test_bad_lines(text, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_targets(text)


def test_the_budget_is_shared_and_failures_are_entries():
    targets = parse_targets("a 1\nb 2\nc 3\n")

    def scan_one(target, left):
        if target.host == "b":   # a slow, unreachable one: the budget runs out during it
            time.sleep(1.8)
            raise ScanTargetError("cannot connect to b port 2: Connection refused")
        raise ScanTargetError(f"{target.host} scanned with {left:.0f} s left")

    started = time.monotonic()
    doc = scan_inventory(targets, scan_one, parallel=1, max_time=2.5)
    assert time.monotonic() - started < 4
    a, b, c = doc["targets"]
    assert a["error"] == "ScanTargetError: a scanned with 2 s left"
    assert b["error"] == "ScanTargetError: cannot connect to b port 2: Connection refused"
    assert c["error"] == "skipped: the inventory's time budget ran out"
    assert doc["schema"] == "dicomtls-scan-inventory"
