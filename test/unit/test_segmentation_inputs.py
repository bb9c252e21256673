"""Segmentation as common segmenters publish it: instance ids + detections, a fixed table, class-id images."""

from __future__ import annotations

import numpy as np
import pytest

from occnet_ros.observe.segmentation import Detection, from_class_image, from_detections, from_instance_table, parse_class_table


def test_class_table_parsing_and_errors():
    table = parse_class_table("41:cup, 56:chair;46:wine glass:transparent,")
    assert table[41].name == "cup" and not table[41].transparent
    assert table[46].name == "wine glass" and table[46].transparent
    for bad, match in (("cup", "not 'ID:NAME'"), ("x:cup", "not an integer"), ("0:bg", "positive"), ("3:cup:shiny", "not 'ID:NAME'")):
        with pytest.raises(ValueError, match=match):
            parse_class_table(bad)
    assert parse_class_table("") == {}


def test_detections_name_the_instances_and_bad_ids_are_counted():
    ids = np.zeros((20, 20), np.uint16)
    ids[2:6, 2:6], ids[10:15, 10:15], ids[0, 19] = 3, 7, 9  # 9: no detection names it
    detections = [Detection(3, "41", 0.9), Detection(7, "chair", 0.6), Detection(12, "cup", 0.8), Detection(3, "41", 0.5)]
    result = from_detections(ids, detections, parse_class_table("41:cup"))
    assert [(i.id, i.class_name, i.score) for i in result.instances] == [(3, "cup", 0.9), (7, "chair", 0.6)]
    assert result.skipped == {"detection_id_not_in_image": 1, "duplicate_detection_id": 1, "instance_without_detection": 1}
    assert (result.ids == 9).sum() == 0


def test_instance_table_and_32sc1_negative_background():
    ids = np.full((10, 10), -1, np.int32)
    ids[:3, :3], ids[5:, 5:] = 1, 2
    result = from_instance_table(ids, parse_class_table("1:mug,5:chair"))
    assert [(i.id, i.class_name) for i in result.instances] == [(1, "mug")]
    assert result.skipped == {"id_not_in_table": 1} and result.ids.min() == 0 and (result.ids == 2).sum() == 0


def test_class_image_is_split_into_connected_components_per_class():
    classes = np.zeros((30, 30), np.uint8)
    classes[2:8, 2:8] = 56  # chair A
    classes[20:28, 20:28] = 56  # chair B, not touching A
    classes[2:8, 20:25] = 46  # a glass
    classes[15, 15] = 99  # not in the table
    result = from_class_image(classes, parse_class_table("56:chair,46:wine glass:transparent"))
    names = sorted((i.class_name, i.transparent) for i in result.instances)
    assert names == [("chair", False), ("chair", False), ("wine glass", True)]
    chair_ids = {i.id for i in result.instances if i.class_name == "chair"}
    assert len(chair_ids) == 2 and set(np.unique(result.ids[classes == 56])) == chair_ids
    assert result.skipped["class_not_in_table"] == 1
    with pytest.raises(ValueError, match="needs class_table"):
        from_class_image(classes, {})
