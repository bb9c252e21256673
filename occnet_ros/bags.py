"""Record the simulator's topics into rosbag2 files and read rosbag2 files back, without rclpy.

Pure Python on top of `rosbags` (no ROS install needed): messages are rosbags dataclasses,
serialised to CDR with a typestore holding the ROS 2 Jazzy standard types plus occnet_ros's
own messages (parsed from the package's ``msg/*.msg``). The bags are ordinary rosbag2 bags
(``ros2 bag info/play`` read them; the type hashes equal rosidl's), in MCAP (Jazzy's
default) or SQLite3 storage.

Topics (the names the simulator node publishes, made absolute):

=====================  ===============================  =========================================
``/depth/image``        sensor_msgs/msg/Image            16UC1, millimetres
``/depth/camera_info``  sensor_msgs/msg/CameraInfo
``/segmentation``       occnet_ros/msg/Segmentation      16UC1 instance ids + InstanceInfo[]
``/tf``                 tf2_msgs/msg/TFMessage           world -> headset, one per frame
``/tf_static``          tf2_msgs/msg/TFMessage           headset -> depth optical, once
``/camera_pose``        geometry_msgs/msg/PoseStamped    instead of /tf (pose_source 'topic')
=====================  ===============================  =========================================
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from occnet_ros.sim.hololens import HEADSET_TO_OPTICAL, HoloLensSimulator, SimFrame, SimSettings

PACKAGE = "occnet_ros"
DEPTH, CAMERA_INFO, SEGMENTATION, TF, TF_STATIC, CAMERA_POSE = (
    "/depth/image", "/depth/camera_info", "/segmentation", "/tf", "/tf_static", "/camera_pose")
TOPICS: dict[str, str] = {  # topic -> message type of everything read_bag knows
    DEPTH: "sensor_msgs/msg/Image",
    CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    SEGMENTATION: "occnet_ros/msg/Segmentation",
    TF: "tf2_msgs/msg/TFMessage",
    TF_STATIC: "tf2_msgs/msg/TFMessage",
    CAMERA_POSE: "geometry_msgs/msg/PoseStamped",
}
SENSOR_TOPICS = (DEPTH, CAMERA_INFO, SEGMENTATION)  # a bag must have all of these ...
POSE_TOPICS = (TF, CAMERA_POSE)  # ... and at least one of these
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
DEFAULT_STORAGE = "mcap"  # rosbags 0.11 writes both; mcap is Jazzy's default (needs lz4/zstd: rosbags' own deps)
DEFAULT_START_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z: recordings are reproducible, stamps non-zero
ORDER_STEP_NS = 1_000  # log times within one frame are 1 us apart, so every reader keeps the publish order

_INFINITE = QosTime(sec=9223372036, nsec=854775807)  # RMW_DURATION_INFINITE, as Jazzy's rosbag2 writes it


def _qos(reliability: QosReliability, depth: int, durability: QosDurability = QosDurability.VOLATILE) -> Qos:
    return Qos(QosHistory.KEEP_LAST, depth, reliability, durability, _INFINITE, _INFINITE,
               QosLiveliness.AUTOMATIC, _INFINITE, False)


OFFERED_QOS = {  # what the simulator node offers
    DEPTH: _qos(QosReliability.BEST_EFFORT, 5),
    CAMERA_INFO: _qos(QosReliability.BEST_EFFORT, 5),
    SEGMENTATION: _qos(QosReliability.BEST_EFFORT, 5),
    TF: _qos(QosReliability.RELIABLE, 100),
    TF_STATIC: _qos(QosReliability.RELIABLE, 10, QosDurability.TRANSIENT_LOCAL),
    CAMERA_POSE: _qos(QosReliability.RELIABLE, 50),
}


class BagError(RuntimeError):
    """A bag cannot be written or read (the message says why and what the bag holds)."""


# --------------------------------------------------------------------------------------------- types

def msg_directories() -> list[Path]:
    """Where occnet_ros's .msg files may be: next to the sources (also through colcon's
    --symlink-install links), then the installed share/occnet_ros/msg."""
    candidates = [Path(__file__).resolve().parents[1] / "msg", Path(__file__).parents[1] / "msg"]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            candidates.append(Path(get_package_share_directory(PACKAGE)) / "msg")
        except PackageNotFoundError:
            pass
    except ImportError:  # no ament_index: look beside the install tree's site-packages
        pass
    # <prefix>/lib/pythonX.Y/site-packages/occnet_ros/bags.py -> <prefix>/share/occnet_ros/msg
    if len(Path(__file__).parents) > 4:
        candidates.append(Path(__file__).parents[4] / "share" / PACKAGE / "msg")
    return [c for c in dict.fromkeys(candidates) if c.is_dir() and any(c.glob("*.msg"))]


def package_types(directory: Path | None = None) -> dict[str, Any]:
    """Type definitions of occnet_ros's messages, parsed from its .msg files."""
    if directory is None:
        found = msg_directories()
        if not found:
            raise BagError(f"cannot find occnet_ros's msg/*.msg (looked beside {Path(__file__).resolve().parent} "
                           "and in the ament index share directory)")
        directory = found[0]
    types: dict[str, Any] = {}
    for path in sorted(Path(directory).glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{PACKAGE}/msg/{path.stem}"))
    return types


TF_MESSAGE_MSG = "geometry_msgs/TransformStamped[] transforms\n"


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """ROS 2 Jazzy's standard types + occnet_ros's messages (+ tf2_msgs/TFMessage if missing).

    Shared and cached: register further types on a store of your own."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = package_types()
    if "tf2_msgs/msg/TFMessage" not in store.fielddefs:
        types.update(get_types_from_msg(TF_MESSAGE_MSG, "tf2_msgs/msg/TFMessage"))
    store.register(types)
    return store


# ------------------------------------------------------------------------------------- conversions

def stamp_to_ns(stamp: Any) -> int:
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


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


# ----------------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class BagInfo:
    path: Path
    topics: dict[str, tuple[str, int]]  # bag topic -> (type, message count)
    start_ns: int
    end_ns: int
    storage: str = ""

    def describe(self) -> str:
        if not self.topics:
            return "no topics"
        return ", ".join(f"{t} [{typ}] x{n}" for t, (typ, n) in sorted(self.topics.items()))


def _open_reader(path: Path) -> Reader:
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    if path.is_dir() and not (path / "metadata.yaml").exists():
        held = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
        raise BagError(f"{path} is not a rosbag2 bag: the directory has no metadata.yaml (it holds {held}); "
                       "give the bag directory, or a .mcap/.db3 file")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, WriterError, FileNotFoundError, OSError, ValueError, KeyError) as error:
        raise BagError(f"cannot read {path} as a rosbag2 bag (a directory with metadata.yaml, or a .mcap/.db3 file): "
                       f"{error}") from error
    except Exception as error:  # corrupt storage files surface as anything from sqlite3/mcap parsing
        raise BagError(f"cannot read {path} as a rosbag2 bag: {type(error).__name__}: {error}") from error
    return reader


def bag_info(path: str | os.PathLike) -> BagInfo:
    """Topics, types, counts and time span of a rosbag2 bag (raises BagError when unreadable)."""
    path = Path(path)
    reader = _open_reader(path)
    try:
        topics: dict[str, tuple[str, int]] = {}
        for c in reader.connections:
            old = topics.get(c.topic, (c.msgtype, 0))
            topics[c.topic] = (c.msgtype, old[1] + c.msgcount)
        return BagInfo(path, topics, reader.start_time if reader.message_count else 0, reader.end_time if reader.message_count else 0)
    finally:
        if reader.is_open:
            reader.close()


def _reader_typestore(reader: Reader, ours: Typestore) -> Typestore:
    """Deserialise with the definitions the bag carries (a recording of another version of a
    message still reads), falling back to ours for types without an embedded definition."""
    from rosbags.interfaces import MessageDefinitionFormat
    from rosbags.typesys import get_types_from_idl

    types: dict[str, Any] = dict(ours.fielddefs)
    embedded: dict[str, Any] = {}
    for c in reader.connections:
        if c.msgdef.format == MessageDefinitionFormat.MSG:
            embedded.update(get_types_from_msg(c.msgdef.data, c.msgtype))
        elif c.msgdef.format == MessageDefinitionFormat.IDL:
            sep = "=" * 80 + "\n"
            parts = c.msgdef.data.split(sep)[1:] if c.msgdef.data.startswith(f"{sep}IDL: ") else [f"IDL: x\n{c.msgdef.data}"]
            for part in parts:
                embedded.update(get_types_from_idl(part.split("\n", 1)[1]))
    if not embedded or all(ours.fielddefs.get(k) == v for k, v in embedded.items()):
        return ours
    types.update(embedded)
    store = get_typestore(Stores.EMPTY)
    store.register(types)
    return store


def normalise_topic(name: str) -> str:
    return "/" + name.strip().lstrip("/")


def parse_topic_map(text: str) -> dict[str, str]:
    """'a:=b, c:=d' -> {'a': 'b', 'c': 'd'} (the replay node's topic_map; ValueError names a bad pair)."""
    mapping = {}
    for pair in text.replace(";", ",").split(","):
        if not pair.strip():
            continue
        source, sep, target = pair.partition(":=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"topic_map entry {pair.strip()!r} is not 'bag_topic:=known_topic'")
        mapping[source.strip()] = target.strip()
    return mapping


def read_bag(path: str | os.PathLike, topic_map: Mapping[str, str] | None = None, require: bool = True,
             store: Typestore | None = None) -> BagMessages:
    """Yield ``(topic, log_time_ns, message)`` of the known topics (TOPICS), in log-time order.

    ``topic_map`` maps a bag's own topic names to the known ones, e.g. an hl2ss recording's
    ``{"/hl2/depth_lt": "/depth/image", ...}``; names without a leading slash are accepted.
    Other topics are skipped. With ``require``, the bag must hold all of SENSOR_TOPICS and one
    of POSE_TOPICS, each with the expected message type; otherwise BagError lists what it has.
    Messages are rosbags dataclasses (see ``occnet_ros.nodes.replay.to_ros`` for rclpy ones).
    Raises BagError for a missing, corrupt or unsupported bag (before the first message).
    """
    path = Path(path)
    mapping = {normalise_topic(k): normalise_topic(v) for k, v in (topic_map or {}).items()}
    unknown = sorted(v for v in mapping.values() if v not in TOPICS)
    if unknown:
        raise BagError(f"topic_map targets {unknown} are not known topics; known: {sorted(TOPICS)}")
    reader = _open_reader(path)
    try:
        wanted, found = [], {}
        for c in reader.connections:
            topic = mapping.get(normalise_topic(c.topic), normalise_topic(c.topic))
            if topic not in TOPICS:
                continue
            if c.msgtype != TOPICS[topic]:
                raise BagError(f"{path}: topic {c.topic} has type {c.msgtype}, expected {TOPICS[topic]} for {topic}")
            wanted.append(c)
            found[topic] = found.get(topic, 0) + c.msgcount
        if require:
            missing = [t for t in SENSOR_TOPICS if not found.get(t)]
            if not any(found.get(t) for t in POSE_TOPICS):
                missing.append(" or ".join(POSE_TOPICS))
            if missing:
                has = "; ".join(f"{c.topic} [{c.msgtype}] x{c.msgcount}" for c in reader.connections) or "no topics"
                hint = " (map the bag's names with topic_map)" if reader.connections else ""
                raise BagError(f"{path} lacks {', '.join(missing)}{hint}; it has: {has}")
        try:
            deser = _reader_typestore(reader, store or typestore())
        except Exception as error:  # rosbags' TypesysError and parse errors of odd definitions
            raise BagError(f"{path}: cannot use the message definitions stored in the bag: {error}") from error
    except BaseException:
        reader.close()
        raise
    return BagMessages(reader, _messages(reader, wanted, mapping, deser, path))


class BagMessages:
    """Iterator of read_bag; ``close()`` (or ``with``) releases the bag before the end."""

    def __init__(self, reader: Reader, messages: Iterator[tuple[str, int, Any]]) -> None:
        self.reader, self.messages = reader, messages

    def __iter__(self) -> BagMessages:
        return self

    def __next__(self) -> tuple[str, int, Any]:
        return next(self.messages)

    def close(self) -> None:
        self.messages.close()
        if self.reader.is_open:
            self.reader.close()

    def __enter__(self) -> BagMessages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _messages(reader: Reader, connections: list, mapping: dict[str, str], store: Typestore, path: Path) -> Iterator[tuple[str, int, Any]]:
    try:
        try:
            for connection, ns, raw in reader.messages(connections=connections):
                topic = mapping.get(normalise_topic(connection.topic), normalise_topic(connection.topic))
                yield topic, ns, store.deserialize_cdr(raw, connection.msgtype)
        except (ReaderError, KeyError, ValueError, OSError, IndexError) as error:
            raise BagError(f"{path}: corrupt message data: {type(error).__name__}: {error}") from error
        except Exception as error:
            if type(error).__module__.startswith(("rosbags", "sqlite3", "zstd", "lz4", "struct")):
                raise BagError(f"{path}: corrupt message data: {type(error).__name__}: {error}") from error
            raise
    finally:
        if reader.is_open:
            reader.close()
