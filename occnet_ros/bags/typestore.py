"""The rosbag2 side without rclpy: topics, offered QoS and the typestore (recorder.py writes, reader.py reads).

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

from functools import lru_cache
from pathlib import Path
from typing import Any

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

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
    candidates = [Path(__file__).resolve().parents[2] / "msg", Path(__file__).parents[2] / "msg"]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            candidates.append(Path(get_package_share_directory(PACKAGE)) / "msg")
        except PackageNotFoundError:
            pass
    except ImportError:  # no ament_index: look beside the install tree's site-packages
        pass
    # <prefix>/lib/pythonX.Y/site-packages/occnet_ros/bags/typestore.py -> <prefix>/share/occnet_ros/msg
    if len(Path(__file__).parents) > 5:
        candidates.append(Path(__file__).parents[5] / "share" / PACKAGE / "msg")
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
