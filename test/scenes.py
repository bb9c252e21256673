"""Two-object scenes rendered from poses around them: shared by the observation unit and node tests."""

from __future__ import annotations

import numpy as np
import trimesh

from occnet_ros.geometry.camera import HL2_LONG_THROW
from occnet_ros.geometry.raycast import look_at, raycasting_scene, render_depth


def two_object_scene():
    box = trimesh.creation.box([0.3, 0.3, 0.3])
    box.apply_translation([0.5, 0.0, 0.15])
    can = trimesh.creation.cylinder(radius=0.08, height=0.25, sections=32)
    can.apply_translation([-0.5, 0.2, 0.125])
    return [box, can]


def render_frame(meshes, pose, ids=(1, 2)):
    depth, geometry = render_depth(raycasting_scene(meshes), HL2_LONG_THROW, pose)
    mask = np.zeros(depth.shape, dtype=np.uint16)
    for index, value in enumerate(ids):
        mask[geometry == index] = value
    return depth, mask


def poses_around(count, radius=1.6, height=1.2):
    return [look_at(np.array([radius * np.cos(a), radius * np.sin(a), height]), np.array([0.0, 0.0, 0.15]))
            for a in np.linspace(0, 2 * np.pi, count, endpoint=False)]
