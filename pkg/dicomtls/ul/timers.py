"""Deadlines for the Upper Layer's ARTIM timer, with the clock injected.

Nothing here sleeps or spawns a thread: the io layer asks ``remaining()`` to size its select or
socket timeout and ``expired()`` when it wakes, then feeds ``Evt18`` to the state machine. Tests
pass a fake clock and advance it by hand.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Optional

from .fsm import StartARTIM, StopARTIM

Clock = Callable[[], float]


class Deadline:
    """A point ``seconds`` after construction (or after ``restart``) on a monotonic ``clock``."""

    def __init__(self, seconds: float, clock: Clock = time.monotonic):
        if seconds < 0:
            raise ValueError("a deadline cannot lie in the past")
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def restart(self, seconds: Optional[float] = None) -> None:
        if seconds is not None:
            self.seconds = seconds
        self._at = self._clock() + self.seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._at

    def __repr__(self):
        return f"<Deadline {self.remaining():.3f}s of {self.seconds}s left>"


class ARTIMTimer:
    """The ARTIM timer as the state machine's outputs drive it.

    ``apply(outputs)`` starts (or restarts) on ``StartARTIM`` and stops on ``StopARTIM``;
    ``expired()`` is true once a running timer has run out, at which point the caller sends
    ``Evt18`` and the timer counts as stopped so the event is delivered once.
    """

    def __init__(self, timeout: float, clock: Clock = time.monotonic):
        self.timeout = timeout
        self._clock = clock
        self._deadline: Optional[Deadline] = None

    @property
    def running(self) -> bool:
        return self._deadline is not None

    def start(self) -> None:
        self._deadline = Deadline(self.timeout, self._clock)

    def stop(self) -> None:
        self._deadline = None

    def apply(self, outputs: Iterable[object]) -> None:
        for output in outputs:
            if isinstance(output, StartARTIM):
                self.start()
            elif isinstance(output, StopARTIM):
                self.stop()

    def remaining(self) -> Optional[float]:
        """Seconds until expiry, or None when not running (wait without a timeout)."""
        return None if self._deadline is None else self._deadline.remaining()

    def expired(self) -> bool:
        """True once per expiry: the timer stops itself when it reports it."""
        if self._deadline is None or not self._deadline.expired():
            return False
        self._deadline = None
        return True
