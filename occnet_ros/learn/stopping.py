"""A training run stopped by SIGINT (Ctrl-C) or SIGTERM (a job's time limit) finishes its step,
saves its state and logs its chunk, so no step is lost and the next run resumes exactly; a
second signal stops it at once, as the default handlers would."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class StopRequest:
    """Set by the first signal: its name, or None while none came."""

    signal: str | None = None


@contextmanager
def stop_on_signals(enabled: bool = True) -> Iterator[StopRequest]:
    """Within the block the first SIGINT/SIGTERM only sets the request; the handlers are restored after.
    Signal handlers can be set from the main thread only: elsewhere (or not enabled) nothing is installed."""
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {number: signal.getsignal(number) for number in SIGNALS}

    def handle(number: int, _frame: object) -> None:
        request.signal = signal.Signals(number).name
        log.warning("%s: stopping after this step and saving the state (send it again to stop at once)", request.signal)
        for other, handler in previous.items():
            signal.signal(other, handler)

    for number in SIGNALS:
        signal.signal(number, handle)
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
