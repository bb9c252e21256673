"""HoloLens 2 depth-camera simulator: a room with objects, a walking headset, ToF depth, masks.

Pure numpy/open3d (no ROS). The depth cameras follow the Research Mode streams: long throw
(320x288, 0.5-4 m) and AHAT (512x512, 0.1-1 m). Depth has range-dependent noise, flying
pixels at edges, dropouts on grazing and dark surfaces, multipath bias in concave corners (the
sensor model of geometry/sensor.py, the same one the training renderer uses; ``sensor`` picks
it); transparent objects return no depth but do appear in the instance mask (the segmenter sees
them). Masks have eroded/dilated borders, occasionally a missed instance, and instance ids that
change from frame to frame. The published headset pose carries the sensor model's pose error;
the depth is rendered from the true one (``SimFrame.true_camera_pose``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh

from occnet_ros.geometry.camera import HL2_AHAT, HL2_LONG_THROW
from occnet_ros.geometry.hl2ss_frames import MAP_FROM_HL2_WORLD
from occnet_ros.geometry.raycast import look_at, raycasting_scene, render_hits
from occnet_ros.geometry.sensor import SensorModel, preset
from occnet_ros.sim.hl2ss_camera import HL2SS_CAMERAS, hl2ss_camera, render_radial_hits

CAMERAS = {"long_throw": (HL2_LONG_THROW, 0.5, 4.0), "ahat": (HL2_AHAT, 0.1, 1.0),
           "hl2ss_long_throw": (HL2_LONG_THROW, 0.5, 4.0), "hl2ss_ahat": (HL2_AHAT, 0.1, 1.0)}
SMALL_CLASSES = ("mug", "bottle", "bowl", "lamp", "monitor")
LARGE_CLASSES = ("chair", "cabinet", "shelf")
TABLE_HEIGHT = 0.75
# headset (x forward, y left, z up) -> depth optical frame (z forward, x right, y down), 5 cm ahead
HEADSET_TO_OPTICAL = np.array([[0.0, 0.0, 1.0, 0.05], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


@dataclass
class SimObject:
    id: int
    class_name: str
    mesh: trimesh.Trimesh  # world frame
    transparent: bool = False


@dataclass
class SimFrame:
    stamp: float
    depth_mm: np.ndarray  # uint16 (H, W), 0 = no return
    instance_ids: np.ndarray  # uint16 (H, W), 0 = background
    instances: list[tuple[int, str, float, bool]]  # (mask id, class, score, transparent)
    headset_pose: np.ndarray  # 4x4 headset -> world
    camera_pose: np.ndarray  # 4x4 depth optical -> world
    radial: bool = False  # hl2ss cameras: depth_mm is the distance along each pixel's ray (raw units)
    true_camera_pose: np.ndarray | None = None  # 4x4 depth optical -> world the depth was rendered from

    @property
    def headset_pose_yup(self) -> np.ndarray:
        """The headset pose in hl2ss's y-up HoloLens world (what the device reports)."""
        return np.linalg.inv(MAP_FROM_HL2_WORLD) @ self.headset_pose


@dataclass
class SimSettings:
    seed: int = 0
    num_objects: int = 4
    num_frames: int = 24
    camera: str = "long_throw"
    rate_hz: float = 5.0
    mask_errors: bool = True
    missed_instance_prob: float = 0.05
    # "basic": depth noise, flying pixels and dropouts (what the shipped models were trained on);
    # "hololens2": the camera's HoloLens 2 preset (geometry/sensor.py); or a SensorModel
    sensor: str | SensorModel = "basic"


def sensor_model(sensor: str | SensorModel, camera: str) -> SensorModel:
    """The sensor model of a SimSettings.sensor value for a camera."""
    if isinstance(sensor, SensorModel):
        return sensor
    if sensor == "hololens2":
        return preset("hololens2_ahat" if camera.endswith("ahat") else "hololens2_long_throw")
    return preset(sensor)


@dataclass
class Room:
    objects: list[SimObject]
    background: list[trimesh.Trimesh] = field(default_factory=list)


def _on_floor(mesh: trimesh.Trimesh, xy: np.ndarray, yaw: float, z: float = 0.0) -> trimesh.Trimesh:
    mesh = mesh.copy()
    mesh.apply_transform(trimesh.transformations.rotation_matrix(yaw, [0, 0, 1]))
    low, high = mesh.bounds
    mesh.apply_translation([xy[0] - (low[0] + high[0]) / 2, xy[1] - (low[1] + high[1]) / 2, z - low[2]])
    return mesh


def make_room(settings: SimSettings) -> Room:
    """A 5 x 5 m room: a table with small objects, large objects on the floor, one glass."""
    from occnet_ros.shapes.catalog import make_shape

    rng = np.random.default_rng(settings.seed)
    table = trimesh.creation.box([1.2, 0.8, 0.04])
    table.apply_translation([0, 0, TABLE_HEIGHT - 0.02])
    legs = [trimesh.creation.box([0.05, 0.05, TABLE_HEIGHT - 0.04]) for _ in range(4)]
    for leg, (x, y) in zip(legs, [(-0.55, -0.35), (0.55, -0.35), (-0.55, 0.35), (0.55, 0.35)]):
        leg.apply_translation([x, y, (TABLE_HEIGHT - 0.04) / 2])
    floor = trimesh.creation.box([5.0, 5.0, 0.02])
    floor.apply_translation([0, 0, -0.011])
    objects: list[SimObject] = []
    small_slots = [np.array([x, y]) for x in (-0.35, 0.0, 0.35) for y in (-0.2, 0.2)]
    rng.shuffle(small_slots)
    large_slots = [np.array([r * np.cos(a), r * np.sin(a)]) for r, a in zip([1.4] * 4, np.deg2rad([20, 110, 200, 290]))]
    for index in range(settings.num_objects):
        if index % 2 == 0 and small_slots:
            name = SMALL_CLASSES[rng.integers(len(SMALL_CLASSES))]
            name = "mug" if name in ("lamp", "monitor") and rng.random() < 0.5 else name
            mesh = _on_floor(make_shape(name, rng), small_slots.pop(), rng.uniform(0, 2 * np.pi), TABLE_HEIGHT)
        else:
            name = LARGE_CLASSES[rng.integers(len(LARGE_CLASSES))]
            mesh = _on_floor(make_shape(name, rng), large_slots.pop(0), rng.uniform(0, 2 * np.pi))
        objects.append(SimObject(index + 1, name, mesh))
    glass = trimesh.creation.cylinder(radius=0.035, height=0.12, sections=24)
    slot = small_slots.pop() if small_slots else np.array([0.5, 0.3])
    objects.append(SimObject(len(objects) + 1, "glass", _on_floor(glass, slot, 0.0, TABLE_HEIGHT), transparent=True))
    return Room(objects, [floor, table, *legs])


def trajectory(settings: SimSettings, room: Room) -> list[np.ndarray]:
    """Headset poses: walking around the table at 1.6-2.2 m, looking at one object after another."""
    rng = np.random.default_rng(settings.seed + 1)
    targets = [o.mesh.bounds.mean(axis=0) for o in room.objects if not o.transparent]
    poses = []
    close = settings.camera.endswith("ahat")
    for i in range(settings.num_frames):
        angle = 2 * np.pi * i / settings.num_frames + rng.normal(scale=0.05)
        target = targets[i % len(targets)]
        radius = rng.uniform(0.55, 0.8) if close else rng.uniform(1.6, 2.2)
        centre = target[:2] if close else np.zeros(2)
        eye = np.array([*(centre + radius * np.array([np.cos(angle), np.sin(angle)])), rng.uniform(1.5, 1.7)])
        if close:
            eye[2] = target[2] + rng.uniform(0.3, 0.5)
        optical = look_at(eye, target + rng.normal(scale=0.03, size=3))
        poses.append(optical @ np.linalg.inv(HEADSET_TO_OPTICAL))
    return poses


class HoloLensSimulator:
    """Renders the frames of a room seen along a trajectory."""

    def __init__(self, settings: SimSettings, room: Room | None = None, poses: list[np.ndarray] | None = None) -> None:
        """A simulator of settings' room and trajectory, or of a given room and headset poses."""
        if settings.camera not in CAMERAS:
            raise ValueError(f"camera must be one of {sorted(CAMERAS)}")
        self.settings = settings
        self.intrinsics, self.min_range, self.max_range = CAMERAS[settings.camera]
        # hl2ss cameras: radial uint16 depth through a distorted per-pixel ray table (RayTableCamera)
        self.ray_camera = hl2ss_camera(settings.camera) if settings.camera in HL2SS_CAMERAS else None
        self.room = room or make_room(settings)
        self.poses = poses or trajectory(settings, self.room)
        opaque = [o.mesh for o in self.room.objects if not o.transparent]
        self.depth_scene = raycasting_scene([*opaque, *self.room.background])
        self.mask_scene = raycasting_scene([o.mesh for o in self.room.objects] + self.room.background)
        self.noise = sensor_model(settings.sensor, settings.camera)
        if self.noise.mask_error_px == 0:  # mask_errors decides; a model without a band erodes/bleeds by one pixel
            self.mask_noise = SensorModel(mask_error_px=1)
        else:
            self.mask_noise = self.noise
        self.rng = np.random.default_rng(settings.seed + 2)

    def render(self, scene, camera: np.ndarray):
        """Noise-free RayHits of one scene from a depth optical pose."""
        if self.ray_camera is None:
            return render_hits(scene, self.intrinsics, camera)
        return render_radial_hits(scene, self.ray_camera, camera)

    def frame(self, index: int) -> SimFrame:
        true_headset = self.poses[index % len(self.poses)]
        camera = true_headset @ HEADSET_TO_OPTICAL
        hits = self.render(self.depth_scene, camera)
        depth = self.noise.apply(hits.depth, self.rng, hits, self.settings.seed)
        depth[(depth < self.min_range) | (depth > self.max_range)] = np.nan
        geometry = self.render(self.mask_scene, camera).geometry
        n_objects = len(self.room.objects)
        object_index = np.where((geometry >= 0) & (geometry < n_objects), geometry + 1, 0)
        relabel = self.rng.permutation(np.arange(1, n_objects + 1)) + 10 * (index % 5)  # ids change per frame
        ids = np.where(object_index > 0, relabel[np.maximum(object_index - 1, 0)], 0).astype(np.uint16)
        if self.settings.mask_errors:
            ids = self.mask_noise.perturb_mask(ids, self.rng)
        instances = []
        for obj, mask_id in zip(self.room.objects, relabel):
            visible = (ids == mask_id).sum()
            if visible == 0:
                continue
            if self.settings.mask_errors and self.rng.random() < self.settings.missed_instance_prob:
                ids[ids == mask_id] = 0
                continue
            instances.append((int(mask_id), obj.class_name, float(self.rng.uniform(0.6, 0.99)), obj.transparent))
        headset = self.noise.perturb_pose(true_headset, self.rng)  # what the headset reports
        stamp, reported = index / self.settings.rate_hz, headset @ HEADSET_TO_OPTICAL
        if self.ray_camera is None:
            depth_mm = np.nan_to_num(depth * 1000.0, nan=0.0).round().clip(0, 65535).astype(np.uint16)
            return SimFrame(stamp, depth_mm, ids, instances, headset, reported, true_camera_pose=camera)
        raw = np.nan_to_num(depth / self.ray_camera.metres_per_unit, nan=0.0).round()
        if self.ray_camera.alias > 0:  # AHAT: beyond the wrap the device reports no distance
            raw[raw >= self.ray_camera.alias] = self.ray_camera.alias
        raw = raw.clip(0, 65535).astype(np.uint16)
        return SimFrame(stamp, raw, ids, instances, headset, reported, radial=True, true_camera_pose=camera)
