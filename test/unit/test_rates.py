"""Diagnostic levels from the recent window (observe/rates.py): one lost frame is WARN for at most
the window, sustained drops stay WARN, nothing handled while inputs arrive is ERROR."""

from __future__ import annotations

import pytest

from occnet_ros.observe.rates import ERROR, OK, WARN, RecentCounts, rate_level, worst

WINDOW = 10.0


def frames(recent):
    return rate_level(recent, "received", "processed", ("dropped",), "frames")


def run(ticks, window=WINDOW):
    """Levels at 1 s ticks; ticks: per second, (processed, dropped) that second."""
    counts, totals, levels = RecentCounts(window, start=0.0), {"received": 0, "processed": 0, "dropped": 0}, []
    for second, (processed, dropped) in enumerate(ticks, start=1):
        totals = {"received": totals["received"] + processed + dropped, "processed": totals["processed"] + processed,
                  "dropped": totals["dropped"] + dropped}
        levels.append(frames(counts.update(float(second), totals)))
    return levels


def test_one_skipped_frame_warns_for_at_most_the_window_then_ok():
    levels = run([(1, 0)] * 3 + [(0, 1)] + [(1, 0)] * 20)  # 1 Hz: one frame in ten is over WARN_FRACTION
    warned = [i + 1 for i, (level, _) in enumerate(levels) if level == WARN]
    assert warned == list(range(4, 14))  # from the tick that first saw it, for one window
    assert all(level == OK for level, _ in levels[:3] + levels[13:])
    assert levels[4][1] == "1 of 5 frames dropped in the last 5 s" and levels[12][1] == "1 of 10 frames dropped in the last 10 s"


def test_sustained_drops_stay_warn():
    levels = run([(10, 0)] * 3 + [(7, 3)] * 30)
    assert all(level == OK for level, _ in levels[:3]) and all(level == WARN for level, _ in levels[3:]), levels
    assert levels[-1][1] == "30 of 100 frames dropped in the last 10 s"


def test_a_rate_below_the_threshold_is_ok():
    assert all(level == OK for level, _ in run([(99, 1)] * 15))  # 1 %: one frame now and then at 100 Hz


def test_nothing_processed_while_frames_arrive_is_error_once_the_window_is_full():
    levels = run([(10, 0)] * 3 + [(0, 10)] * 15)
    assert levels[4][0] == WARN  # the window still holds processed frames
    assert all(level == ERROR for level, _ in levels[12:])  # ten seconds without one
    assert levels[-1] == (ERROR, "100 frames received in the last 10 s, none processed")
    counts = RecentCounts(WINDOW, start=0.0)
    assert frames(counts.update(5.0, {"received": 50})) == (OK, "")  # frames waiting, window not yet full
    assert frames(counts.update(10.0, {"received": 100}))[0] == ERROR


def test_an_idle_node_is_ok_and_a_clock_that_goes_back_restarts_the_window():
    counts = RecentCounts(WINDOW, start=0.0)
    assert frames(counts.update(1.0, {"received": 5, "processed": 4, "dropped": 1}))[0] == WARN
    assert frames(counts.update(30.0, {"received": 5, "processed": 4, "dropped": 1})) == (OK, "")  # no input lately
    assert counts.update(31.0, {"received": 5, "processed": 4, "dropped": 0})["dropped"] == 0  # an estimate that dips
    recent = counts.update(2.0, {"received": 9, "processed": 9})
    assert recent.counts == {"received": 0, "processed": 0} and recent.seconds == 0 and not recent.full


def test_worst_keeps_every_reason_and_bad_windows_are_refused():
    assert worst((OK, ""), (WARN, "a"), (ERROR, "b")) == (ERROR, "a; b")
    assert worst((OK, ""), (OK, "")) == (OK, "")
    with pytest.raises(ValueError):
        RecentCounts(0.0)


def test_log_throttle_reports_once_then_per_period_with_the_count_since(monkeypatch):
    """The one throttle of the node boundaries and the observation node's skip logs."""
    from occnet_ros.nodes import boundary

    now = [100.0]
    monkeypatch.setattr(boundary.time, "monotonic", lambda: now[0])
    throttle = boundary.LogThrottle(2.0)
    assert throttle.due("a", 1) == (True, None)
    assert throttle.due("a", 2) == (False, 0) and throttle.due("b", 1) == (True, None)
    now[0] += 2.5
    assert throttle.due("a", 7) == (True, 6)
    assert throttle.due("a", 8) == (False, 0)
