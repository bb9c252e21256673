"""Observation node: depth + camera info + segmentation + pose -> per-object multi-view clouds.

Subscribes ``depth/image``, ``depth/camera_info``, ``segmentation`` (approximate-time
matched), takes the camera pose from TF or ``camera_pose``, keeps up to N diverse views per
object and publishes ``objects/observations`` (to the reconstruction node) and
``objects/cloud`` (RViz). Every skipped input is logged (throttled) and counted per reason on
``/diagnostics`` and in the ``~/reset`` reply.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from occnet_ros import parameters
from occnet_ros.core.camera import decode_depth
from occnet_ros.core.objects import ObjectStore, StoreSettings
from occnet_ros.core.observation import FrameSettings, InstanceInfo, split_instances
from occnet_ros.core.sync import ApproximateTimeMatcher
from occnet_ros.msg import ObjectObservation, Segmentation
from occnet_ros.nodes.common import declare_parameters, run_node
from occnet_ros.nodes.conversions import image_to_array, intrinsics_from_camera_info, xyz_cloud
from occnet_ros.nodes.pose import TfPoses, TopicPoses, stamp_seconds
from occnet_ros.srv import ForgetObject

MUTABLE = {"min_score", "min_instance_points", "reconstruct_every_views", "retire_after_s", "publish_clouds", "skip_classes"}
PENDING_FRAMES = 16
INPUTS = ((Image, "depth/image"), (CameraInfo, "depth/camera_info"), (Segmentation, "segmentation"))


def object_colour(obj_id: int) -> np.ndarray:
    rng = np.random.default_rng(obj_id)
    return (rng.uniform(60, 255, size=3)).astype(np.uint8)


class ObservationNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("observation", **kwargs)
        self.params = declare_parameters(self, parameters.OBSERVATION, MUTABLE)
        p = self.params
        self.skipped: Counter = Counter()
        self.frames_processed = 0
        self.last_stamp = -np.inf
        self.store = ObjectStore(self.store_settings())
        self.pending: deque[tuple[float, Image, CameraInfo, Segmentation]] = deque()
        self.newest_input_stamps = [-np.inf] * len(INPUTS)  # per input: one topic keeps its order, topics do not
        self.jumped_inputs: set[int] = set()  # inputs already seen jumping back since the last reset
        self.stamp_resets = 0
        # One mutually exclusive group for every callback that touches the node's state (the
        # inputs, their synchroniser, the pending queue, timers, services): on the two-thread
        # executor they never run concurrently.
        self.group = MutuallyExclusiveCallbackGroup()
        if p["pose_source"] == "topic":
            self.poses = TopicPoses(self, p["world_frame"], p["pose_slop_s"], callback_group=self.group)
        else:
            self.poses = TfPoses(self, self.group)
        self.mask_poses = self.poses if p["pose_source"] == "tf" else TfPoses(self, self.group)
        self.observations = self.create_publisher(ObjectObservation, "objects/observations", QoSProfile(depth=50))
        self.cloud_pub = self.create_publisher(PointCloud2, "objects/cloud", 2)
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._subscribe_inputs()
        self.create_service(Trigger, "~/reset", self.on_reset, callback_group=self.group)
        self.create_service(ForgetObject, "~/forget_object", self.on_forget, callback_group=self.group)
        self.create_timer(0.02, self.process_pending, callback_group=self.group)
        self.create_timer(1.0, self.housekeeping, callback_group=self.group)
        if p["reconstruct_period_s"] > 0:
            self.create_timer(p["reconstruct_period_s"], self.request_all, callback_group=self.group)
        self.get_logger().info(f"observing objects in '{p['world_frame']}', camera pose from {self.poses.backend}")

    def store_settings(self) -> StoreSettings:
        p = self.params
        return StoreSettings(
            max_views_per_object=p["max_views_per_object"], association_distance_m=p["association_distance_m"],
            association_min_overlap=p["association_min_overlap"], association_voxel_m=p["association_voxel_m"],
            retire_after_s=p["retire_after_s"], reconstruct_every_views=p["reconstruct_every_views"],
        )

    def frame_settings(self) -> FrameSettings:
        p = self.params
        return FrameSettings(
            max_points_per_view=p["max_points_per_view"], voxel_size_m=p["voxel_size_m"],
            min_instance_points=p["min_instance_points"], min_score=p["min_score"],
            skip_classes=tuple(p["skip_classes"]), outlier_neighbors=p["outlier_neighbors"],
            outlier_std_ratio=p["outlier_std_ratio"], cluster_radius_m=p["cluster_radius_m"],
            mask_erosion_px=p["mask_erosion_px"],
        )

    def _subscribe_inputs(self) -> None:
        p = self.params
        try:
            import message_filters
        except ImportError:
            message_filters = None
        if message_filters is not None:
            subs = [
                message_filters.Subscriber(self, kind, topic, qos_profile=qos_profile_sensor_data, callback_group=self.group)
                for kind, topic in INPUTS
            ]
            for index, sub in enumerate(subs):  # registered before the synchroniser's, so it sees each message first
                sub.registerCallback(self.watch_stamp, index)
            self.sync = message_filters.ApproximateTimeSynchronizer(subs, p["sync_queue_size"], p["sync_slop_s"])
            self.sync.registerCallback(self.on_frame)
            self.matcher = None
            return
        self.matcher = ApproximateTimeMatcher(3, p["sync_slop_s"], p["sync_queue_size"])
        for index, (kind, topic) in enumerate(INPUTS):
            self.create_subscription(
                kind, topic, lambda msg, i=index: self._on_input(i, msg), qos_profile_sensor_data, callback_group=self.group
            )

    def _on_input(self, index: int, msg) -> None:
        self.watch_stamp(msg, index)
        matched = self.matcher.add(index, stamp_seconds(msg.header.stamp), msg)
        if matched is not None:
            self.on_frame(*matched)

    def watch_stamp(self, msg, index: int) -> None:
        """An input's stamp far behind its newest (bag --loop, a restarted sensor) resets the frame
        state once, so later frames are not all dropped as stamp_backwards or old TF data. The
        other inputs' jumps that follow belong to the same reset."""
        stamp = stamp_seconds(msg.header.stamp)
        newest = self.newest_input_stamps[index]
        if stamp >= newest - self.params["stamp_jump_reset_s"]:
            self.newest_input_stamps[index] = max(newest, stamp)
            return
        self.newest_input_stamps[index] = stamp
        if self.jumped_inputs and index not in self.jumped_inputs:
            self.jumped_inputs.add(index)  # the same jump, seen on another input
        else:
            self.get_logger().warning(
                f"input stamp jumped back {newest - stamp:.3f} s (to {stamp:.3f}): resetting the synchroniser, "
                "the TF buffer and the frame order (a bag replayed with --loop?)")
            self.jumped_inputs = {index}
            self.reset_time()
        if len(self.jumped_inputs) == len(INPUTS):
            self.jumped_inputs = set()

    def reset_time(self) -> None:
        """Drop everything keyed by stamp: queued inputs, pending frames, buffered poses. Objects stay."""
        self.stamp_resets += 1
        self.pending.clear()
        self.last_stamp = -np.inf
        if self.matcher is not None:
            dropped = self.matcher.dropped
            self.matcher = ApproximateTimeMatcher(3, self.params["sync_slop_s"], self.params["sync_queue_size"])
            self.matcher.dropped = dropped
        else:
            with self.sync.lock:  # message_filters' queues, cleared in place (its input callbacks hold them)
                for queue in self.sync.queues:
                    queue.clear()
        for poses in {id(self.poses): self.poses, id(self.mask_poses): self.mask_poses}.values():
            poses.reset()

    def skip(self, reason: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        self.get_logger().warning(f"skipped frame: {reason} {detail}".strip(), throttle_duration_sec=2.0)

    def on_frame(self, depth: Image, info: CameraInfo, segmentation: Segmentation) -> None:
        if len(self.pending) >= PENDING_FRAMES:
            self.pending.popleft()
            self.skip("pose_queue_full")
        self.pending.append((time.monotonic(), depth, info, segmentation))
        self.process_pending()

    def process_pending(self) -> None:
        while self.pending:
            arrived, depth, info, segmentation = self.pending[0]
            world = self.params["world_frame"]
            pose = self.poses.lookup(world, depth.header.frame_id, depth.header.stamp)
            if pose is None:
                if time.monotonic() - arrived < self.params["tf_timeout_s"]:
                    return  # wait for TF to catch up; keep order
                self.pending.popleft()
                self.skip("pose_unavailable", f"{world} <- {depth.header.frame_id}")
                continue
            self.pending.popleft()
            try:
                self.process_frame(depth, info, segmentation, pose)
            except ValueError as error:
                self.skip("bad_input", str(error))

    def process_frame(self, depth_msg: Image, info: CameraInfo, seg: Segmentation, pose: np.ndarray) -> None:
        stamp = stamp_seconds(depth_msg.header.stamp)
        if stamp < self.last_stamp:
            self.skip("stamp_backwards", f"{stamp:.3f} < {self.last_stamp:.3f}")
            return
        intrinsics = intrinsics_from_camera_info(info)
        p = self.params
        depth = decode_depth(image_to_array(depth_msg), depth_msg.encoding, p["depth_scale"] or None, p["min_range_m"], p["max_range_m"])
        ids = image_to_array(seg.instance_image)
        mask_camera = None
        if seg.camera_info.height > 0:
            to_mask = self.mask_poses.lookup(seg.header.frame_id, depth_msg.header.frame_id, depth_msg.header.stamp)
            if to_mask is None:
                self.skip("mask_camera_pose_unavailable", seg.header.frame_id)
                return
            mask_camera = (intrinsics_from_camera_info(seg.camera_info), to_mask)
        instances = [InstanceInfo(i.id, i.class_name, i.score, i.transparent) for i in seg.instances]
        result = split_instances(depth, intrinsics, ids, instances, pose, stamp, self.frame_settings(), mask_camera)
        for reason, n in result.skipped.items():
            self.skipped[f"instance_{reason}"] += n
        self.last_stamp = stamp
        touched, merged = self.store.add_frame(result.views)
        for obj_id in merged:
            self.publish_removal(obj_id, depth_msg.header.stamp)
        for obj_id in touched:
            self.publish_observation(obj_id, depth_msg.header.stamp, self.store.due_for_reconstruction(obj_id))
        if self.params["publish_clouds"]:
            self.publish_cloud(depth_msg.header.stamp)
        self.frames_processed += 1  # last: a waiter on this count sees the frame's objects

    def header(self, stamp) -> Header:
        return Header(stamp=stamp, frame_id=self.params["world_frame"])

    def publish_observation(self, obj_id: int, stamp, request: bool) -> None:
        obj = self.store.objects[obj_id]
        msg = ObjectObservation(header=self.header(stamp), id=obj_id, class_name=obj.class_name,
                                action=ObjectObservation.ACTION_UPDATE, request_reconstruction=request, views=len(obj.views))
        msg.cloud = xyz_cloud(obj.points, msg.header)
        self.observations.publish(msg)

    def publish_removal(self, obj_id: int, stamp) -> None:
        self.observations.publish(ObjectObservation(header=self.header(stamp), id=obj_id, action=ObjectObservation.ACTION_REMOVE))

    def publish_cloud(self, stamp) -> None:
        objects = list(self.store.objects.values())
        if not objects:
            return
        points = np.concatenate([o.points for o in objects])
        colours = np.concatenate([np.tile(object_colour(o.id), (len(o.points), 1)) for o in objects])
        self.cloud_pub.publish(xyz_cloud(points, self.header(stamp), colours))

    def request_all(self) -> None:
        stamp = self.get_clock().now().to_msg()
        for obj_id in list(self.store.objects):
            self.publish_observation(obj_id, stamp, True)

    def housekeeping(self) -> None:
        self.store.settings = self.store_settings()
        if self.frames_processed:
            now = self.last_stamp
            for obj_id in self.store.retire(now):
                self.get_logger().info(f"retired object {obj_id} (unseen for {self.params['retire_after_s']} s)")
                self.publish_removal(obj_id, self.get_clock().now().to_msg())
        self.publish_diagnostics()

    def diagnostic_counts(self) -> dict[str, int]:
        counts = Counter(self.skipped)
        if self.matcher is not None:
            counts.update({f"sync_{k}": v for k, v in self.matcher.dropped.items()})
        if isinstance(self.poses, TopicPoses) and self.poses.wrong_frame:
            counts["pose_wrong_frame"] = self.poses.wrong_frame
        return dict(counts)

    def publish_diagnostics(self) -> None:
        counts = self.diagnostic_counts()
        status = DiagnosticStatus(name=f"{self.get_name()}: observation", hardware_id="occnet_ros",
                                  level=DiagnosticStatus.OK if not counts else DiagnosticStatus.WARN,
                                  message=f"{self.frames_processed} frames, {len(self.store.objects)} objects")
        status.values = [KeyValue(key="frames_processed", value=str(self.frames_processed)),
                         KeyValue(key="objects", value=str(len(self.store.objects)))]
        if self.stamp_resets:
            status.values.append(KeyValue(key="stamp_resets", value=str(self.stamp_resets)))
        status.values += [KeyValue(key=f"skipped_{k}", value=str(v)) for k, v in sorted(counts.items())]
        self.diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))

    def on_reset(self, request, response):
        stamp = self.get_clock().now().to_msg()
        for obj_id in self.store.reset():
            self.publish_removal(obj_id, stamp)
        self.last_stamp = -np.inf
        response.success, response.message = True, f"reset; skipped so far: {self.diagnostic_counts()}"
        return response

    def on_forget(self, request, response):
        response.success = self.store.forget(request.id)
        response.message = f"object {request.id} forgotten" if response.success else f"no object {request.id}"
        if response.success:
            self.publish_removal(request.id, self.get_clock().now().to_msg())
        return response


def main(args: list[str] | None = None) -> int:
    return run_node(ObservationNode, args)
