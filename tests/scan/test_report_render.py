"""Markdown and HTML reports rendered from the scan's JSON document (scan/report_render.py).
The documents are small hand-made ones in the documented schema (docs/scan-report.md); the
end-to-end path (a real scan, --markdown/--html, scan-report) is in
tests/interop/test_scan_reports.py."""

from __future__ import annotations

import copy
import html.parser

from dicomtls.scan.report_render import render_html, render_markdown

DOC = {
    "schema": "dicomtls-scan", "schema_version": 1, "host": "pacs.example.org", "port": 2762,
    "address": "10.0.0.5:2762", "versions": ["TLSv1.3", "TLSv1.2"], "client_certificate": True,
    "seconds": 12.5,
    "accepted": [{"version": "TLSv1.2", "suite": "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                  "code": "0x000A"}],
    "probes": [{"version": "TLSv1.2", "code": "0x000A", "suite": "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                "engine": "dicomtls", "result": "accepted", "detail": "RSA, auth RSA"},
               {"version": "TLSv1.3", "code": "0x1301", "suite": "TLS_AES_128_GCM_SHA256",
                "engine": "libssl", "result": "refused", "detail": "alert protocol_version"}],
    "not_probed": [],
    "certificate": {"chain": [{"subject": "CN=pacs", "issuer": "CN=ca", "key_type": "RSA",
                               "key_bits": 1024, "signature_algorithm": "sha1WithRSAEncryption",
                               "not_after": "2020-01-01T00:00:00+00:00",
                               "alt_names": ["DNS:pacs.example.org"], "server_auth": None}],
                    "verified": False, "detail": "certificate has expired"},
    "preference": {"version": "TLSv1.2", "mode": None, "engine": None, "server_order": [],
                   "complete": True, "detail": "fewer than two accepted suites"},
    "extensions": {"encrypt_then_mac": False, "extended_master_secret": True,
                   "secure_renegotiation": True, "probe": "", "detail": ""},
    "profiles": [{"profile": "basic", "section": "PS3.15 B.1", "state": "yes",
                  "accepted": ["TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA"]}],
    "client_auth": {"state": "none", "detail": "the probes ran without a client certificate"},
    "dicom": [{"profile": "basic", "section": "PS3.15 B.1", "outcome": "associated",
               "detail": "C-ECHO status 0x0000", "finding": False, "version": "TLSv1.2",
               "suite": "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "engine": "dicomtls",
               "peer_max_pdu": 16384, "implementation_class_uid": "1.2.3",
               "implementation_version_name": "PACS_1", "echo_status": 0}],
    "verdicts": [{"policy": "basic", "title": "Basic TLS", "reference": "PS3.15 B.1",
                  "result": "not_conformant",
                  "reasons": [{"severity": "fail", "code": "certificate-expired",
                               "text": "expired 2020-01-01"}]},
                 {"policy": "rfc8996", "title": "BCP 195 RFC 8996", "reference": "PS3.15 B.12",
                  "result": "undecided", "reasons": []}],
    "robot": {"state": "not_vulnerable", "detail": "every premaster variant got the same answer",
              "suite": "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "version": "TLSv1.2", "answers": {},
              "millis": {}, "timing": "no timing difference between variants"},
    "questions": {"curves": {"state": "tested", "detail": "one curve offered at a time",
                             "values": ["1.2 X25519", "1.2 P-256"]}},
    "findings": [{"id": "sweet32", "severity": "medium", "title": "64-bit block ciphers",
                  "detail": "SWEET32", "evidence": ["TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA"]}],
}


class Cells(html.parser.HTMLParser):
    """Table cells (with their class) and whether anything executable is in the page."""

    def __init__(self):
        super().__init__()
        self.cells, self.tags, self._cls, self._text = [], set(), None, None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "td":
            self._cls, self._text = dict(attrs).get("class"), ""

    def handle_data(self, data):
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "td":
            self.cells.append((self._text, self._cls))
            self._text = None


def test_markdown_has_each_section_as_a_table():
    md = render_markdown(DOC)
    assert md.startswith("# DICOM TLS conformance report\n")
    assert "## pacs.example.org port 2762" in md
    assert "| basic | PS3.15 B.1 | NOT conformant | fail: expired 2020-01-01 |" in md
    assert "| rfc8996 | PS3.15 B.12 | undecided | - |" in md
    assert "| medium | 64-bit block ciphers | SWEET32 | TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA |" in md
    assert "| basic | associated | TLSv1.2 TLS_RSA_WITH_3DES_EDE_CBC_SHA | max PDU 16384, 1.2.3 PACS_1 |" in md
    assert "| CN=pacs | CN=ca | RSA 1024 | sha1WithRSAEncryption |" in md
    assert "| client certificate | none (the probes ran without a client certificate) |" in md
    assert "| TLSv1.3 | 0x1301 | TLS_AES_128_GCM_SHA256 | refused | alert protocol_version |" in md
    assert ("| Bleichenbacher oracle (ROBOT) | not_vulnerable over TLSv1.2 "
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA (every premaster variant got the same answer; "
            "no timing difference between variants) |") in md
    assert "| curves | tested [1.2 X25519, 1.2 P-256] (one curve offered at a time) |" in md


def test_markdown_escapes_cell_separators():
    doc = copy.deepcopy(DOC)
    doc["findings"][0]["detail"] = "a | b\nc"
    assert "| a \\| b c |" in render_markdown(doc)


def test_html_is_self_contained_escaped_and_classed():
    doc = copy.deepcopy(DOC)
    doc["dicom"][0]["implementation_version_name"] = "<script>alert(1)</script>"
    page = render_html(doc)
    parser = Cells()
    parser.feed(page)
    assert "script" not in parser.tags and "<script>" not in page
    assert "&lt;script&gt;" in page
    assert not {"link", "img", "iframe"} & parser.tags     # nothing fetched
    assert ("NOT conformant", "not_conformant") in parser.cells
    assert ("undecided", "undecided") in parser.cells
    assert ("medium", "medium") in parser.cells
    assert "<details><summary>Suites, one handshake each (2)</summary>" in page


def test_several_targets_get_a_summary_and_errors_are_listed():
    failed = {"host": "10.0.0.9", "port": 104, "error": "ScanTargetError: cannot connect"}
    md = render_markdown([DOC, failed])
    assert "## Summary" in md
    assert "| pacs.example.org port 2762 | TLSv1.2 | none | 0 | 12.5 s |" in md
    assert "| 10.0.0.9 port 104 | scan failed | - | - | ScanTargetError: cannot connect |" in md
    assert "## 10.0.0.9 port 104" in md
    page = render_html([DOC, failed])
    assert page.count("<h2>") == 3   # summary and two targets


CLIENT_DOC = {
    "schema": "dicomtls-scan-client", "schema_version": 1, "rounds": ["valid", "unknown_ca"],
    "clients": [{"address": "10.1.1.7",
                 "hello": {"versions": ["TLSv1.2"], "suites": ["TLS_RSA_WITH_AES_128_CBC_SHA"],
                           "extensions": ["server_name"], "groups": [],
                           "signature_algorithms": [], "server_name": "pacs", "alpn": [],
                           "compression": [0], "error": "",
                           "profiles": {"aes": {"served": True, "within": False,
                                                "outside": ["TLSv1.2"]}}},
                 "rounds": [{"round": "valid", "outcome": "associated", "verdict": "pass",
                             "client_alert": None, "client_certificate": None,
                             "client_certificate_valid": None, "version": "TLSv1.2",
                             "suite": "TLS_RSA_WITH_AES_128_CBC_SHA"},
                            {"round": "unknown_ca", "outcome": "associated", "verdict": "fail",
                             "client_alert": None, "client_certificate": "CN=modality",
                             "client_certificate_valid": True, "version": "TLSv1.2",
                             "suite": "TLS_RSA_WITH_AES_128_CBC_SHA"}],
                 "grade": {"validates_server_certificate": False,
                           "accepted_bad_certificates": ["unknown_ca"], "rounds_left": []}}]}


def test_client_grading_report():
    md = render_markdown(CLIENT_DOC)
    assert md.startswith("# DICOM TLS client grading report\n")
    assert ("| unknown_ca | associated | fail | - | CN=modality (valid) | "
            "TLSv1.2 TLS_RSA_WITH_AES_128_CBC_SHA |") in md
    assert "validates our certificate: NO, accepted unknown_ca" in md
    assert "| aes | yes | no | TLSv1.2 |" in md
    parser = Cells()
    parser.feed(render_html(CLIENT_DOC))
    assert ("fail", "not_conformant") in parser.cells and ("pass", "conformant") in parser.cells
