"""Approximate-time matching of several message streams by stamp.

The nodes use message_filters.ApproximateTimeSynchronizer when a ROS 2 install provides it;
message_filters is not on PyPI, so this small matcher serves the wheel-based runtime and is
tested on its own. Unlike message_filters it counts what it drops, for diagnostics.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any


class ApproximateTimeMatcher:
    """Emits one message per stream, each within ``slop`` seconds of the set's depth (stream 0) and
    of its very stamp where that message is queued (see ``_match``)."""

    def __init__(self, streams: int, slop: float, queue_size: int = 10) -> None:
        if streams < 1 or slop < 0 or queue_size < 1:
            raise ValueError("need streams >= 1, slop >= 0, queue_size >= 1")
        self.slop = slop
        self.queues: list[deque[tuple[float, Any]]] = [deque() for _ in range(streams)]
        self.queue_size = queue_size
        self.dropped: Counter = Counter()

    def clear(self) -> None:
        """Forget every queued message (a jump back in stamps); the drop counts stay."""
        for queue in self.queues:
            queue.clear()

    def add(self, stream: int, stamp: float, message: Any) -> list[Any] | None:
        """Add a message; returns the matched messages (stream order) when a set is complete."""
        queue = self.queues[stream]
        if queue and stamp < queue[-1][0]:
            self.dropped["out_of_order"] += 1
            return None
        queue.append((stamp, message))
        if len(queue) > self.queue_size:
            queue.popleft()
            self.dropped["queue_overflow"] += 1
        return self._match(stamp)

    def _match(self, pivot: float) -> list[Any] | None:
        """The set the message at ``pivot`` completes: the depth (stream 0) of that stamp, else the
        one nearest to it; per other stream the message of the depth's very stamp when it is
        queued (a frame's own mask, not its neighbour's 10 ms off at 100 Hz), else the nearest to
        the depth within the slop (partners on their own clock are not kept waiting)."""
        anchor = self._nearest(self.queues[0], pivot)
        if anchor is None:
            return None
        chosen = [anchor]
        for queue in self.queues[1:]:
            best = self._nearest(queue, anchor[0])
            if best is None:
                return None
            chosen.append(best)
        newest = max(stamp for stamp, _ in chosen)
        for queue, pick in zip(self.queues, chosen):
            while queue and queue[0][0] <= pick[0]:
                stamp, _ = queue.popleft()
                if stamp < pick[0]:
                    self.dropped["unmatched"] += 1
        # what is left older than the matched set can never match any more
        for queue in self.queues:
            while queue and queue[0][0] < newest - self.slop:
                queue.popleft()
                self.dropped["unmatched"] += 1
        return [message for _, message in chosen]

    def _nearest(self, queue: deque[tuple[float, Any]], stamp: float) -> tuple[float, Any] | None:
        """The queued message nearest to ``stamp`` (its own stamp first) within the slop; ties: the older."""
        best = min(queue, key=lambda item: abs(item[0] - stamp), default=None)
        if best is None or abs(best[0] - stamp) > self.slop:
            return None
        return best


class StampedBuffer:
    """Latest messages of one stream, looked up by nearest stamp within a slop."""

    def __init__(self, size: int = 100) -> None:
        self.items: deque[tuple[float, Any]] = deque(maxlen=size)

    def add(self, stamp: float, message: Any) -> None:
        self.items.append((stamp, message))

    def snapshot(self) -> tuple[tuple[float, Any], ...]:
        """The items now: one C-level copy, so a reader on another thread never iterates a deque
        that the subscription thread is appending to ("deque mutated during iteration")."""
        return tuple(self.items)

    def nearest(self, stamp: float, slop: float) -> Any | None:
        best = min(self.snapshot(), key=lambda item: abs(item[0] - stamp), default=None)
        return best[1] if best is not None and abs(best[0] - stamp) <= slop else None

    def settled_nearest(self, stamp: float, slop: float, exact: float = 1e-6) -> Any | None:
        """The message of ``stamp`` (within ``exact``), else the nearest within ``slop`` but only
        once the stream has passed ``stamp`` (a message at or after it arrived): before that the
        message of that very stamp may still come, and a neighbour's (a camera pose 10 ms off at
        100 Hz) is the wrong one. None = not (yet) available."""
        items = self.snapshot()
        best = min(items, key=lambda item: abs(item[0] - stamp), default=None)
        if best is None or abs(best[0] - stamp) > slop:
            return None
        if abs(best[0] - stamp) <= exact or any(item[0] >= stamp for item in items):
            return best[1]
        return None
