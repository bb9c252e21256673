"""Segmentation as common segmenters publish it -> (instance-id image, InstanceInfo list) for observe/frame.py.

Three shapes, all pure numpy/scipy:
- an instance-id image + detections (vision_msgs/Detection2DArray: per detection the instance id,
  the class and its score), as Mask R-CNN / YOLO-seg style nodes publish;
- an instance-id image + a fixed table id -> class (segmenters with stable ids);
- a class-id image (semantic segmentation) + a table class id -> name: each class's pixels are
  split into connected components (8-connected), one instance each.
What cannot be used is dropped and counted by reason, never raised, except a class-id image with no
table (a configuration error).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from occnet_ros.observe.frame import InstanceInfo


@dataclass(frozen=True)
class ClassEntry:
    name: str
    transparent: bool = False


@dataclass(frozen=True)
class Detection:
    """One detection: its value in the instance-id image, class (name or numeric id as text), score."""

    instance_id: int
    class_id: str
    score: float = 1.0


@dataclass
class SegmentationResult:
    ids: np.ndarray  # (H, W) instance ids, 0 = background
    instances: list[InstanceInfo] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def parse_class_table(text: str) -> dict[int, ClassEntry]:
    """'41:cup,56:chair,46:wine glass:transparent' -> {41: cup, 56: chair, 46: wine glass (transparent)}."""
    table: dict[int, ClassEntry] = {}
    for entry in (e.strip() for e in text.replace(";", ",").split(",")):
        if not entry:
            continue
        parts = [p.strip() for p in entry.split(":")]
        flags = parts[2:]
        if len(parts) < 2 or not parts[1] or any(f not in ("transparent", "opaque") for f in flags):
            raise ValueError(f"class_table entry {entry!r} is not 'ID:NAME' or 'ID:NAME:transparent'")
        try:
            key = int(parts[0])
        except ValueError:
            raise ValueError(f"class_table entry {entry!r}: id {parts[0]!r} is not an integer") from None
        if key <= 0:
            raise ValueError(f"class_table entry {entry!r}: id must be positive (0 is background)")
        table[key] = ClassEntry(parts[1], "transparent" in flags)
    return table


def id_image(array: np.ndarray) -> np.ndarray:
    """An id image as int64; negative ids (32SC1 '-1 = none') are background."""
    if array.ndim != 2:
        raise ValueError(f"segmentation image must be single-channel (H, W), got shape {array.shape}")
    ids = array.astype(np.int64)
    ids[ids < 0] = 0
    return ids


def from_instance_table(ids: np.ndarray, table: dict[int, ClassEntry]) -> SegmentationResult:
    """Instance ids with a fixed table: ids not in the table are cleared and counted."""
    ids = id_image(ids)
    result = SegmentationResult(ids)
    for value in np.unique(ids[ids > 0]).tolist():
        entry = table.get(value)
        if entry is None:
            result.skipped["id_not_in_table"] += 1
            ids[ids == value] = 0
            continue
        result.instances.append(InstanceInfo(value, entry.name, 1.0, entry.transparent))
    return result


def from_class_image(class_ids: np.ndarray, table: dict[int, ClassEntry], min_pixels: int = 1) -> SegmentationResult:
    """A class-id image split into connected components per class, numbered 1, 2, ... in class order."""
    from scipy import ndimage

    if not table:
        raise ValueError("a class-id segmentation image needs class_table (class id -> name); it is empty")
    class_ids = id_image(class_ids)
    out = np.zeros(class_ids.shape, np.int64)
    result = SegmentationResult(out)
    next_id = 1
    for value in np.unique(class_ids[class_ids > 0]).tolist():
        entry = table.get(value)
        if entry is None:
            result.skipped["class_not_in_table"] += 1
            continue
        labels, count = ndimage.label(class_ids == value, structure=np.ones((3, 3), bool))
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        keep = np.flatnonzero(sizes >= min_pixels)
        keep = keep[keep > 0]
        result.skipped["component_too_small"] += count - len(keep)
        relabel = np.zeros(count + 1, np.int64)
        relabel[keep] = np.arange(next_id, next_id + len(keep))
        region = labels > 0
        out[region] = relabel[labels[region]]
        result.instances += [InstanceInfo(int(i), entry.name, 1.0, entry.transparent) for i in relabel[keep]]
        next_id += len(keep)
    return result


def from_detections(ids: np.ndarray, detections: list[Detection], table: dict[int, ClassEntry] | None = None) -> SegmentationResult:
    """Instance ids + detections; a numeric class id is named through ``table`` when it has it.

    Detections naming an id absent from the image are counted (``detection_id_not_in_image``);
    image ids no detection names are cleared (``instance_without_detection``).
    """
    ids = id_image(ids)
    result = SegmentationResult(ids)
    present = set(np.unique(ids[ids > 0]).tolist())
    named = set()
    for det in detections:
        if det.instance_id not in present:
            result.skipped["detection_id_not_in_image"] += 1
            continue
        if det.instance_id in named:
            result.skipped["duplicate_detection_id"] += 1
            continue
        name, transparent = det.class_id, False
        if table and det.class_id.strip().lstrip("-").isdigit() and int(det.class_id) in table:
            entry = table[int(det.class_id)]
            name, transparent = entry.name, entry.transparent
        named.add(det.instance_id)
        result.instances.append(InstanceInfo(det.instance_id, name, float(det.score), transparent))
    for value in present - named:
        result.skipped["instance_without_detection"] += 1
        ids[ids == value] = 0
    return result
