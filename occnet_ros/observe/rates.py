"""Diagnostic levels from what happened recently, not from lifetime totals (pure Python, no ROS).

A node samples its cumulative counts (frames received, processed, dropped, ...) at every
diagnostics tick. ``RecentCounts`` keeps the samples of the last ``WINDOW_S`` seconds and gives
what changed over that window; ``rate_level`` turns the change into a level:

- ERROR: items arrived over a whole window and not one was handled (no TF, a stuck input, every
  reconstruction failing);
- WARN: more than ``WARN_FRACTION`` of the items handled or lost in the window were lost;
- OK otherwise, also when nothing arrived (an idle node is not at fault).

So one skipped frame is WARN for at most one window, then OK again; sustained drops stay WARN.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

OK, WARN, ERROR = 0, 1, 2  # the byte values of diagnostic_msgs/DiagnosticStatus
WINDOW_S = 10.0  # seconds of history the levels are judged on
WARN_FRACTION = 0.05  # WARN above this lost fraction in the window


@dataclass(frozen=True)
class Recent:
    """What the counts did in the window: ``counts`` holds each total's change."""

    counts: dict[str, int]
    seconds: float  # time the window covers (less than the window while the node starts)
    full: bool  # it covers the whole window

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)


class RecentCounts:
    """Samples of cumulative counts over time; ``update`` gives their change over the last
    ``window_s`` seconds (from the newest sample at least that old, so a change counts for at
    most one window after the sample that first saw it). A change is never below zero (a count
    that is an estimate may dip); a clock that goes back starts the window again."""

    def __init__(self, window_s: float = WINDOW_S, start: float | None = None) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_s = window_s
        self.samples: deque[tuple[float, dict[str, int]]] = deque()
        if start is not None:  # every count starts at zero then
            self.samples.append((start, {}))

    def update(self, now: float, totals: Mapping[str, int]) -> Recent:
        totals = {k: int(v) for k, v in totals.items()}
        if self.samples and now < self.samples[-1][0]:
            self.samples.clear()
        self.samples.append((now, totals))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.window_s:
            self.samples.popleft()
        start, first = self.samples[0]
        seconds = now - start
        return Recent({k: max(0, v - first.get(k, 0)) for k, v in totals.items()}, seconds, seconds >= self.window_s)


def rate_level(recent: Recent, arrived: str, handled: str, lost: Iterable[str], noun: str,
               warn_fraction: float = WARN_FRACTION) -> tuple[int, str]:
    """The level and, unless OK, why, from the window's counts: ``arrived`` items came in,
    ``handled`` were done, the ``lost`` keys were lost (the keys read as words in the message)."""
    lost = tuple(lost)
    n_lost, n_handled = sum(recent[k] for k in lost), recent[handled]
    if recent.full and recent[arrived] > 0 and n_handled == 0:
        return ERROR, f"{recent[arrived]} {noun} {arrived} in the last {recent.seconds:.0f} s, none {handled}"
    total = n_handled + n_lost
    if total and n_lost / total > warn_fraction:
        return WARN, f"{n_lost} of {total} {noun} {'/'.join(lost)} in the last {recent.seconds:.0f} s"
    return OK, ""


def worst(*verdicts: tuple[int, str]) -> tuple[int, str]:
    """The highest level of several and the reasons of those not OK."""
    return max((level for level, _ in verdicts), default=OK), "; ".join(text for level, text in verdicts if level != OK)
