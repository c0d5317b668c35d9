"""Hostile peers for the gate's tests and ``benchmarks/bench_attack.py``: many connections from
many loopback source addresses (127.0.0.2 ... : the per-peer cap counts addresses), each
behaving badly in one way, driven by one thread's selector, and bounded in time.

Kinds:
* ``idle``: connects and sends nothing;
* ``drip``: sends a real ClientHello one byte per ``drip_interval``;
* ``half``: sends a whole ClientHello, then nothing (the server's flight is never answered);
* ``plain-drip``: (plain TCP servers) sends an A-ASSOCIATE-RQ header, then a byte at a time.

With ``reconnect`` a connection the server ended is opened again at once, so the pressure holds
for the whole run; ``stats`` counts connects, server closes and resets, and how long each
connection was held before the server ended it.
"""

from __future__ import annotations

import errno
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field


def client_hello() -> bytes:
    """A real TLS 1.2/1.3 ClientHello, from Python's ssl (OpenSSL) over memory BIOs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


ASSOCIATE_RQ_HEADER = bytes([0x01, 0x00, 0x00, 0x00, 0x01, 0x00])  # announces 256 bytes


@dataclass
class Stats:
    connects: int = 0
    refused: int = 0          # reset or refused at connect/first read (over a cap)
    ended_by_server: int = 0  # EOF or reset after being held
    held_seconds: list = field(default_factory=list)  # per connection the server ended

    @property
    def longest_hold(self) -> float:
        return max(self.held_seconds, default=0.0)


class _Conn:
    __slots__ = ("sock", "kind", "opened", "sent", "next_send", "source")


class HostilePeers:
    """``count`` connections to ``port`` spread over ``addresses`` loopback sources, ``kinds``
    cycled; ``run_for(seconds)`` in the caller's thread or ``start()``/``stop()``."""

    def __init__(self, port: int, count: int, kinds=("idle", "drip", "half"), *,
                 addresses: int = 40, reconnect: bool = True, drip_interval: float = 0.5,
                 host_base: str = "127.0.0."):
        self.port = port
        self.count = count
        self.kinds = tuple(kinds)
        self.sources = [f"{host_base}{2 + i}" for i in range(addresses)]
        self.reconnect = reconnect
        self.drip_interval = drip_interval
        self.hello = client_hello()
        self.stats = Stats()
        self._selector = selectors.DefaultSelector()
        self._conns: set = set()
        self._stop = threading.Event()
        self._thread = None

    @property
    def open(self) -> int:
        return len(self._conns)

    def _open(self, i: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        source = self.sources[i % len(self.sources)]
        sock.bind((source, 0))
        sock.setblocking(False)
        err = sock.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.stats.refused += 1
            return
        c = _Conn()
        c.sock, c.kind, c.source = sock, self.kinds[i % len(self.kinds)], i
        c.opened, c.sent, c.next_send = time.monotonic(), 0, time.monotonic()
        self._conns.add(c)
        self._selector.register(sock, selectors.EVENT_READ, c)
        self.stats.connects += 1

    def _payload(self, c) -> bytes:
        if c.kind == "plain-drip":
            return ASSOCIATE_RQ_HEADER + bytes(256)
        return self.hello

    def _tick(self, c, now: float) -> None:
        payload = self._payload(c)
        if c.kind == "idle" or c.sent >= len(payload) or now < c.next_send:
            return
        if c.kind == "half":
            chunk = payload[c.sent:]
        elif c.kind == "plain-drip" and c.sent == 0:
            chunk = payload[:6]
        else:
            chunk = payload[c.sent:c.sent + 1]
        try:
            c.sent += c.sock.send(chunk)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._ended(c, now)
            return
        c.next_send = now + self.drip_interval

    def _ended(self, c, now: float) -> None:
        self._selector.unregister(c.sock)
        c.sock.close()
        self._conns.discard(c)
        held = now - c.opened
        if c.sent == 0 and held < 0.2:
            self.stats.refused += 1
        else:
            self.stats.ended_by_server += 1
            self.stats.held_seconds.append(held)
        if self.reconnect and not self._stop.is_set():
            self._open(c.source)

    def run_for(self, seconds: float) -> Stats:
        end = time.monotonic() + seconds
        for i in range(self.count):
            self._open(i)
        while not self._stop.is_set() and time.monotonic() < end:
            for key, _ in self._selector.select(0.05):
                c = key.data
                try:
                    data = c.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:  # the server closed or reset us
                    self._ended(c, time.monotonic())
                # anything the server sends (its handshake flight) is read and ignored
            now = time.monotonic()
            for c in list(self._conns):
                self._tick(c, now)
        self.close()
        return self.stats

    def start(self, seconds: float) -> "HostilePeers":
        self._thread = threading.Thread(target=self.run_for, args=(seconds,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Stats:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.stats

    def close(self) -> None:
        for c in list(self._conns):
            try:
                self._selector.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
        self._conns.clear()
