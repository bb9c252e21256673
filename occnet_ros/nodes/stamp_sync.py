"""message_filters' ApproximateTimeSynchronizer, matching a frame's own messages first.

Its ``add`` matches as soon as every input holds *some* message within the slop of the new one:
at 100 Hz with a 20 ms slop, a depth image that arrives before its segmentation (the executor
takes ready subscriptions in its own order, more so under load) is matched with the previous
frame's segmentation, or a stale one whose depth was lost, and the mask lands on the wrong
pixels (objects appear that are not there). Here each depth message (input 0) is matched:

* with the messages of its exact stamp, whenever they are there (publishers that stamp a frame's
  messages alike, as the segmentation nodes do);
* an input seen stamped exactly like the depth (since the last clear) is matched exactly only
  from then on: its publisher stamps a frame's messages alike, so a lost partner means the
  frame is incomplete (counted as not matched), and its neighbour's message is the wrong one;
* otherwise (an input stamped on its own clock) with the nearest message within the slop, but
  only once that input has passed the depth stamp (a message at or after it arrived): each
  topic arrives in order, so then no nearer message will come.

Messages older than a match are dropped (they belong to frames that can no longer complete).
"""

from __future__ import annotations

import message_filters
from rclpy.time import Time


class ExactFirstSynchronizer(message_filters.ApproximateTimeSynchronizer):
    def __init__(self, fs, queue_size: int, slop: float) -> None:
        super().__init__(fs, queue_size, slop)
        self.slop_ns = int(round(slop * 1e9))
        self.newest = [None] * len(self.queues)
        self.identical = [False] * len(self.queues)  # input i has been stamped exactly like the depth

    def clear(self) -> None:
        """Forget every queued message and how far each input got (a jump back in stamps)."""
        with self.lock:
            for queue in self.queues:
                queue.clear()
            self.newest = [None] * len(self.queues)
            self.identical = [False] * len(self.queues)

    def add(self, msg, my_queue, my_queue_index=None):
        if not hasattr(msg, "header") or not hasattr(msg.header, "stamp"):
            return super().add(msg, my_queue, my_queue_index)
        stamp = msg.header.stamp
        stamp = stamp.nanoseconds if hasattr(stamp, "nanoseconds") else Time.from_msg(stamp).nanoseconds
        index = my_queue_index if my_queue_index is not None else next(i for i, q in enumerate(self.queues) if q is my_queue)
        with self.lock:
            my_queue[stamp] = msg
            while len(my_queue) > self.queue_size:
                del my_queue[min(my_queue)]
            if self.newest[index] is None or stamp > self.newest[index]:
                self.newest[index] = stamp
            self._match()

    def _pick(self, index: int, pivot: int) -> int | None:
        queue = self.queues[index]
        if pivot in queue:
            return pivot
        if self.identical[index] or self.newest[index] is None or self.newest[index] < pivot:
            return None  # stamped like the depth: exact only; or its message of this stamp may still come
        near = [s for s in queue if abs(s - pivot) <= self.slop_ns]
        return min(near, key=lambda s: abs(s - pivot)) if near else None

    def _match(self) -> None:
        for pivot in sorted(self.queues[0]):
            chosen = [pivot] + [self._pick(i, pivot) for i in range(1, len(self.queues))]
            if any(s is None for s in chosen) or max(chosen) - min(chosen) > self.slop_ns:
                continue
            for i, s in enumerate(chosen):
                self.identical[i] = self.identical[i] or s == pivot
            msgs = [queue[s] for queue, s in zip(self.queues, chosen)]
            for queue, s in zip(self.queues, chosen):
                for old in [t for t in queue if t <= s]:
                    del queue[old]
            self.signalMessage(*msgs)
            self._match()
            return
