"""Observation node: depth + camera info + segmentation + pose -> per-object multi-view clouds.

Subscribes ``depth/image``, ``depth/camera_info``, ``segmentation`` (approximate-time
matched), takes the camera pose from TF or ``camera_pose``, keeps up to N diverse views per
object and publishes ``objects/observations`` (to the reconstruction node) and
``objects/cloud`` (RViz). Every skipped input is logged (throttled) and counted per reason on
``/diagnostics`` and in the ``~/reset`` reply.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from occnet_ros.msg import ObjectObservation, Segmentation
from occnet_ros.nodes import parameters, qos
from occnet_ros.nodes.boundary import CallbackBoundary, boundary
from occnet_ros.nodes.camera_models import CameraModel
from occnet_ros.nodes.common import ConfigurationError, declare_parameters, run_node
from occnet_ros.nodes.conversions import image_to_array, intrinsics_from_camera_info, view_to_msg, xyz_cloud
from occnet_ros.nodes.observation_diagnostics import ObservationDiagnostics, info_subscriber
from occnet_ros.nodes.observation_settings import frame_settings, store_settings
from occnet_ros.nodes.pose import TfPoses, TopicPoses, stamp_seconds
from occnet_ros.nodes.segmentation_inputs import SegmentationInput
from occnet_ros.observe.frame import FrameSettings, InstanceInfo, split_instances
from occnet_ros.observe.guard import InputRejected, SequenceGaps, StampGate, StampJumpWatch, bound_class_name, objects_to_retire
from occnet_ros.observe.objects import ObjectStore, StoreSettings
from occnet_ros.observe.sync import ApproximateTimeMatcher
from occnet_ros.srv import ForgetObject

MUTABLE = {"min_score", "min_instance_points", "reconstruct_every_views", "retire_after_s", "publish_clouds", "skip_classes",
           "max_objects", "skip_stale_frames"}
PENDING_FRAMES = 8
FRAMES_PER_TICK = 4  # frames per hold of processing_lock, so housekeeping and services get their turn
BEHIND_FRAMES = 3  # with skip_stale_frames, older frames are skipped only once this many wait (a hiccup is not "behind")
RETRY_PERIOD_S = 0.05  # how often frames waiting for their transform are looked at again


def object_colour(obj_id: int) -> np.ndarray:
    rng = np.random.default_rng(obj_id)
    return (rng.uniform(60, 255, size=3)).astype(np.uint8)


class ObservationNode(ObservationDiagnostics, Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("observation", **kwargs)
        self.params = declare_parameters(self, parameters.OBSERVATION, MUTABLE)
        p = self.params
        self.skipped: Counter = Counter()
        self.frames_processed = 0
        self.gate = StampGate(p["max_stamp_jump_s"])
        self.boundary = CallbackBoundary(self.get_logger())  # every callback's exceptions, by reason
        self.gaps = SequenceGaps()
        self.arrived = [0, 0, 0]  # depth, camera_info, segmentation messages that reached a callback
        self.matched = 0  # frames the synchroniser completed
        self.dropped_frames = 0  # frames counted under a skip reason (each once)
        self.store = ObjectStore(self.store_settings())
        self.pending: deque[tuple[float, Image, CameraInfo, Segmentation]] = deque()
        self.pending_lock = threading.Lock()
        self.count_lock = threading.Lock()  # counts come from the input and the processing thread
        # Frames are processed on self.worker, not in a callback: a long callback leaves its group's ready
        # timers spinning rclpy's executor, starving every thread (0.3-0.7 s frames at 30 Hz). group: timers,
        # services (under processing_lock); input_group: inputs and poses. Both sides share pending_lock.
        self.group = MutuallyExclusiveCallbackGroup()
        self.input_group = MutuallyExclusiveCallbackGroup()
        self.time_reset_due = False  # a stamp jump back seen on the inputs; processing applies it
        if p["pose_source"] == "topic":
            self.poses = TopicPoses(self, p["world_frame"], p["pose_slop_s"], callback_group=self.input_group)
        else:
            self.poses = TfPoses(self, self.input_group)
        self.mask_poses = self.poses if p["pose_source"] == "tf" else TfPoses(self, self.input_group)
        self.observations = self.create_publisher(ObjectObservation, "objects/observations", qos.OBSERVATIONS)
        self.cloud_pub = self.create_publisher(PointCloud2, "objects/cloud", qos.CLOUDS)
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self.camera_model = CameraModel(self, p)
        self._subscribe_inputs()
        self.create_service(Trigger, "~/reset", self.on_reset, callback_group=self.group)
        self.create_service(ForgetObject, "~/forget_object", self.on_forget, callback_group=self.group)
        self.processing_lock = threading.Lock()
        self.frame_ready, self.housekeeping_due, self.running = threading.Event(), threading.Event(), True
        self.create_timer(1.0, self.housekeeping_due.set, callback_group=self.group)
        if p["reconstruct_period_s"] > 0:
            self.create_timer(p["reconstruct_period_s"], self.request_all, callback_group=self.group)
        self.worker = threading.Thread(target=self.work, name="observation-worker", daemon=True)
        self.worker.start()
        self.get_logger().info(f"observing objects in '{p['world_frame']}', camera pose from {self.poses.backend}, "
                               f"{self.camera_model.description}")

    def store_settings(self) -> StoreSettings:
        return store_settings(self.params)

    def frame_settings(self) -> FrameSettings:
        return frame_settings(self.params)

    def _subscribe_inputs(self) -> None:
        p = self.params
        try:
            self.segmentation = SegmentationInput(p)
        except (ImportError, ValueError) as error:
            raise ConfigurationError(f"observation: {error}") from error
        inputs = [(Image, "depth/image"), (CameraInfo, "depth/camera_info"), *self.segmentation.inputs]
        self.stamp_jumps = StampJumpWatch(len(inputs), p["stamp_jump_reset_s"], p["max_stamp_jump_s"])
        try:
            import message_filters
        except ImportError:
            message_filters = None
        if message_filters is not None:
            subs = [info_subscriber(message_filters, self, kind, topic, qos_profile=qos.SENSOR, callback_group=self.input_group)
                    for kind, topic in inputs]
            for index, sub in enumerate(subs):  # registered before the synchroniser's, so it sees each message first
                sub.registerCallback(self._on_filter_input, index, sub)
            self.sync = message_filters.ApproximateTimeSynchronizer(subs, p["sync_queue_size"], p["sync_slop_s"])
            self.sync.registerCallback(self.on_matched)
            self.matcher = None
            return
        self.matcher = ApproximateTimeMatcher(len(inputs), p["sync_slop_s"], p["sync_queue_size"])
        for index, (kind, topic) in enumerate(inputs):
            self.create_subscription(
                kind, topic, lambda msg, info, i=index: self._on_input(i, msg, info), qos.SENSOR,
                callback_group=self.input_group,
            )

    @boundary("input", on_failure="frame_failed")
    def _on_input(self, index: int, msg, info=None) -> None:
        self.note_arrival(index, info)
        self.watch_stamp(msg, index)
        matched = self.matcher.add(index, stamp_seconds(msg.header.stamp), msg)
        if matched is not None:
            self.on_matched(*matched)

    @boundary("input", on_failure="frame_failed")
    def _on_filter_input(self, msg, index: int, sub) -> None:
        self.note_arrival(index, sub.last_info)
        self.watch_stamp(msg, index)

    @boundary("match", on_failure="frame_failed")
    def on_matched(self, depth: Image, info: CameraInfo, *segmentation_msgs) -> None:
        """Depth, camera info and the segmentation input's messages of one stamp."""
        try:
            segmentation = self.segmentation.convert(*segmentation_msgs)
        except ValueError as error:
            self.skip("bad_segmentation", str(error))
            return
        self.on_frame(depth, info, segmentation)

    def watch_stamp(self, msg, index: int) -> None:
        """An input stamp over stamp_jump_reset_s behind its newest (bag --loop) resets the frame state once, so
        later frames are not all stamp_backwards or lack TF (a jump forwards is StampGate's, max_stamp_jump_s)."""
        stamp = stamp_seconds(msg.header.stamp)
        jump = self.stamp_jumps.observe(index, stamp)
        if jump is None:
            return
        self.get_logger().warning(
            f"input stamp jumped back {jump:.3f} s (to {stamp:.3f}): resetting the synchroniser, "
            "the TF buffer and the frame order (a bag replayed with --loop?)")
        if self.matcher is not None:
            self.matcher.clear()
        else:
            with self.sync.lock:  # message_filters' queues, cleared in place (its input callbacks hold them)
                for queue in self.sync.queues:
                    queue.clear()
        for poses in {id(self.poses): self.poses, id(self.mask_poses): self.mask_poses}.values():
            poses.reset()  # their subscriptions are in this group
        with self.pending_lock:
            self.pending.clear()
            self.time_reset_due = True

    def reset_time(self) -> None:
        """On the processing side (pending_lock held): forget the stamp order. Objects stay."""
        self.time_reset_due = False
        self.gate.reset()

    @boundary("frame", on_failure="frame_failed")
    def on_frame(self, depth: Image, info: CameraInfo, segmentation: Segmentation) -> None:
        """Queue a matched frame and wake the processing thread (inputs never wait on processing)."""
        self.matched += 1
        with self.pending_lock:
            if len(self.pending) >= PENDING_FRAMES:
                self.pending.popleft()
                self.skip("pose_queue_full")
            self.pending.append((time.monotonic(), depth, info, segmentation))
        self.frame_ready.set()

    def next_frame(self):
        """(frame, pose) to process now or None. Frames whose pose never came are dropped after
        tf_timeout_s; with skip_stale_frames the newest ready frame is taken and the older
        ones are skipped (counted stale_frame) once BEHIND_FRAMES wait, so the node stays current."""
        world, newest_first = self.params["world_frame"], self.params["skip_stale_frames"]
        with self.pending_lock:
            if self.time_reset_due:
                self.reset_time()
            while self.pending:
                behind = newest_first and len(self.pending) >= BEHIND_FRAMES
                order = range(len(self.pending) - 1, -1, -1) if behind else range(1)
                for index in order:
                    entry = self.pending[index]
                    pose = self.poses.lookup(world, entry[1].header.frame_id, entry[1].header.stamp)
                    if pose is not None:
                        for _ in range(index):
                            self.pending.popleft()
                            self.skip("stale_frame")
                        self.pending.popleft()
                        return entry, pose
                if time.monotonic() - self.pending[0][0] < self.params["tf_timeout_s"]:
                    return None  # wait for TF to catch up
                dropped = self.pending.popleft()
                self.skip("pose_unavailable", f"{world} <- {dropped[1].header.frame_id}")
        return None

    def work(self) -> None:
        """The processing thread: frames as they are queued (frames waiting for their transform
        are looked at again every RETRY_PERIOD_S), housekeeping once a second."""
        while self.running:
            self.frame_ready.wait(RETRY_PERIOD_S)
            self.frame_ready.clear()
            with self.processing_lock:
                if self.running and self.process_pending():
                    self.frame_ready.set()  # the tick's limit was reached: more may be ready
                if self.running and self.housekeeping_due.is_set():
                    self.housekeeping_due.clear()
                    self.housekeeping()

    def destroy_node(self) -> None:
        self.running = False
        self.frame_ready.set()
        self.worker.join(timeout=5.0)  # a daemon thread: a frame in process does not hold up the exit
        super().destroy_node()

    @boundary("process", on_failure="frame_failed")
    def process_pending(self) -> bool:
        """Up to FRAMES_PER_TICK ready frames; True when that limit was reached."""
        for _ in range(FRAMES_PER_TICK):
            chosen = self.next_frame()
            if chosen is None:
                return False
            (_, depth, info, segmentation), pose = chosen
            try:
                self.process_frame(depth, info, segmentation, pose)
            except InputRejected as error:
                self.skip(error.reason, str(error))
            except ValueError as error:
                self.skip("bad_input", str(error))
            except Exception as error:  # noqa: BLE001 - one frame's failure must not stop the next
                self.frame_failed(self.boundary.failed("frame", error))
        return True

    @property
    def last_stamp(self) -> float:
        return self.gate.last

    @last_stamp.setter
    def last_stamp(self, value: float) -> None:
        self.gate.reset()
        self.gate.commit(value)

    def stamp_usable(self, stamp: float) -> bool:
        """False (counted) for a frame older than the last one or a lone jump forwards; a jump
        that the next frame confirms resets the timeline with a warning."""
        verdict = self.gate.check(stamp)
        if verdict == "reset":
            self.note("stamp_timeline_reset", f"stamps jumped from {self.gate.last:.3f} to {stamp:.3f} s; going on from there")
        elif verdict != "ok":
            self.skip(verdict, f"{stamp:.3f} after {self.gate.last:.3f}")
            return False
        return True

    def bounded_class(self, name: str) -> str:
        bounded, cut = bound_class_name(name)
        if cut:
            self.note("class_name_truncated", f"{len(name)} characters")
        return bounded

    def cap_objects(self, touched: list[int], stamp) -> list[int]:
        """Retire objects beyond max_objects (least-seen, then oldest first; counted)."""
        for obj_id in objects_to_retire(self.store.objects.values(), self.params["max_objects"], touched):
            self.store.forget(obj_id)
            self.note("objects_retired_cap", f"object {obj_id} retired (max_objects {self.params['max_objects']})")
            self.publish_removal(obj_id, stamp)
        return [i for i in touched if i in self.store.objects]

    def process_frame(self, depth_msg: Image, info: CameraInfo, seg: Segmentation, pose: np.ndarray) -> None:
        stamp = stamp_seconds(depth_msg.header.stamp)
        if not self.stamp_usable(stamp):
            return
        p = self.params
        if self.camera_model.kind != "ray_table":
            try:
                intrinsics_from_camera_info(info)
            except ValueError as error:
                raise InputRejected("invalid_camera_info", f"depth camera_info: {error}") from error
        camera = self.camera_model.frame(image_to_array(depth_msg), depth_msg.encoding, info)
        if camera is None:
            self.skip("ray_table_unavailable", self.params["ray_table_topic"])
            return
        intrinsics, depth = camera
        if not np.isfinite(depth).any():
            raise InputRejected("depth_no_valid_pixels", f"no depth in [{p['min_range_m']}, {p['max_range_m']}] m (all NaN/0/out of range)")
        ids = image_to_array(seg.instance_image)
        mask_camera = None
        if seg.camera_info.height > 0:
            to_mask = self.mask_poses.lookup(seg.header.frame_id, depth_msg.header.frame_id, depth_msg.header.stamp)
            if to_mask is None:
                self.skip("mask_camera_pose_unavailable", seg.header.frame_id)
                return
            try:
                mask_camera = (intrinsics_from_camera_info(seg.camera_info), to_mask)
            except ValueError as error:
                raise InputRejected("invalid_camera_info", f"mask camera_info: {error}") from error
        instances = [InstanceInfo(i.id, self.bounded_class(i.class_name), float(i.score), i.transparent) for i in seg.instances]
        result = split_instances(depth, intrinsics, ids, instances, pose, stamp, self.frame_settings(), mask_camera)
        for reason, n in result.skipped.items():
            self.skipped[f"instance_{reason}"] += n
        self.last_stamp = stamp
        touched, merged = self.store.add_frame(result.views)
        touched = self.cap_objects(touched, depth_msg.header.stamp)
        for obj_id in merged:
            self.publish_removal(obj_id, depth_msg.header.stamp)
        for obj_id in touched:
            self.publish_observation(obj_id, depth_msg.header.stamp, self.store.due_for_reconstruction(obj_id))
        if self.params["publish_clouds"]:
            self.publish_cloud(depth_msg.header.stamp)
        self.frames_processed += 1  # last: a waiter on this count sees the frame's objects

    def header(self, stamp) -> Header:
        return Header(stamp=stamp, frame_id=self.params["world_frame"])

    def observation_message(self, obj_id: int, stamp, request: bool) -> ObjectObservation:
        """The object's cloud and its kept views' depth crops (each with its frame's stamp)."""
        obj = self.store.objects[obj_id]
        msg = ObjectObservation(header=self.header(stamp), id=obj_id, class_name=obj.class_name,
                                action=ObjectObservation.ACTION_UPDATE, request_reconstruction=request)
        msg.cloud = xyz_cloud(obj.points, msg.header)
        msg.views = [view_to_msg(v.view, self.header(Time(nanoseconds=round(v.stamp * 1e9)).to_msg()))
                     for v in obj.views if v.view is not None]
        return msg

    def publish_observation(self, obj_id: int, stamp, request: bool) -> None:
        self.observations.publish(self.observation_message(obj_id, stamp, request))

    def publish_removal(self, obj_id: int, stamp) -> None:
        self.observations.publish(ObjectObservation(header=self.header(stamp), id=obj_id, action=ObjectObservation.ACTION_REMOVE))

    def publish_cloud(self, stamp) -> None:
        objects = list(self.store.objects.values())
        if not objects:
            return
        points = np.concatenate([o.points for o in objects])
        colours = np.concatenate([np.tile(object_colour(o.id), (len(o.points), 1)) for o in objects])
        self.cloud_pub.publish(xyz_cloud(points, self.header(stamp), colours))

    @boundary("request_all")
    def request_all(self) -> None:
        stamp = self.get_clock().now().to_msg()
        with self.processing_lock:
            for obj_id in list(self.store.objects):
                self.publish_observation(obj_id, stamp, True)

    @boundary("housekeeping")
    def housekeeping(self) -> None:
        self.store.settings = self.store_settings()
        if self.frames_processed:
            now = self.last_stamp
            for obj_id in self.store.retire(now):
                self.get_logger().info(f"retired object {obj_id} (unseen for {self.params['retire_after_s']} s)")
                self.publish_removal(obj_id, self.get_clock().now().to_msg())
        self.publish_diagnostics()

    @boundary("reset", service=True)
    def on_reset(self, request, response):
        stamp = self.get_clock().now().to_msg()
        with self.processing_lock:
            for obj_id in self.store.reset():
                self.publish_removal(obj_id, stamp)
            self.last_stamp = -np.inf
        response.success, response.message = True, f"reset; skipped so far: {self.diagnostic_counts()}"
        return response

    @boundary("forget_object", service=True)
    def on_forget(self, request, response):
        with self.processing_lock:
            response.success = self.store.forget(request.id)
        response.message = f"object {request.id} forgotten" if response.success else f"no object {request.id}"
        if response.success:
            self.publish_removal(request.id, self.get_clock().now().to_msg())
        return response


def main(args: list[str] | None = None) -> int:
    return run_node(ObservationNode, args, threads=1)  # processing has its own thread; inputs are short
