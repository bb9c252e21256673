"""Input guards of the observation node, pure Python: names from outside bounded, stamp jumps,
sequence gaps and the object cap. Each counts what it cuts or drops. (Callback exceptions are
the nodes' ``occnet_ros.nodes.boundary``.)"""

from __future__ import annotations

import math
from collections.abc import Iterable

MAX_CLASS_NAME_CHARS = 64


def bound_class_name(name: str, limit: int = MAX_CLASS_NAME_CHARS) -> tuple[str, bool]:
    """A class name from a segmenter cut to ``limit`` characters, control characters removed;
    and whether anything was cut. The name stays data: the save path is built elsewhere."""
    text = "".join(ch for ch in str(name) if ch.isprintable())
    cut = text[:limit]
    return cut, cut != name


class StampGate:
    """Frame stamps must not go backwards; a jump forwards by more than ``max_jump_s`` is held
    as a glitch (that frame skipped) until the next frame follows it, which resets the
    timeline to the new clock (a warning for the node) instead of blocking every later frame
    as stamp_backwards. ``max_jump_s <= 0`` turns the jump check off."""

    def __init__(self, max_jump_s: float) -> None:
        self.max_jump_s = max_jump_s
        self.last = -math.inf
        self.candidate: float | None = None

    def check(self, stamp: float) -> str:
        """'ok', 'reset' (a confirmed forward jump: go on from ``stamp``), 'stamp_backwards' or
        'stamp_jump_forward' (skip the frame). Call ``commit`` once the frame is used."""
        if not math.isfinite(stamp):
            return "stamp_invalid"
        jump = self.max_jump_s > 0 and math.isfinite(self.last) and stamp - self.last > self.max_jump_s
        if not jump:
            self.candidate = None
            return "stamp_backwards" if stamp < self.last else "ok"
        if self.candidate is not None and 0.0 <= stamp - self.candidate <= self.max_jump_s:
            self.candidate = None
            return "reset"
        self.candidate = stamp
        return "stamp_jump_forward"

    def commit(self, stamp: float) -> None:
        self.last = stamp

    def reset(self) -> None:
        self.last, self.candidate = -math.inf, None


class StampJumpWatch:
    """Input stamps far behind their input's newest (a bag replayed with --loop, a restarted
    sensor): the first input seen jumping back asks for one reset of everything keyed by stamp;
    the same jump seen on the other inputs afterwards belongs to that reset. Per input, since one
    topic keeps its order and topics do not. A lone stamp more than ``max_forward_s`` ahead (the
    StampGate's glitch) does not move the newest until the next one confirms it."""

    def __init__(self, inputs: int, reset_s: float, max_forward_s: float = 0.0) -> None:
        self.reset_s, self.max_forward_s = reset_s, max_forward_s
        self.newest = [-math.inf] * inputs
        self.ahead: list[float | None] = [None] * inputs  # a stamp far ahead, not yet confirmed
        self.jumped: set[int] = set()
        self.resets = 0

    def observe(self, index: int, stamp: float) -> float | None:
        """The jump back in seconds when this stamp asks for a reset, else None."""
        newest, ahead = self.newest[index], self.ahead[index]
        self.ahead[index] = None
        if self.max_forward_s > 0 and math.isfinite(newest) and stamp - newest > self.max_forward_s:
            if ahead is None or not 0.0 <= stamp - ahead <= self.max_forward_s:
                self.ahead[index] = stamp  # a glitch until the next stamp follows it
                return None
        if not math.isfinite(stamp) or stamp >= newest - self.reset_s:
            if math.isfinite(stamp):
                self.newest[index] = max(newest, stamp)
            return None
        self.newest[index] = stamp
        jump = None
        if self.jumped and index not in self.jumped:
            self.jumped.add(index)  # the same jump, seen on another input
        else:
            self.jumped = {index}
            self.resets += 1
            jump = newest - stamp
        if len(self.jumped) == len(self.newest):
            self.jumped = set()
        return jump


class SequenceGaps:
    """Messages lost before a callback ran, from the publisher's sequence numbers
    (rclpy MessageInfo): the RMW's own message-lost event is not reliable."""

    def __init__(self) -> None:
        self.last: dict[object, int] = {}
        self.lost = 0

    def observe(self, publisher: object, sequence: int | None) -> int:
        """Messages missed before this one; 0 when the RMW gives no sequence numbers."""
        if not sequence or sequence >= 2**63:  # 0 / UINT64_MAX: unsupported
            return 0
        previous = self.last.get(publisher)
        self.last[publisher] = sequence
        if previous is None or sequence <= previous:  # first message, or the publisher restarted
            return 0
        gap = sequence - previous - 1
        self.lost += gap
        return gap


def objects_to_retire(objects: Iterable, max_objects: int, keep: Iterable[int] = ()) -> list[int]:
    """Ids to retire so at most ``max_objects`` remain: the least-seen first (fewest views),
    then the longest unseen; ids in ``keep`` (this frame's) go last. ``max_objects <= 0``: none."""
    objects = list(objects)
    excess = len(objects) - max_objects
    if max_objects <= 0 or excess <= 0:
        return []
    keep = set(keep)
    order = sorted(objects, key=lambda o: (o.id in keep, o.views_seen, o.last_seen, o.id))
    return [o.id for o in order[:excess]]


class InputRejected(ValueError):
    """A message the node cannot use, with the reason it is counted under."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
