"""The observation node's parameters as the pure core's settings (frame splitting, object store)."""

from __future__ import annotations

from typing import Any

from occnet_ros.observe.crop import CropSettings
from occnet_ros.observe.frame import FrameSettings
from occnet_ros.observe.objects import StoreSettings


def store_settings(p: dict[str, Any]) -> StoreSettings:
    return StoreSettings(
        max_views_per_object=p["max_views_per_object"], association_distance_m=p["association_distance_m"],
        association_min_overlap=p["association_min_overlap"], association_voxel_m=p["association_voxel_m"],
        retire_after_s=p["retire_after_s"], reconstruct_every_views=p["reconstruct_every_views"],
    )


def frame_settings(p: dict[str, Any]) -> FrameSettings:
    return FrameSettings(
        max_points_per_view=p["max_points_per_view"], voxel_size_m=p["voxel_size_m"],
        min_instance_points=p["min_instance_points"], min_score=p["min_score"],
        skip_classes=tuple(p["skip_classes"]), outlier_neighbors=p["outlier_neighbors"],
        outlier_std_ratio=p["outlier_std_ratio"], cluster_radius_m=p["cluster_radius_m"],
        mask_erosion_px=p["mask_erosion_px"], crop=CropSettings(margin=p["view_margin"], max_side=p["view_max_side_px"]),
    )
