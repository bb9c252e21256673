"""Recording the HoloLens simulator into a rosbag2, without ROS."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Writer
from rosbags.typesys.store import Typestore

from occnet_ros.bags.typestore import (
    CAMERA_INFO,
    CAMERA_POSE,
    DEFAULT_START_NS,
    DEFAULT_STORAGE,
    DEPTH,
    OFFERED_QOS,
    ORDER_STEP_NS,
    SEGMENTATION,
    STORAGES,
    TF,
    TF_STATIC,
    TOPICS,
    BagError,
    typestore,
)
from occnet_ros.sim.hololens import HEADSET_TO_OPTICAL, HoloLensSimulator, SimFrame, SimSettings


def _matrix_to_transform(store: Typestore, matrix: np.ndarray) -> Any:
    import transforms3d

    w, x, y, z = transforms3d.quaternions.mat2quat(matrix[:3, :3])
    t = matrix[:3, 3]
    Vector3, Quaternion, Transform = (store.types[f"geometry_msgs/msg/{n}"] for n in ("Vector3", "Quaternion", "Transform"))
    return Transform(translation=Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                     rotation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)))


def _matrix_to_pose(store: Typestore, matrix: np.ndarray) -> Any:
    t = _matrix_to_transform(store, matrix)
    Point, Pose = store.types["geometry_msgs/msg/Point"], store.types["geometry_msgs/msg/Pose"]
    return Pose(position=Point(x=t.translation.x, y=t.translation.y, z=t.translation.z), orientation=t.rotation)


class SimMessages:
    """The simulator node's messages as rosbags dataclasses (same contents, stamps given)."""

    def __init__(self, sim: HoloLensSimulator, world_frame: str, headset_frame: str, depth_frame: str,
                 store: Typestore | None = None) -> None:
        self.sim, self.store = sim, store or typestore()
        self.world_frame, self.headset_frame, self.depth_frame = world_frame, headset_frame, depth_frame
        self.t = self.store.types

    def time(self, ns: int) -> Any:
        return self.t["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)

    def header(self, ns: int, frame_id: str) -> Any:
        return self.t["std_msgs/msg/Header"](stamp=self.time(ns), frame_id=frame_id)

    def image(self, array: np.ndarray, ns: int) -> Any:
        array = np.ascontiguousarray(array, dtype="<u2")
        return self.t["sensor_msgs/msg/Image"](
            header=self.header(ns, self.depth_frame), height=array.shape[0], width=array.shape[1], encoding="16UC1",
            is_bigendian=0, step=array.shape[1] * 2, data=np.frombuffer(array.tobytes(), dtype=np.uint8))

    def camera_info(self, ns: int) -> Any:
        k = self.sim.intrinsics.k.astype(np.float64)
        p = np.zeros((3, 4))
        p[:, :3] = k
        roi = self.t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return self.t["sensor_msgs/msg/CameraInfo"](
            header=self.header(ns, self.depth_frame), height=self.sim.intrinsics.height, width=self.sim.intrinsics.width,
            distortion_model="plumb_bob", d=np.zeros(5), k=k.reshape(-1), r=np.eye(3).reshape(-1), p=p.reshape(-1),
            binning_x=0, binning_y=0, roi=roi)

    def empty_camera_info(self, ns: int) -> Any:  # Segmentation.camera_info: height 0 = pixel-aligned with depth
        roi = self.t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        return self.t["sensor_msgs/msg/CameraInfo"](
            header=self.header(0, ""), height=0, width=0, distortion_model="", d=np.zeros(0), k=np.zeros(9),
            r=np.zeros(9), p=np.zeros(12), binning_x=0, binning_y=0, roi=roi)

    def segmentation(self, frame: SimFrame, ns: int) -> Any:
        info = self.t["occnet_ros/msg/InstanceInfo"]
        instances = [info(id=int(i), class_name=c, score=float(s), transparent=bool(tr)) for i, c, s, tr in frame.instances]
        return self.t["occnet_ros/msg/Segmentation"](
            header=self.header(ns, self.depth_frame), instance_image=self.image(frame.instance_ids, ns),
            camera_info=self.empty_camera_info(ns), instances=instances)

    def transform(self, ns: int, parent: str, child: str, matrix: np.ndarray) -> Any:
        return self.t["geometry_msgs/msg/TransformStamped"](
            header=self.header(ns, parent), child_frame_id=child, transform=_matrix_to_transform(self.store, matrix))

    def tf(self, frame: SimFrame, ns: int) -> Any:
        return self.t["tf2_msgs/msg/TFMessage"](
            transforms=[self.transform(ns, self.world_frame, self.headset_frame, frame.headset_pose)])

    def tf_static(self, ns: int) -> Any:
        return self.t["tf2_msgs/msg/TFMessage"](
            transforms=[self.transform(ns, self.headset_frame, self.depth_frame, HEADSET_TO_OPTICAL)])

    def camera_pose(self, frame: SimFrame, ns: int) -> Any:
        return self.t["geometry_msgs/msg/PoseStamped"](
            header=self.header(ns, self.world_frame), pose=_matrix_to_pose(self.store, frame.camera_pose))


# ----------------------------------------------------------------------------------------- writing

@dataclass
class RecordSummary:
    path: Path
    storage: str
    frames: int
    start_ns: int
    end_ns: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def __str__(self) -> str:
        topics = ", ".join(f"{t} x{n}" for t, n in self.counts.items())
        return f"{self.path} ({self.storage}): {self.frames} frames, {self.duration_s:.2f} s: {topics}"


def record_simulation(path: str | os.PathLike, settings: SimSettings, frames: int | None = None, storage: str = DEFAULT_STORAGE,
                      world_frame: str = "map", headset_frame: str = "hl2", depth_frame: str = "hl2_depth_optical",
                      start_ns: int = DEFAULT_START_NS, pose_source: str = "tf",
                      simulator: HoloLensSimulator | None = None) -> RecordSummary:
    """Write ``frames`` simulator frames (default settings.num_frames) into a new rosbag2 bag.

    Same topics and contents as the simulator node (see the module doc). Header stamps are
    ``start_ns`` + the simulator's frame stamps (index / rate_hz); each message's log time is
    its header stamp plus a microsecond per message already written in that frame, so readers
    keep the order /tf -> camera_info -> segmentation -> depth. ``path`` is the bag directory
    and must not exist. ``pose_source`` 'topic' writes /camera_pose instead of /tf and /tf_static.
    """
    if storage not in STORAGES:
        raise BagError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
    if pose_source not in ("tf", "topic"):
        raise BagError(f"pose_source must be 'tf' or 'topic', got {pose_source!r}")
    frames = settings.num_frames if frames is None else frames
    if frames < 1:
        raise BagError(f"frames must be >= 1, got {frames}")
    path = Path(path)
    if path.exists():
        raise BagError(f"{path} exists already; rosbag2 bags are directories and are never overwritten")
    store = typestore()
    sim = simulator or HoloLensSimulator(settings)
    make = SimMessages(sim, world_frame, headset_frame, depth_frame, store)
    topics = (TF, TF_STATIC, CAMERA_INFO, SEGMENTATION, DEPTH) if pose_source == "tf" else (CAMERA_POSE, CAMERA_INFO, SEGMENTATION, DEPTH)
    counts: Counter = Counter()
    writer = Writer(path, version=Writer.VERSION_LATEST, storage_plugin=STORAGES[storage])
    try:
        writer.open()
        connections = {t: writer.add_connection(t, TOPICS[t], typestore=store, offered_qos_profiles=[OFFERED_QOS[t]])
                       for t in topics}

        def write(topic: str, msg: Any, log_ns: int) -> None:
            writer.write(connections[topic], log_ns, store.serialize_cdr(msg, TOPICS[topic]))
            counts[topic] += 1

        end_ns = start_ns
        for index in range(frames):
            frame = sim.frame(index)
            ns = start_ns + round(frame.stamp * 1e9)
            messages = [(CAMERA_INFO, make.camera_info(ns)), (SEGMENTATION, make.segmentation(frame, ns)),
                        (DEPTH, make.image(frame.depth_mm, ns))]
            if pose_source == "tf":
                messages.insert(0, (TF, make.tf(frame, ns)))
                if index == 0:
                    messages.insert(0, (TF_STATIC, make.tf_static(ns)))
            else:
                messages.insert(0, (CAMERA_POSE, make.camera_pose(frame, ns)))
            for order, (topic, msg) in enumerate(messages):
                write(topic, msg, ns + order * ORDER_STEP_NS)
            end_ns = ns
        writer.close()
    except BaseException:
        if writer.storage is not None:  # leave no half-written bag behind (the path did not exist)
            with suppress(Exception):
                writer.storage.abort()
            shutil.rmtree(path, ignore_errors=True)
        raise
    return RecordSummary(path, storage, frames, start_ns, end_ns, {t: counts[t] for t in topics})
