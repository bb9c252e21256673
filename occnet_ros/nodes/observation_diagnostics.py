"""The observation node's diagnostics: skip counts by reason and load figures (a mixin of ObservationNode).

The level comes from the last ``WINDOW_S`` seconds (observe/rates.py): OK, WARN when more than
``WARN_FRACTION`` of the frames were dropped, ERROR when frames arrived and none was processed.
Lifetime counts are the values; a key is there only when it says something (no zero loss keys).
"""

from __future__ import annotations

import time
from collections import Counter

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from occnet_ros.nodes.boundary import LogThrottle
from occnet_ros.nodes.pose import TopicPoses
from occnet_ros.observe.rates import WINDOW_S, RecentCounts, rate_level

LOG_PERIOD_S = 2.0  # a skip reason is logged at most this often after its first time

ALWAYS = ("frames_received", "frames_processed", "objects")  # reported even at zero; other keys only when not


def info_subscriber(message_filters, *args, **kwargs):
    """A message_filters.Subscriber that keeps the last message's MessageInfo (``last_info``), so
    sequence gaps are counted on that path too (its own callback takes the message alone)."""

    class InfoSubscriber(message_filters.Subscriber):
        last_info = None

        def callback(self, msg, info):
            self.last_info = info
            self.signalMessage(msg)

    return InfoSubscriber(*args, **kwargs)


class ObservationDiagnostics:
    """Counts and load figures of the observation node, published on /diagnostics."""

    def __init__(self, *args, **kwargs) -> None:
        self.recent = RecentCounts(WINDOW_S, start=time.monotonic())  # before Node's init: its timers may fire
        self.skip_log_throttle = LogThrottle(LOG_PERIOD_S)
        super().__init__(*args, **kwargs)

    def note_arrival(self, index: int, info=None) -> None:
        """Count an input; sequence gaps of the depth stream are frames lost before any callback;
        a depth frame without any camera_info / segmentation so far is reported at once."""
        self.arrived[index] += 1
        if index != 0:
            return
        if info is not None:
            lost = self.gaps.observe(bytes(info.get("publisher_gid", {}).get("data", b"")) if isinstance(info, dict) else None,
                                     info.get("publication_sequence_number") if isinstance(info, dict) else None)
            if lost:
                self.skip("sequence_gap", f"{lost} depth frames lost before the node saw them", lost)
        for other, reason, topic in ((1, "camera_info_missing", "depth/camera_info"), (2, "segmentation_missing", "segmentation")):
            if self.arrived[other] == 0:
                self.note(reason, f"depth frame {self.arrived[0]} but no {topic} message has arrived yet")

    def note(self, reason: str, detail: str = "") -> None:
        """Count (and log: in full the first time, then rate-limited) something that is not a lost frame."""
        with self.count_lock:
            self.skipped[reason] += 1
        self._log(reason, f"{reason} {detail}".strip())

    def skip(self, reason: str, detail: str = "", frames: int = 1) -> None:
        """Count ``frames`` lost frames under ``reason`` (and log it)."""
        with self.count_lock:
            self.skipped[reason] += frames
            self.dropped_frames += frames
        self._log(reason, f"skipped frame: {reason} {detail}".strip())

    def _log(self, reason: str, text: str) -> None:
        """Each reason in full the first time, then at most every LOG_PERIOD_S with the count since.
        Throttled here, not with rclpy's throttle_duration_sec: rclpy finds the caller's file (inspect
        + realpath) on every call, which under a flood of skips starved the input callbacks."""
        with self.count_lock:
            due, since = self.skip_log_throttle.due(reason, self.skipped[reason])
        if due:
            self.get_logger().warning(text if since is None else f"{text} ({since} since the last report)")

    @property
    def stamp_resets(self) -> int:
        return self.stamp_jumps.resets

    def frame_failed(self, reason: str) -> None:
        """A frame lost to an exception (counted by reason in ``self.boundary``): one dropped frame."""
        with self.count_lock:
            self.dropped_frames += 1

    def diagnostic_counts(self) -> dict[str, int]:
        counts = Counter(self.skipped)
        counts.update(self.boundary.snapshot())  # callback exceptions: <callback>_<ExceptionType>
        if self.matcher is not None:
            counts.update({f"sync_{k}": v for k, v in self.matcher.dropped.items()})
        if isinstance(self.poses, TopicPoses) and self.poses.wrong_frame:
            counts["pose_wrong_frame"] = self.poses.wrong_frame
        counts.update({f"segmentation_{k}": v for k, v in self.segmentation.skipped.items()})
        if self.camera_model.wrapped_pixels:
            counts["depth_wrapped_pixels"] = self.camera_model.wrapped_pixels
        return dict(counts)

    def load_figures(self) -> dict[str, float]:
        """What reached the node, what it processed and what it lost (each lost frame counted once):
        sequence gaps, frames the synchroniser could not match, queue overwrites, stale skips
        and every other skip reason; ``frames_waiting`` are still queued."""
        waiting_sync = len(self.matcher.queues[0]) if self.matcher is not None else 0
        sync_dropped = max(0, self.arrived[0] - self.matched - waiting_sync)
        with self.pending_lock:
            waiting = len(self.pending)
        sent = self.arrived[0] + self.gaps.lost
        dropped = self.dropped_frames + sync_dropped
        return {"frames_received": self.arrived[0], "frames_sent": sent, "frames_processed": self.frames_processed,
                "frames_dropped": dropped, "frames_sync_dropped": sync_dropped, "frames_waiting": waiting + waiting_sync,
                "drop_rate": dropped / sent if sent else 0.0}

    def diagnostic_status(self) -> DiagnosticStatus:
        counts, load = self.diagnostic_counts(), self.load_figures()
        recent = self.recent.update(time.monotonic(), {"received": load["frames_received"], "processed": load["frames_processed"],
                                                        "dropped": load["frames_dropped"]})
        level, why = rate_level(recent, "received", "processed", ("dropped",), "frames")
        status = DiagnosticStatus(name=f"{self.get_name()}: observation", hardware_id="occnet_ros", level=bytes([level]),
                                  message=f"{self.frames_processed} frames, {len(self.store.objects)} objects" + (f"; {why}" if why else ""))
        if load["frames_sent"] == load["frames_received"]:  # no sequence gap: the same figure twice
            del load["frames_sent"]
        values = {**load, "objects": len(self.store.objects), "stamp_resets": self.stamp_resets,
                  f"frames_dropped_last_{WINDOW_S:.0f}s": recent["dropped"], **{f"skipped_{k}": v for k, v in sorted(counts.items())}}
        status.values = [KeyValue(key=k, value=f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in values.items()
                         if v or k in ALWAYS]
        return status

    def publish_diagnostics(self) -> None:
        self.diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[self.diagnostic_status()]))
