"""Legacy-capable TLS peers for interop tests: tlslite-ng, scapy and GnuTLS (TLS 1.0-1.2, 3DES,
scapy also single DES), as servers (context managers) and clients (functions returning a dict).

Every peer checks the other side's certificate against the test CA, echoes (servers) or sends and
checks (clients) the same payload pattern, and reports what it negotiated, as the peer itself sees
it, in one dict per handshake:

    {"ok": bool, "role": "client"|"server", "peer": "tlslite"|"scapy"|"gnutls",
     "version": "1.0"|"1.1"|"1.2", "suite": IANA code (int), "suite_name": str,
     "etm": bool, "ems": bool, "error": str (when not ok), ...}

The top of this module is stdlib only: the driver scripts (peer_tlslite.py, peer_scapy.py) import
it too, so every peer uses the same payload pattern and certificate check.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = {"1.0": 0x0301, "1.1": 0x0302, "1.2": 0x0303}

# IANA code -> (name, GnuTLS key exchange, cipher, MAC). GnuTLS has no single-DES suites.
SUITES = {
    0x000A: ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA", "3DES-CBC", "SHA1"),
    0x0016: ("TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "DHE-RSA", "3DES-CBC", "SHA1"),
    0xC012: ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA", "3DES-CBC", "SHA1"),
    0x002F: ("TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1"),
    0x0035: ("TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1"),
    0x003C: ("TLS_RSA_WITH_AES_128_CBC_SHA256", "RSA", "AES-128-CBC", "SHA256"),
    0x003D: ("TLS_RSA_WITH_AES_256_CBC_SHA256", "RSA", "AES-256-CBC", "SHA256"),
    0x0033: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA", "AES-128-CBC", "SHA1"),
    0x0039: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA", "AES-256-CBC", "SHA1"),
    0x0067: ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA", "AES-128-CBC", "SHA256"),
    0x006B: ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA", "AES-256-CBC", "SHA256"),
    0xC013: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1"),
    0xC014: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1"),
    0xC027: ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA", "AES-128-CBC", "SHA256"),
    0xC028: ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA", "AES-256-CBC", "SHA384"),
    0x009C: ("TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD"),
    0x009D: ("TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD"),
    0x009E: ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA", "AES-128-GCM", "AEAD"),
    0x009F: ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA", "AES-256-GCM", "AEAD"),
    0xC02F: ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD"),
    0xC030: ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD"),
}


# ---- shared with the driver scripts ----------------------------------------------------------
def parse_versions(spec: str) -> tuple[int, int]:
    """"1.2" or "1.0-1.2" -> (lowest, highest) as 0x0301-style codes."""
    low, _, high = spec.partition("-")
    try:
        codes = VERSIONS[low.strip()], VERSIONS[(high or low).strip()]
    except KeyError:
        raise ValueError(f"versions must be 1.0, 1.1, 1.2 or a range of them, not {spec!r}")
    if codes[0] > codes[1]:
        raise ValueError(f"empty version range {spec!r}")
    return codes


def version_label(code: int) -> str:
    return next((k for k, v in VERSIONS.items() if v == code), f"0x{code:04X}")


def parse_suites(spec) -> list[int]:
    """"0x000A,0x002F" (or a list of ints) -> [10, 47]."""
    if isinstance(spec, str):
        return [int(s, 16) for s in spec.replace(" ", "").split(",") if s]
    return [int(s) for s in spec]


def payload(size: int) -> bytes:
    """``size`` bytes of a position-dependent printable pattern cut into '\\n'-terminated lines
    (line-based echo servers: ``gnutls-serv --echo``, ``openssl s_server -rev``)."""
    alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # 62: not 64
    out = bytearray(alphabet[i % len(alphabet)] for i in range(size))
    for i in range(63, size, 64):
        out[i] = 0x0A
    if size:
        out[-1] = 0x0A
    return bytes(out)


def expected_reply(data: bytes, mode: str = "echo") -> bytes:
    """What the server sends back: the data ("echo") or each line reversed ("rev", as
    ``openssl s_server -rev`` does)."""
    if mode == "echo":
        return data
    if mode == "rev":
        return b"".join(line[::-1] + b"\n" for line in data.split(b"\n")[:-1])
    raise ValueError(f"unknown reply mode {mode!r}")


def check_peer_cert(leaf_der: bytes | None, ca_path: str, server_name: str | None = None):
    """None if the leaf was issued (name and signature) by the CA in ``ca_path``, is in its
    validity period and, given ``server_name``, names it in its SAN; else the reason. Used where
    the TLS stack itself does not validate chains (tlslite, scapy's server)."""
    import datetime
    import ipaddress
    from cryptography import x509

    if not leaf_der:
        return "no certificate"
    leaf = x509.load_der_x509_certificate(leaf_der)
    with open(ca_path, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    try:
        leaf.verify_directly_issued_by(ca)
    except Exception as exc:
        return f"not issued by the test CA: {exc!r}"
    now = datetime.datetime.now(datetime.timezone.utc)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return "outside its validity period"
    if server_name:
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return "no subjectAltName"
        try:
            names = san.get_values_for_type(x509.IPAddress)
            wanted = ipaddress.ip_address(server_name)
        except ValueError:
            names, wanted = san.get_values_for_type(x509.DNSName), server_name
        if wanted not in names:
            return f"{server_name!r} is not in the subjectAltName"
    return None


def keylog_append(path: str, client_random: bytes, master_secret: bytes) -> None:
    """One NSS key-log line, as SSLKEYLOGFILE-aware stacks (GnuTLS, OpenSSL) write it."""
    with open(path, "a") as f:
        f.write(f"CLIENT_RANDOM {client_random.hex()} {master_secret.hex()}\n")


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def emit(record: dict, stream=None) -> None:
    print(json.dumps(record, sort_keys=True), file=stream or sys.stdout, flush=True)


def install_alarm(seconds: float) -> None:
    """A hard stop for a client driver: raises TimeoutError (reported in its JSON line)."""
    def expired(signum, frame):
        raise TimeoutError(f"client run exceeded {seconds:.0f} s")
    signal.signal(signal.SIGALRM, expired)
    signal.alarm(max(1, int(seconds)))


# ---- child processes (pytest side) -----------------------------------------------------------
class Child:
    """A peer process in its own session (so the whole group can be killed), stdout and stderr
    collected by threads; ``stop()`` (also on leaving the ``with`` block) always kills it."""

    def __init__(self, argv, env=None):
        self.argv = [str(a) for a in argv]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, start_new_session=True)
        self.out_bytes, self.err_bytes = bytearray(), bytearray()
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=pipe, daemon=True)
                         for pipe in ((self.proc.stdout, self.out_bytes),
                                      (self.proc.stderr, self.err_bytes))]
        for t in self._readers:
            t.start()

    def _read(self, pipe, buf):
        for chunk in iter(lambda: os.read(pipe.fileno(), 1 << 16), b""):
            with self._changed:
                buf += chunk
                self._changed.notify_all()

    @property
    def out(self) -> str:
        return bytes(self.out_bytes).decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return bytes(self.err_bytes).decode("utf-8", "replace")

    def wait_for(self, predicate, timeout: float):
        """predicate(self) once it is truthy; None after ``timeout``, or once the process has
        exited and all its output was read without it becoming true."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            if self.proc.poll() is not None:
                for t in self._readers:
                    t.join(2)
                return predicate(self) or None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with self._changed:
                self._changed.wait(min(left, 0.1))

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        with suppress(OSError):
            self.proc.stdin.close()

    def wait(self, timeout: float):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            self.wait(grace)
        for t in self._readers:
            t.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with suppress(OSError):
                pipe.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class PeerServer(int):
    """A running peer server: the int is its port on 127.0.0.1 (``with tlslite_server(pki) as
    port``); ``handshakes`` are its own reports, one dict per connection (see module doc)."""

    def __new__(cls, port: int, child: Child, parse):
        obj = super().__new__(cls, port)
        obj.port, obj.child, obj._parse = port, child, parse
        return obj

    @property
    def handshakes(self) -> list[dict]:
        return self._parse(self.child.out)

    @property
    def output(self) -> str:
        return self.child.out + self.child.err

    def wait_handshakes(self, n: int = 1, timeout: float = 20.0) -> list[dict]:
        """The first ``n`` reports, waiting for them (scapy reports at the end of a handshake,
        tlslite when the connection closes); fewer if they do not come in time."""
        self.child.wait_for(lambda c: len(self._parse(c.out)) >= n, timeout)
        return self.handshakes


def _json_lines(text: str) -> list[dict]:
    # Complete lines only: the last one may still be arriving.
    return [json.loads(line) for line in text.split("\n")[:-1] if line.startswith("{")]


def _require_python_peer(*modules: str) -> None:
    import importlib.util

    import pytest
    from conftest import REQUIRE_PEERS
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        message = f"Python test peer module(s) {', '.join(missing)} not installed"
        if REQUIRE_PEERS:
            pytest.fail(message + " (required in CI: .ci/setup installs .[test])")
        pytest.skip(message)


def _require_binary(name: str) -> str:
    from conftest import require_binary  # skip locally, fail in CI
    return require_binary(name)


# ---- tlslite-ng and scapy (driver scripts) ---------------------------------------------------
PYTHON_PEERS = {"tlslite": ("peer_tlslite.py", ("tlslite", "cryptography")),
                "scapy": ("peer_scapy.py", ("scapy", "cryptography"))}


def _common_args(pki, *, suites, versions, keylog, timeout) -> list[str]:
    args = ["--ca", pki.ca_cert, "--timeout", timeout, "--versions", versions,
            "--suites", ",".join(f"0x{s:04X}" for s in parse_suites(suites))]
    return args + (["--keylog", keylog] if keylog else [])


@contextmanager
def _driver_server(peer: str, pki, args: list, start_timeout: float = 30.0):
    script, modules = PYTHON_PEERS[peer]
    _require_python_peer(*modules)
    argv = [sys.executable, HERE / script, "server", "--port", "0", "--cert", pki.server_cert,
            "--key", pki.server_key, *args]
    with Child(argv) as child:
        found = child.wait_for(lambda c: re.search(r"^PORT (\d+)$", c.out, re.M), start_timeout)
        if not found:
            raise RuntimeError(f"{peer} server did not start:\n{child.out}\n{child.err}")
        yield PeerServer(int(found.group(1)), child, _json_lines)


@contextmanager
def tlslite_server(pki, *, suites=(0x000A,), versions="1.0-1.2", etm=True, ems=True,
                   require_client_cert=True, keylog=None, timeout=20.0):
    """tlslite-ng echo server on 127.0.0.1 (a thread per connection). Yields a PeerServer."""
    args = _common_args(pki, suites=suites, versions=versions, keylog=keylog, timeout=timeout)
    args += (["--no-etm"] if not etm else []) + (["--no-ems"] if not ems else [])
    args += ["--require-client-cert"] if require_client_cert else []
    with _driver_server("tlslite", pki, args) as server:
        yield server


@contextmanager
def scapy_server(pki, *, suites=(0x000A,), versions="1.0-1.2", ems=False,
                 require_client_cert=True, keylog=None, timeout=20.0):
    """scapy echo server on 127.0.0.1, one client at a time, accepting only ``suites`` (the
    first preferred). No EtM ever; EMS only with ``ems=True``. Yields a PeerServer."""
    args = _common_args(pki, suites=suites, versions=versions, keylog=keylog, timeout=timeout)
    args += (["--ems"] if ems else []) + (["--require-client-cert"] if require_client_cert else [])
    with _driver_server("scapy", pki, args) as server:
        yield server


def _driver_client(peer: str, port: int, pki, args: list, timeout: float) -> dict:
    script, modules = PYTHON_PEERS[peer]
    _require_python_peer(*modules)
    argv = [str(a) for a in (sys.executable, HERE / script, "client", "--port", port, *args)]
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * 3 + 30)
    except subprocess.TimeoutExpired as exc:
        return {"ok": False, "peer": peer, "role": "client", "error": f"timeout: {exc}"}
    records = _json_lines(proc.stdout)
    result = records[-1] if records else {
        "ok": False, "peer": peer, "role": "client", "error": "no result line"}
    result.update(rc=proc.returncode, wall_s=round(time.monotonic() - started, 2),
                  stderr=proc.stderr[-4000:])
    result["ok"] = bool(result.get("ok")) and proc.returncode == 0
    return result


def run_tlslite_client(port: int, pki, *, suites=(0x000A,), versions="1.0-1.2", etm=True,
                       ems=True, client_cert=True, size=1000, expect="echo",
                       server_name="localhost", keylog=None, timeout=20.0) -> dict:
    """One tlslite-ng connection to 127.0.0.1:port: handshake, chain check, ``size`` bytes of
    the pattern, reply check. Returns its report (``ok``, version, suite, etm, ems, ...)."""
    args = _common_args(pki, suites=suites, versions=versions, keylog=keylog, timeout=timeout)
    args += (["--no-etm"] if not etm else []) + (["--no-ems"] if not ems else [])
    args += ["--cert", pki.client_cert, "--key", pki.client_key] if client_cert else []
    args += ["--size", size, "--expect", expect, "--server-name", server_name]
    return _driver_client("tlslite", port, pki, args, timeout)


def run_scapy_client(port: int, pki, *, suites=(0x000A,), version="1.2", ems=False,
                     client_cert=True, size=1000, expect="echo", server_name="localhost",
                     cv_sigalg=None, keylog=None, timeout=20.0) -> dict:
    """One scapy connection offering exactly ``version`` and ``suites``; as run_tlslite_client.
    ``cv_sigalg`` (e.g. 0x0804) forces the TLS 1.2 CertificateVerify scheme."""
    args = _common_args(pki, suites=suites, versions=version, keylog=keylog, timeout=timeout)
    args += (["--ems"] if ems else [])
    args += ["--cert", pki.client_cert, "--key", pki.client_key] if client_cert else []
    args += ["--size", size, "--expect", expect, "--server-name", server_name]
    args += ["--cv-sigalg", f"{cv_sigalg:04x}"] if cv_sigalg else []
    return _driver_client("scapy", port, pki, args, timeout)


# ---- GnuTLS ----------------------------------------------------------------------------------
def gnutls_priority(suites=(0x000A,), versions="1.0-1.2", etm=True, ems=True) -> str:
    """A GnuTLS priority string enabling ``suites`` (IANA codes). GnuTLS enables the product of
    the listed ciphers, key exchanges and MACs: several suites may enable a few more."""
    low, high = parse_versions(versions)
    try:
        picked = [SUITES[c] for c in parse_suites(suites)]
    except KeyError as exc:
        raise ValueError(f"GnuTLS has no suite 0x{exc.args[0]:04X} (no single DES at all)")
    parts = ["NONE"] + [f"+VERS-TLS{version_label(v)}" for v in range(high, low - 1, -1)]
    for index in (2, 1, 3):  # ciphers, key exchanges, MACs
        parts += [f"+{x}" for x in dict.fromkeys(p[index] for p in picked)]
    parts += ["+COMP-NULL", "+SIGN-ALL"]
    if any(p[1] != "RSA" for p in picked):
        parts.append("+GROUP-ALL")  # (EC)DHE needs groups; NONE enabled none
    return ":".join(parts + ([] if etm else ["%NO_ETM"]) + ([] if ems else ["%NO_SESSION_HASH"]))


def _gnutls_session(description: str, options: str) -> dict:
    """'(TLS1.2-X.509)-(ECDHE-SECP256R1)-(RSA-SHA256)-(AES-128-GCM)' + its '- Options:' line."""
    tokens = re.findall(r"\(([^)]*)\)", description)
    kx = next(k for k in ("ECDHE-RSA", "DHE-RSA", "RSA") if tokens[1].startswith(k.split("-")[0]))
    cipher = next((t for t in tokens if t in {s[2] for s in SUITES.values()}), None)
    mac = next((t for t in tokens[2:] if t in ("SHA1", "SHA256", "SHA384")), "AEAD")
    suite = next((c for c, s in SUITES.items() if s[1:] == (kx, cipher, mac)), None)
    return {"version": tokens[0].split("-")[0].replace("TLS", ""), "suite": suite,
            "suite_name": SUITES[suite][0] if suite else description,
            "etm": "EtM" in options, "ems": "extended master secret" in options}


def _gnutls_serv_reports(text: str) -> list[dict]:
    reports = []
    for block in text.split("* Accepted connection from")[1:]:
        desc = re.search(r"^- Description: (.*)$", block, re.M)
        record = {"role": "server", "peer": "gnutls", "ok": bool(desc)}
        if desc:
            # gnutls-serv prints the Options line after the Description: a report read between
            # the two would say "no EtM, no EMS" (seen once in CI); wait for it.
            opts = re.search(r"^- Options:(.*)$", block, re.M)
            if opts is None:
                continue
            record.update(_gnutls_session(desc.group(1), opts.group(1)))
        else:
            errors = re.findall(r"^.*(?:Error|error).*$", block, re.M)
            if not errors:
                continue  # handshake still running
            record["error"] = errors[0].strip()
        reports.append(record)
    return reports


def _env(keylog) -> dict:
    # LD_PRELOAD: .ci/asan preloads the sanitizer runtime for our extension; GnuTLS is not ours.
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSLKEYLOGFILE", "GNUTLS_KEYLOGFILE", "LD_PRELOAD")}
    if keylog:
        env["SSLKEYLOGFILE"] = str(keylog)
    return env


def run_gnutls_client(port: int, pki, priority: str, *, client_cert=True, size=1000,
                      expect="echo", server_name="localhost", keylog=None,
                      timeout=20.0) -> dict:
    """gnutls-cli to 127.0.0.1:port (chain and name checked by GnuTLS), sends the pattern,
    waits for the reply; parses its session summary. ``keylog``: SSLKEYLOGFILE for it."""
    argv = [_require_binary("gnutls-cli"), "-p", port, "127.0.0.1", "--priority", priority,
            "--x509cafile", pki.ca_cert, "--verify-hostname", server_name]
    if client_cert:
        argv += ["--x509certfile", pki.client_cert, "--x509keyfile", pki.client_key]
    data = payload(size)
    want = expected_reply(data, expect)
    marker = b"- Simple Client Mode:\n"
    result = {"ok": False, "role": "client", "peer": "gnutls"}
    started = time.monotonic()
    with Child(argv, env=_env(keylog)) as child:
        if child.wait_for(lambda c: marker in c.out_bytes, timeout):
            result["handshake_ms"] = round((time.monotonic() - started) * 1000)
            child.write(data)  # gnutls-cli sends stdin; it quits at EOF, so only close it later
            got = child.wait_for(lambda c: want in c.out_bytes.split(marker, 1)[1], timeout)
            result.update(sent=len(data), received=len(want) if got else 0)
        child.close_stdin()
        result["rc"] = child.wait(10)
    out = child.out
    desc = re.search(r"^- Description: (.*)$", out, re.M)
    opts = re.search(r"^- Options: (.*)$", out, re.M)
    if desc:
        result.update(_gnutls_session(desc.group(1), opts.group(1) if opts else ""))
    result["trusted"] = "- Status: The certificate is trusted." in out
    result["ok"] = bool(desc and result["trusted"] and result.get("received") == len(want)
                        and result["rc"] == 0)
    if not result["ok"]:
        errors = re.findall(r"^\*\*\* .*$|^.*[Ee]rror.*$", out + child.err, re.M)
        result["error"] = "; ".join(errors[:3]) or "no echo / no session summary"
        result["output"] = (out + child.err)[-4000:]
    return result


NS_PORT = 4433  # inside the private namespace: nobody else is there


@contextmanager
def gnutls_server(pki, priority: str, netns: list, *, require_client_cert=True, keylog=None,
                  timeout=60.0):
    """gnutls-serv --echo, reachable on a 127.0.0.1 port of the test's own namespace.

    gnutls-serv can only listen on the wildcard address, so it runs in a private network
    namespace (``netns``: the command prefix of the ``netns`` fixture in test_dcmtk_echo.py)
    where only ``lo`` exists. A filesystem Unix socket is the one path between the namespaces:
    a relay inside forwards it to gnutls-serv, a relay thread here forwards a 127.0.0.1 port to
    it. Bytes pass unchanged; TLS is end to end between the client and gnutls-serv."""
    serv = _require_binary("gnutls-serv")
    _require_binary("ip")
    auth = (["--require-client-cert", "--verify-client-cert"] if require_client_cert
            else ["--disable-client-cert"])
    argv = [serv, "--echo", "-p", NS_PORT, "--priority", priority, "--x509cafile", pki.ca_cert,
            "--x509certfile", pki.server_cert, "--x509keyfile", pki.server_key, *auth]
    listening = f":{NS_PORT:04X} 00000000:0000 0A"
    script = f"""
        ip link set lo up || exit 97
        {shlex.join(str(a) for a in argv)} &
        srv=$! i=0
        until grep -q '{listening}' /proc/net/tcp; do
            kill -0 $srv 2>/dev/null || {{ echo "gnutls-serv exited" >&2; exit 98; }}
            i=$((i+1)); [ $i -gt 300 ] && {{ echo "gnutls-serv did not listen" >&2; exit 98; }}
            sleep 0.05
        done
        exec "$PY" "$HELPER" relay "$SOCK" {NS_PORT} {timeout}
        """
    with tempfile.TemporaryDirectory(prefix="gnutls-ns-") as tmp:
        sock_path = os.path.join(tmp, "relay.sock")
        env = dict(_env(keylog), PY=sys.executable, HELPER=str(Path(__file__).resolve()),
                   SOCK=sock_path)
        with Child([*netns, "sh", "-c", script], env=env) as child:
            if not child.wait_for(lambda c: "RELAY READY" in c.err, 30):
                raise RuntimeError(f"gnutls-serv did not start:\n{child.out}\n{child.err}")
            relay = _Relay(lambda: _connect(socket.AF_UNIX, sock_path), idle=timeout)
            try:
                yield PeerServer(relay.port, child, _gnutls_serv_reports)
            finally:
                relay.close()


def _connect(family, address) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(address)
    return s


def _pump(a: socket.socket, b: socket.socket, idle: float) -> None:
    """Copy both ways until both sides finished sending (half-closes passed on) or ``idle``."""
    other = {a: b, b: a}
    reading = {a, b}
    try:
        a.settimeout(idle), b.settimeout(idle)
        while reading:
            ready, _, _ = select.select(list(reading), [], [], idle)
            if not ready:
                return
            for s in ready:
                data = s.recv(1 << 16)
                if data:
                    other[s].sendall(data)
                else:
                    reading.discard(s)
                    other[s].shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


class _Relay:
    """Pumps each connection to ``listener`` (default: a new 127.0.0.1 port) to ``connect()``."""

    def __init__(self, connect, idle: float, listener: socket.socket | None = None):
        if listener is None:
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
        listener.settimeout(0.2)
        self.listener, self.connect, self.idle = listener, connect, idle
        self.port = listener.getsockname()[1] if listener.family == socket.AF_INET else None
        self._closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = self.connect()
            except OSError:
                conn.close()
                continue
            threading.Thread(target=_pump, args=(conn, upstream, self.idle), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self.thread.join(5)
        self.listener.close()


def _relay_main(sock_path: str, port: int, idle: float, lifetime: float = 600.0) -> None:
    """Inside the namespace: the Unix socket -> 127.0.0.1:port (gnutls-serv)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    relay = _Relay(lambda: _connect(socket.AF_INET, ("127.0.0.1", port)), idle, listener)
    print("RELAY READY", file=sys.stderr, flush=True)
    relay.thread.join(lifetime)  # the test kills us long before; an orphan still goes away


if __name__ == "__main__" and sys.argv[1:2] == ["relay"]:
    _relay_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
