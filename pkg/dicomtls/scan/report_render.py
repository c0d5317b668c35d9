"""Human reports from the JSON document (report_json.py): Markdown, and a self-contained HTML
page (inline style, no script, nothing fetched) that a security review can attach.

Both render the JSON, not the live report objects, so a report saved with ``--json`` can be
rendered later (``dicomtls scan-report FILE``) and every field shown is one a script can check.
Several documents (``--targets``) render as one report with a summary table first.
"""

from __future__ import annotations

import html

RESULT_LABEL = {"conformant": "conformant", "not_conformant": "NOT conformant",
                "undecided": "undecided"}


def _target(doc: dict) -> str:
    return f"{doc['host']} port {doc['port']}"


def _summary_row(doc: dict) -> list:
    if doc.get("error"):
        return [_target(doc), "scan failed", "-", "-", doc["error"]]
    verdicts = doc.get("verdicts", [])
    ok = [v["policy"] for v in verdicts if v["result"] == "conformant"]
    high = sum(1 for f in doc.get("findings", []) if f["severity"] == "high")
    return [_target(doc), ", ".join(a["version"] for a in _versions(doc)) or "none",
            ", ".join(ok) or "none", str(high), f"{doc.get('seconds', 0):.1f} s"]


def _versions(doc: dict) -> list:
    seen, out = set(), []
    for a in doc.get("accepted", []):
        if a["version"] not in seen:
            seen.add(a["version"])
            out.append(a)
    return out


def _sections(doc: dict) -> list:
    """(title, header, rows, note) tables of one scan, in report order."""
    out = []
    if doc.get("error"):
        return [("Scan", ["error"], [[doc["error"]]], "")]
    out.append(("Verdicts", ["policy", "reference", "result", "reasons"], [
        [v["policy"], v["reference"], RESULT_LABEL[v["result"]],
         "; ".join(f"{r['severity']}: {r['text']}" for r in v["reasons"]) or "-"]
        for v in doc["verdicts"]], ""))
    out.append(("Findings", ["severity", "finding", "detail", "evidence"], [
        [f["severity"], f["title"], f["detail"], "; ".join(f["evidence"]) or "-"]
        for f in doc.get("findings", [])], "none" if not doc.get("findings") else ""))
    if doc.get("dicom"):
        out.append(("DICOM over each profile", ["profile", "outcome", "over", "peer",
                                                "detail"], [
            [c["profile"], c["outcome"] + (" (finding)" if c["finding"] else ""),
             f"{c['version']} {c['suite']}" if c["suite"] else "-",
             (f"max PDU {c['peer_max_pdu']}, {c['implementation_class_uid']} "
              f"{c['implementation_version_name'] or ''}").strip()
             if c["implementation_class_uid"] else "-", c["detail"]]
            for c in doc["dicom"]], ""))
    cert = doc["certificate"]
    out.append(("Certificate chain", ["subject", "issuer", "key", "signature", "valid until",
                                      "names", "serverAuth"], [
        [c["subject"], c["issuer"], f"{c['key_type']} {c['key_bits']}",
         c.get("signature_algorithm", ""), c["not_after"] or "unreadable",
         ", ".join(c.get("alt_names", [])) or "-",
         {None: "any use", True: "yes", False: "NO"}[c.get("server_auth")]]
        for c in cert["chain"]],
        f"verified: {cert['verified']} ({cert['detail']})" if cert["detail"] else ""))
    auth, ext, pref = doc["client_auth"], doc["extensions"], doc["preference"]
    out.append(("Connection properties", ["property", "value"], [
        ["client certificate", f"{auth['state'] or 'not decided'} ({auth['detail']})"],
        ["encrypt-then-MAC", str(ext["encrypt_then_mac"])],
        ["extended master secret", str(ext["extended_master_secret"])],
        ["secure renegotiation", str(ext["secure_renegotiation"])],
        ["preference", f"{pref['mode'] or 'not determined'}: "
                       f"{' > '.join(pref['server_order']) or pref['detail']}"],
    ] + _robot_rows(doc.get("robot")) + [
        [name.replace("_", " "), f"{a['state']}"
                                 f"{' [' + ', '.join(a['values']) + ']' if a['values'] else ''}"
                                 f" ({a['detail']})"]
        for name, a in (doc.get("questions") or {}).items()], ""))
    out.append(("PS3.15 profiles", ["profile", "section", "can serve", "example"], [
        [p["profile"], p["section"] or "-", p["state"], (p["accepted"] or ["-"])[0]]
        for p in doc["profiles"]], ""))
    out.append(("Suites, one handshake each", ["version", "code", "suite", "result", "detail"], [
        [p["version"], p["code"], p["suite"], p["result"], p["detail"]]
        for p in doc["probes"]], f"{len(doc['not_probed'])} pairs not probed "
                                 "(no engine of this build offers them)"))
    return out


def _robot_rows(robot) -> list:
    if not robot:
        return []
    over = f" over {robot['version']} {robot['suite']}" if robot["suite"] else ""
    return [["Bleichenbacher oracle (ROBOT)",
             f"{robot['state']}{over} ({robot['detail']}"
             f"{'; ' + robot['timing'] if robot['timing'] else ''})"]]


# ---- Markdown ----------------------------------------------------------------------------------
def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _client_sections(client: dict) -> list:
    """(title, header, rows, note) tables of one graded client (scan-client)."""
    hello, grade = client.get("hello") or {}, client["grade"]
    validates = grade["validates_server_certificate"]
    out = [("Server certificate validation", ["round", "outcome", "verdict", "client alert",
                                              "client certificate", "version and suite"], [
        [r["round"], r["outcome"], r["verdict"], r["client_alert"] or "-",
         f"{r['client_certificate'] or 'none'}"
         f"{'' if r['client_certificate_valid'] is None else ' (valid)' if r['client_certificate_valid'] else ' (INVALID)'}",
         f"{r['version'] or '-'} {r['suite'] or ''}".strip()] for r in client["rounds"]],
        "validates our certificate: " + ("not decided yet" if validates is None else
                                         "yes" if validates else
                                         "NO, accepted " + ", ".join(
                                             grade["accepted_bad_certificates"]))
        + (f"; rounds left: {', '.join(grade['rounds_left'])}" if grade["rounds_left"] else ""))]
    if hello:
        out.append(("ClientHello", ["field", "value"], [
            [k.replace("_", " "), ", ".join(hello[k]) if isinstance(hello[k], list)
             else str(hello[k])]
            for k in ("versions", "suites", "extensions", "groups", "signature_algorithms",
                      "server_name", "alpn")] + ([["error", hello["error"]]]
                                                 if hello.get("error") else []), ""))
        out.append(("PS3.15 profiles of the hello", ["profile", "a server of it can serve it",
                                                     "offers nothing else", "outside"], [
            [name, "yes" if p["served"] else "no", "yes" if p["within"] else "no",
             ", ".join(p["outside"]) or "-"] for name, p in hello["profiles"].items()], ""))
    return out


def _client_docs(doc: dict) -> list:
    """A scan-client document as (target title, sections) per client."""
    return [(f"client {c['address']}", _client_sections(c)) for c in doc["clients"]]


def render_markdown(docs) -> str:
    """One Markdown report of one or several scan documents, or of a scan-client document."""
    if isinstance(docs, dict) and docs.get("schema") == "dicomtls-scan-client":
        lines = ["# DICOM TLS client grading report", ""]
        for title, sections in _client_docs(docs):
            lines += [f"## {title}", ""]
            for name, header, rows, note in sections:
                lines += [f"### {name}", ""] + _md_table(header, rows) + [""]
                lines += [note, ""] if note else []
        return "\n".join(lines).rstrip() + "\n"
    docs = [docs] if isinstance(docs, dict) else list(docs)
    lines = ["# DICOM TLS conformance report", ""]
    if len(docs) > 1:
        lines += ["## Summary", ""] + _md_table(
            ["target", "versions", "conformant to", "high findings", "time"],
            [_summary_row(d) for d in docs]) + [""]
    for doc in docs:
        lines += [f"## {_target(doc)}", ""]
        if not doc.get("error"):
            lines += [f"Scanned {doc['address']}, {', '.join(doc['versions'])}, "
                      f"{doc['seconds']:.1f} s, schema {doc['schema']} v{doc['schema_version']}.",
                      ""]
        for title, header, rows, note in _sections(doc):
            lines += [f"### {title}", ""]
            lines += (_md_table(header, rows) if rows else []) + ([""] if rows else [])
            lines += [note, ""] if note else []
    return "\n".join(lines).rstrip() + "\n"


# ---- HTML --------------------------------------------------------------------------------------
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.conformant { background: #d9f2d9; } td.not_conformant { background: #f8d0d0; }
td.undecided { background: #f5ecc8; } td.high { background: #f8d0d0; }
td.medium { background: #f5ecc8; }
"""


def _html_table(header, rows, classes=None) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = (classes or {}).get(i, {})
        out.append("<tr>" + "".join(
            (f"<td class=\"{html.escape(cls[j])}\">" if j in cls else "<td>")
            + html.escape(str(c)) + "</td>" for j, c in enumerate(row)) + "</tr>")
    return "\n".join(out) + "</table>"


def _page(title: str) -> list:
    return ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
            f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>",
            "</head><body>", f"<h1>{html.escape(title)}</h1>"]


def render_html(docs) -> str:
    """One self-contained HTML page of one or several scan documents, or of a scan-client
    document."""
    if isinstance(docs, dict) and docs.get("schema") == "dicomtls-scan-client":
        parts = _page("DICOM TLS client grading report")
        for title, sections in _client_docs(docs):
            parts.append(f"<h2>{html.escape(title)}</h2>")
            for name, header, rows, note in sections:
                classes = ({i: {2: {"pass": "conformant", "fail": "not_conformant"}.get(
                    row[2], "undecided")} for i, row in enumerate(rows)}
                    if name.startswith("Server certificate") else None)
                parts += [f"<h3>{html.escape(name)}</h3>", _html_table(header, rows, classes)]
                if note:
                    parts.append(f"<p>{html.escape(note)}</p>")
        return "\n".join(parts + ["</body></html>"]) + "\n"
    docs = [docs] if isinstance(docs, dict) else list(docs)
    parts = _page("DICOM TLS conformance report")
    if len(docs) > 1:
        parts += ["<h2>Summary</h2>", _html_table(
            ["target", "versions", "conformant to", "high findings", "time"],
            [_summary_row(d) for d in docs])]
    for doc in docs:
        parts.append(f"<h2>{html.escape(_target(doc))}</h2>")
        for title, header, rows, note in _sections(doc):
            classes = {}
            if title == "Verdicts":
                classes = {i: {2: v["result"]} for i, v in enumerate(doc["verdicts"])}
            elif title == "Findings":
                classes = {i: {0: f["severity"]} for i, f in enumerate(doc.get("findings", []))}
            body = _html_table(header, rows, classes) if rows else ""
            if title.startswith("Suites"):
                parts.append(f"<details><summary>{html.escape(title)} ({len(rows)})</summary>"
                             f"{body}</details>")
            else:
                parts += [f"<h3>{html.escape(title)}</h3>", body]
            if note:
                parts.append(f"<p>{html.escape(note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
