"""The observation node's segmentation input: occnet_ros/Segmentation, or what common segmenters publish.

``segmentation_input``:
- ``segmentation``: occnet_ros/Segmentation on ``segmentation`` (default).
- ``image_detections``: an id image on ``segmentation_image_topic`` + vision_msgs/Detection2DArray on
  ``detections_topic``, matched by stamp with the depth. Detection2D.id is the instance's value in
  the image (empty: its index + 1), results[0].hypothesis the class (name, or a numeric id named by
  ``class_table``) and score. Needs vision_msgs importable.
- ``image_table``: an id image alone; ``class_table`` names its ids (``segmentation_ids: instance``)
  or its class ids, split into connected components (``segmentation_ids: class``).
Each becomes an occnet_ros/Segmentation, so the rest of the node is unchanged.
"""

from __future__ import annotations

from collections import Counter

from sensor_msgs.msg import Image

from occnet_ros.msg import InstanceInfo, Segmentation
from occnet_ros.nodes.conversions import array_to_image, image_to_array
from occnet_ros.observe.segmentation import (
    Detection,
    SegmentationResult,
    from_class_image,
    from_detections,
    from_instance_table,
    parse_class_table,
)

ID_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32SC1")
VISION_MSGS_HINT = ("segmentation_input 'image_detections' needs vision_msgs, which is not importable: build it from "
                    "../shared/ros2-jazzy-src (the upstream Jazzy sources) into the workspace, or install "
                    "ros-jazzy-vision-msgs with a ROS 2 install; or use segmentation_input 'image_table'")


def detection_array_type():
    """vision_msgs/Detection2DArray, or None when vision_msgs is not built."""
    try:
        from vision_msgs.msg import Detection2DArray
    except ImportError:
        return None
    return Detection2DArray


def detections_of(msg) -> list[Detection]:
    """Detection2DArray -> Detection list (detections without a hypothesis are left out by the caller's count)."""
    out = []
    for index, det in enumerate(msg.detections):
        if not det.results:
            out.append(Detection(-1, "", 0.0))
            continue
        best = max(det.results, key=lambda r: r.hypothesis.score)
        try:
            instance = int(det.id) if det.id.strip() else index + 1
        except ValueError:
            instance = -2
        out.append(Detection(instance, best.hypothesis.class_id, float(best.hypothesis.score)))
    return out


class SegmentationInput:
    """Input message types/topics of the segmentation, and their conversion to one Segmentation."""

    def __init__(self, params: dict) -> None:
        self.kind = params["segmentation_input"]
        self.ids_kind = params["segmentation_ids"]
        self.table = parse_class_table(params["class_table"])  # ValueError names the entry
        self.skipped: Counter = Counter()
        if self.kind == "segmentation":
            self.inputs = [(Segmentation, "segmentation")]
        elif self.kind == "image_detections":
            detections = detection_array_type()
            if detections is None:
                raise ImportError(VISION_MSGS_HINT)
            self.inputs = [(Image, params["segmentation_image_topic"]), (detections, params["detections_topic"])]
        else:
            if self.ids_kind == "class" and not self.table:
                raise ValueError("segmentation_input 'image_table' with segmentation_ids 'class' needs class_table")
            self.inputs = [(Image, params["segmentation_image_topic"])]

    def convert(self, *msgs) -> Segmentation:
        """The Segmentation of the matched input messages; ValueError when the image is unusable."""
        if self.kind == "segmentation":
            return msgs[0]
        image = msgs[0]
        if image.encoding not in ID_ENCODINGS:
            raise ValueError(f"segmentation image encoding {image.encoding!r} is not one of {list(ID_ENCODINGS)}")
        ids = image_to_array(image)
        result: SegmentationResult
        if self.kind == "image_detections":
            result = from_detections(ids, detections_of(msgs[1]), self.table)
        elif self.ids_kind == "class":
            result = from_class_image(ids, self.table)
        else:
            result = from_instance_table(ids, self.table)
        self.skipped.update(result.skipped)
        encoding = "16UC1" if result.ids.max(initial=0) < 65536 else "32SC1"
        seg = Segmentation(header=image.header, instance_image=array_to_image(result.ids, encoding, image.header))
        seg.instances = [InstanceInfo(id=i.id, class_name=i.class_name, score=i.score, transparent=i.transparent)
                         for i in result.instances]
        return seg
