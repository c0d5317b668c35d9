"""Shared fixtures: a dev PKI per test session, free loopback ports, and peer discovery.

A missing external peer (openssl CLI, gnutls, ...) skips its tests on a developer machine but fails
them when CI=true or DICOMTLS_REQUIRE_PEERS=1, so CI can never pass by skipping a peer.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

REQUIRE_PEERS = bool(os.environ.get("CI") or os.environ.get("DICOMTLS_REQUIRE_PEERS"))


def missing_peer(message: str):
    """Skip locally, fail in CI: a peer .ci/run should have installed is absent."""
    if REQUIRE_PEERS:
        pytest.fail(message + " (required in CI: .ci/run must install it)")
    pytest.skip(message, allow_module_level=True)


def require_module(name: str):
    """Import a peer's Python module; missing: skip locally, fail in CI (unlike importorskip)."""
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_peer(f"peer module {name!r} is not installed")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_peer(f"peer program {name!r} is not installed")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 10.0):
    """Block until something accepts on 127.0.0.1:port (a peer server has started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited early with code {proc.returncode}: "
                               f"{proc.stdout.read() if proc.stdout else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A fresh CA, server and client certificates (RSA 2048) made through our own binding."""
    from dicomtls.crypto.devpki import create_dev_pki
    return create_dev_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def pki_ec(tmp_path_factory):
    from dicomtls.crypto.devpki import create_dev_pki
    return create_dev_pki(tmp_path_factory.mktemp("pki-ec"), key_type="ec")


@pytest.fixture
def port():
    return free_port()


@pytest.fixture(scope="session")
def netns():
    """A command prefix running its argument in a fresh network namespace (only ``lo``): where
    peers that can only bind every interface (storescp, gnutls-serv) are confined."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        missing_peer("unshare/ip are needed to confine wildcard-binding peers to a private "
                     "network namespace")
    probe = subprocess.run([unshare, "-n", "sh", "-c", "ip link set lo up"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        probe = subprocess.run([unshare, "-rn", "sh", "-c", "ip link set lo up"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            missing_peer(f"cannot create a network namespace: {probe.stderr.strip()}")
        return [unshare, "-rn"]
    return [unshare, "-n"]
