"""Callbacks as boundaries, for every node: an exception from one message, timer tick, service
request or worker step is counted by reason (``<callback>_<ExceptionType>``), logged once per
reason with the last lines of its traceback, then at most once per ``LOG_PERIOD_S`` with the
count since, and the node goes on. A service answers failure with the reason. Pure Python (no
rclpy): the logger is anything with ``error`` and ``warning``."""

from __future__ import annotations

import functools
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

LOG_PERIOD_S = 30.0  # a callback failure's reason is logged once, then at most once per this period


def failed_response(response: Any, name: str, error: BaseException) -> Any:
    """A service response that says the call failed and why (``success``/``message`` where the
    service has them, else an empty response: never half of one)."""
    if hasattr(response, "success") and hasattr(response, "message"):
        response.success = False
        response.message = f"{name} failed: {type(error).__name__}: {error}"[:1000]
        return response
    return type(response)()


class LogThrottle:
    """Which reasons to log now: each the first time, then at most once per ``period_s``, with how
    many came since the last report. Not locked: call it under the lock that guards the counts."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._logged: dict[str, tuple[float, int]] = {}  # reason -> (when, count then)

    def due(self, reason: str, count: int) -> tuple[bool, int | None]:
        """(log now?, count since the last report; None the first time) for ``reason`` at ``count``."""
        now, last = time.monotonic(), self._logged.get(reason)
        if last is not None and now - last[0] < self.period_s:
            return False, 0
        self._logged[reason] = (now, count)
        return True, None if last is None else count - last[1]


class CallbackBoundary:
    """Counts failures by reason and logs each reason once, then once per ``period_s``. Thread safe:
    a node's executor threads and its worker threads share one."""

    def __init__(self, logger: Any, period_s: float = LOG_PERIOD_S) -> None:
        self.logger = logger
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._throttle = LogThrottle(period_s)

    @property
    def period_s(self) -> float:
        return self._throttle.period_s

    @period_s.setter
    def period_s(self, value: float) -> None:
        self._throttle.period_s = value

    def record(self, reason: str, detail: str, error: BaseException | None = None) -> bool:
        """Count one failure; log it when the reason is new or its log period has passed.
        True the first time this reason is seen."""
        with self._lock:
            self.counts[reason] += 1
            due, since = self._throttle.due(reason, self.counts[reason])
        if not due:
            return False
        if since is None:
            where = "".join(traceback.format_exception(error)[-3:]).rstrip() if error is not None else ""
            self.logger.error(f"{reason}: {detail} (skipped; further '{reason}' logged every {self.period_s:.0f} s)"
                              + (f"\n{where}" if where else ""))
        else:
            self.logger.warning(f"{reason}: {since} more since the last report, latest: {detail}")
        return since is None

    def failed(self, name: str, error: BaseException) -> str:
        """Record an exception caught in callback ``name``; its reason."""
        reason = f"{name}_{type(error).__name__}"
        self.record(reason, str(error)[:300], error)
        return reason

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def call(self, name: str, callback: Callable[..., Any], args: tuple, service: bool = False,
             on_failure: Callable[[str], None] | None = None) -> Any:
        """``callback(*args)``; an exception is recorded and swallowed (None, or for a service the
        response, the last argument, saying it failed). ``on_failure(reason)`` runs after."""
        try:
            return callback(*args)
        except Exception as error:  # noqa: BLE001 - the boundary: one message must not kill the node
            reason = self.failed(name, error)
            if on_failure is not None:
                on_failure(reason)
            return failed_response(args[-1], name, error) if service else None

    def guard(self, name: str, callback: Callable[..., Any], service: bool = False,
              on_failure: Callable[[str], None] | None = None) -> Callable[..., Any]:
        """``callback`` that never raises (see ``call``)."""

        @functools.wraps(callback)
        def guarded(*args: Any) -> Any:
            return self.call(name, callback, args, service, on_failure)

        return guarded


def boundary(name: str, service: bool = False, on_failure: str | None = None):
    """Method decorator: the method runs inside ``self.boundary`` (a CallbackBoundary), recorded as
    ``name``; ``on_failure`` names a method of ``self`` called with the reason (a lost frame, say)."""

    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args: Any) -> Any:
            hook = getattr(self, on_failure) if on_failure else None
            return self.boundary.call(name, functools.partial(method, self), args, service, hook)

        return guarded

    return wrap
