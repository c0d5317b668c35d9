"""Reports a security review attaches, from real scans on loopback: `--markdown`/`--html` files,
an inventory (`--targets`: our `serve`, `openssl s_server` without DICOM, a port nobody listens
on) scanned in parallel into one report, and `scan-report` rendering saved JSON again."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import free_port, require_binary, wait_for_port
from test_scan_dicom import client_tls, start_serve

CLI = [sys.executable, "-m", "dicomtls.cli.main"]


def run(*args, timeout=300):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_inventory_of_three_targets(pki, tmp_path):
    serve, serve_port = start_serve(pki, tmp_path)
    plain_port, closed_port = free_port(), free_port()
    log = open(tmp_path / "s_server.log", "wb")
    s_server = subprocess.Popen(
        [require_binary("openssl"), "s_server", "-accept", f"127.0.0.1:{plain_port}", "-cert",
         str(pki.server_cert), "-key", str(pki.server_key), "-rev", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    targets = tmp_path / "targets.txt"
    targets.write_text(f"# the site's DICOM nodes\n127.0.0.1 {serve_port} called_ae=ANY-SCP\n"
                       f"127.0.0.1:{plain_port}   # a TLS port without DICOM\n"
                       f"127.0.0.1 {closed_port}\n")
    html_path, md_path = tmp_path / "report.html", tmp_path / "report.md"
    try:
        wait_for_port(plain_port, s_server)
        proc = run("scan", "--targets", str(targets), "--json", "--versions", "1.2-1.3",
                   "--timeout", "2", "--target-parallel", "3", *client_tls(pki),
                   "--html", str(html_path), "--markdown", str(md_path), "--policy", "rfc8996")
    finally:
        for p in (serve, s_server):
            p.kill()
            p.wait(10)
        log.close()
    inventory = json.loads(proc.stdout)
    assert inventory["schema"] == "dicomtls-scan-inventory"
    ours, plain, closed = inventory["targets"]
    assert {c["profile"]: c["outcome"] for c in ours["dicom"]}["rfc8996"] == "associated"
    assert {c["profile"]: c["outcome"] for c in plain["dicom"]}["rfc8996"] == "no_dicom"
    assert "dicom" in {f["id"] for f in plain["findings"]}
    assert closed["error"].startswith("ScanTargetError: cannot connect")
    assert proc.returncode == 4   # rfc8996 undecided: TLS 1.0/1.1 not scanned, one target down
    md = md_path.read_text()
    assert "## Summary" in md and md.count("\n## 127.0.0.1 port ") == 3
    page = html_path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<h3>Verdicts</h3>" in page
    assert f"<h2>127.0.0.1 port {closed_port}</h2>" in page

    saved = tmp_path / "inventory.json"
    saved.write_text(proc.stdout)
    again = run("scan-report", str(saved), "--format", "html")
    assert again.returncode == 0 and again.stdout == page
    assert run("scan-report", str(saved)).stdout == md


def test_bad_targets_file_is_a_usage_error(tmp_path):
    targets = tmp_path / "targets.txt"
    targets.write_text("127.0.0.1 104\npacs.example.org port\n")
    proc = run("scan", "--targets", str(targets))
    assert proc.returncode == 1
    assert "targets line 2: expected HOST PORT or HOST:PORT: 'pacs.example.org port'" in proc.stderr
    both = run("scan", "127.0.0.1", "104", "--targets", str(targets))
    assert both.returncode == 2 and "give HOST PORT, or --targets FILE" in both.stderr
