"""How a `dicomtls` server command runs once its server is built: serve until a signal,
then drain and abort (``serve_and_drain``), in one process or in each worker of
`serve --workers` (``serve_workers``), and the line that says how it ended."""

from __future__ import annotations

import signal

#: Seconds a stopping server lets the associations in flight finish before it aborts them.
DRAIN_TIMEOUT = 30.0


def serve_and_drain(server, drain: float, announce, stopping) -> tuple[bool, dict]:
    """Serve until SIGTERM/SIGINT (handlers in place before ``announce()``), then
    ``stopping(why)`` and ``server.shutdown(drain)``; a second signal, or SIGUSR1 at any time
    (what `serve --workers` sends its workers for a second signal), aborts the associations
    at once. The handlers only set flags and wake threads: the work runs here, in the main
    thread, after they return. Returns (whether a signal ended it, shutdown's outcome)."""
    received: list = []

    # Handlers only record and wake (no lock: a handler may run inside its own thread's
    # ``Event.set`` or a held lock, and a second signal may run inside the first's handler);
    # the server's own threads do the work.
    def on_signal(signum, _frame) -> None:
        received.append(signum)
        if len(received) == 1:
            server.stop_accepting()
        else:
            server.request_abort()

    def on_abort(signum, _frame) -> None:   # SIGUSR1: abort at once, whatever came before
        received.append(signum)
        server.request_abort()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_abort)
    # The kernel may hand a signal to any thread (an association's, say); Python runs the
    # handler in the main thread only, which may be asleep in the gate or the drain meanwhile:
    # the wakeup fd wakes it.
    wakeup = getattr(server, "signal_wakeup_fd", None)
    previous_fd = signal.set_wakeup_fd(wakeup(), warn_on_full_buffer=False) if wakeup else None
    try:
        announce()
        server.serve_forever()
        stopping(signal.Signals(received[0]).name if received else "the listener failed")
        aborting = getattr(server, "abort_requested", False)
        return bool(received), server.shutdown(0.0 if aborting else drain)
    finally:
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stopped_line(outcome: dict) -> str:
    return (f"stopped ({outcome['drained']} finished, {outcome['aborted']} aborted"
            + (f", {outcome['stuck']} did not end" if outcome["stuck"] else "") + ")")


__all__ = ["DRAIN_TIMEOUT", "serve_and_drain", "stopped_line"]
