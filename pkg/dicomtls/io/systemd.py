"""systemd's service notification protocol (``sd_notify(3)``) without libsystemd: one
``AF_UNIX`` ``SOCK_DGRAM`` datagram of newline-separated ``KEY=VALUE`` fields to the socket named
by ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace).

Outside systemd (no ``$NOTIFY_SOCKET``) every call here is a no-op that returns False, so a
server calls them unconditionally. A send that fails (the manager went away, a full queue) is
logged at debug level and reported as False, never raised: notifications must not stop a server.

``ServiceNotifier`` is what `dicomtls serve` uses: ``ready()`` once the listener is bound
(``READY=1``), ``stopping()`` when a graceful stop starts (``STOPPING=1``, then ``STATUS=``
updates while the associations in flight drain), and, when the unit sets ``WatchdogSec=``
(``$WATCHDOG_USEC``, for this process if ``$WATCHDOG_PID`` is set), ``WATCHDOG=1`` every half
interval. The pings and the drain status come from one daemon thread, started by ``ready()``
and ended by ``close()``; a ping says the process still runs Python code, no more.
``NOTIFY_SOCKET`` stays in the environment (``sd_notify``'s ``unset_environment`` is not
offered): dicomtls starts no child processes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable, Mapping, Optional, Union

log = logging.getLogger(__name__)

#: s: a send waits at most this long for room in the manager's queue (it never should).
SEND_TIMEOUT = 1.0
#: s: while stopping, how often the drain status is re-read (sent only when it changed).
STATUS_PERIOD = 0.5


def notify_address(environ: Optional[Mapping[str, str]] = None) -> Union[str, bytes, None]:
    """The address ``$NOTIFY_SOCKET`` names: a path, the abstract name (``@x`` becomes
    ``b"\\0x"``), or None when it is unset or of a kind not supported here (``vsock:``)."""
    value = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return value
    return None


def notify(state: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Send ``state`` (``"READY=1\\nSTATUS=..."``) to the service manager; whether it was sent
    (False at once when not run by systemd with a notify socket)."""
    address = notify_address(environ)
    if address is None or not state:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(SEND_TIMEOUT)
            sock.connect(address)
            sock.sendall(state.encode("utf-8", "replace"))
    except OSError as exc:
        log.debug("sd_notify %r failed: %s", state, exc)
        return False
    return True


def watchdog_interval(environ: Optional[Mapping[str, str]] = None) -> Optional[float]:
    """Seconds of the unit's ``WatchdogSec=`` (``$WATCHDOG_USEC``) if it applies to this process
    (``$WATCHDOG_PID`` unset or ours), else None: like ``sd_watchdog_enabled(3)``."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
        pid = int(env.get("WATCHDOG_PID") or os.getpid())
    except ValueError:
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 1e6


def _status_line(text: str) -> str:
    return "STATUS=" + " ".join(text.split())   # one line: a newline would start a new field


class ServiceNotifier:
    """The notifications of one server's life (see the module docstring); every method is a
    no-op outside systemd. ``close()`` stops the helper thread (it is a daemon thread: it never
    keeps the process alive) and waits for it."""

    def __init__(self, environ: Optional[Mapping[str, str]] = None):
        self._environ = dict(os.environ if environ is None else environ)
        self.enabled = notify_address(self._environ) is not None
        self.watchdog = watchdog_interval(self._environ) if self.enabled else None
        self._cond = threading.Condition()
        self._closed = False
        self._progress: Optional[Callable[[], str]] = None
        self._last_status: Optional[str] = None
        self._thread: Optional[threading.Thread] = None

    def notify(self, *fields: str) -> bool:
        return notify("\n".join(f for f in fields if f), self._environ)

    def ready(self, status: str = "") -> bool:
        """``READY=1`` (with ``STATUS=status``): the listener is bound and connections are
        accepted; starts the thread (the watchdog pings, if the unit asked for them)."""
        with self._cond:
            self._last_status = status or None
            sent = self.notify("READY=1", _status_line(status) if status else "")
        if self.enabled:
            # Now, not in stopping(): a stop then only hands the thread its progress and goes
            # on with the drain at once. Without a watchdog it sleeps until then.
            self._start()
        return sent

    def status(self, text: str) -> bool:
        """``STATUS=text``; ends the progress updates of ``stopping()`` (a later ``progress()``
        must not overwrite what is said now)."""
        with self._cond:
            self._progress = None
            self._last_status = text
            return self.notify(_status_line(text))

    def stopping(self, status: str = "", progress: Optional[Callable[[], str]] = None) -> bool:
        """``STOPPING=1`` (with ``STATUS=status``); then, until ``status()`` or ``close()``,
        ``progress()`` (e.g. "draining 3 associations") is re-read every ``STATUS_PERIOD`` s
        and sent as ``STATUS=`` whenever it changed."""
        with self._cond:
            self._last_status = status or None
            sent = self.notify("STOPPING=1", _status_line(status) if status else "")
            if progress is not None and self.enabled:
                self._progress = progress
                self._cond.notify_all()   # wakes the thread (waiting out a ping period)
        if progress is not None and self.enabled:
            self._start()   # already running after ready()
        return sent

    def _start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="sd-notify", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        # Decisions and sends happen under the lock, as in the other methods, so datagrams
        # leave in the order their states were decided (never a stale "draining 1" after
        # "stopped"). A send waits SEND_TIMEOUT at most.
        ping_every = self.watchdog / 2 if self.watchdog is not None else None
        next_ping = time.monotonic()   # the first ping right after READY=1
        with self._cond:
            while not self._closed:
                fields = []
                now = time.monotonic()
                if ping_every is not None and now >= next_ping:
                    fields.append("WATCHDOG=1")
                    next_ping = now + ping_every
                if self._progress is not None:
                    text = self._read(self._progress)
                    if text is not None and text != self._last_status:
                        self._last_status = text
                        fields.append(_status_line(text))
                if fields:
                    self.notify(*fields)
                waits = [next_ping - time.monotonic()] if ping_every is not None else []
                if self._progress is not None:
                    waits.append(STATUS_PERIOD)
                # no ping and no progress: only stopping() or close() wakes the thread
                self._cond.wait(max(0.0, min(waits)) if waits else None)

    @staticmethod
    def _read(progress: Callable[[], str]) -> Optional[str]:
        try:
            return progress()
        except Exception as exc:  # a status must never end the pings
            log.debug("status of the drain failed: %s", exc)
            return None

    def close(self, timeout: float = 2.0) -> None:
        """Stop the pings and status updates; wait up to ``timeout`` s for the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the helper thread (watchdog pings, drain status) is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def __enter__(self) -> "ServiceNotifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ServiceNotifier", "notify", "notify_address", "watchdog_interval"]
