"""Every node parameter in one place: name, default, description, allowed range or choices.

Pure Python (no rclpy): the nodes declare these with ParameterDescriptors, the README's
tables list them, and ``validate_params_file`` checks a params YAML without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Value = bool | int | float | str | list


@dataclass(frozen=True)
class Param:
    name: str
    default: Value
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None

    def check(self, value: Any) -> str | None:
        """None when value is acceptable, else a message naming the parameter."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            return f"parameter '{self.name}' must be of type {expected.__name__}, got {type(value).__name__} ({value!r})"
        if expected is list and not all(isinstance(v, str) for v in value):
            return f"parameter '{self.name}' must be a list of strings"
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            return f"parameter '{self.name}' = {value} is outside [{self.low}, {self.high}]"
        if self.choices is not None and value not in self.choices:
            return f"parameter '{self.name}' = {value!r} is not one of {list(self.choices)}"
        return None


WORLD_FRAME = Param("world_frame", "map", "Fixed frame that views, objects and meshes are expressed in (REP-105).")

OBSERVATION = (
    WORLD_FRAME,
    Param("pose_source", "tf", "Camera pose from TF ('tf') or a geometry_msgs/PoseStamped topic 'camera_pose' ('topic').", choices=("tf", "topic")),
    Param("tf_timeout_s", 0.25, "How long to wait for the camera's transform at a frame's stamp "
          "(SLAM-rate TF, 10-30 Hz, arrives a little after the frame).", 0.0, 5.0),
    Param("depth_scale", 0.0, "Metres per depth unit; 0 = by encoding (16UC1: 0.001, 32FC1: 1).", 0.0, 10.0),
    Param("camera_model", "pinhole", "'pinhole': z-depth, K from depth/camera_info. 'ray_table': depth is the distance along "
          "each pixel's ray (HoloLens 2 / hl2ss), rays from ray_table_file or ray_table_topic.", choices=("pinhole", "ray_table")),
    Param("ray_table_file", "", "camera_model ray_table: .npy (H, W, 2) or .npz (uv2xy, optional scale, alias, K, undistort_map) "
          "unit-plane table; empty = from ray_table_topic."),
    Param("ray_table_topic", "depth/ray_table", "camera_model ray_table without a file: latched 32FC2 Image of the table."),
    Param("depth_wrap", 0.0, "Raw depth values at or beyond this are wrapped (AHAT aliasing) and dropped (counted); "
          "0 = the ray table file's alias, or none.", 0.0, 65535.0),
    Param("segmentation_input", "segmentation", "'segmentation': occnet_ros/Segmentation. 'image_detections': an instance-id "
          "Image + vision_msgs/Detection2DArray. 'image_table': an instance- or class-id Image + class_table.",
          choices=("segmentation", "image_detections", "image_table")),
    Param("segmentation_image_topic", "segmentation/image", "Id image (mono8, mono16/16UC1, 32SC1) of image_detections / image_table."),
    Param("detections_topic", "segmentation/detections", "vision_msgs/Detection2DArray of image_detections: Detection2D.id = "
          "the instance id in the image, results[0] = class and score."),
    Param("segmentation_ids", "instance", "What the id image holds: 'instance' ids, or 'class' ids (split into connected "
          "components per class).", choices=("instance", "class")),
    Param("class_table", "", "Id -> class, comma-separated 'ID:NAME' or 'ID:NAME:transparent' entries, e.g. "
          "'41:cup,56:chair,46:wine glass:transparent' (image_table: instance or class ids; image_detections: "
          "numeric class ids of the detector)."),
    Param("min_range_m", 0.1, "Depth below this is invalid.", 0.0, 100.0),
    Param("max_range_m", 5.0, "Depth above this is invalid.", 0.0, 100.0),
    Param("sync_slop_s", 0.02, "Largest stamp difference between depth, camera info and segmentation of one frame.", 0.0, 1.0),
    Param("sync_queue_size", 10, "Messages per input kept while waiting for their partners.", 1, 1000),
    Param("stamp_jump_reset_s", 1.0, "An input stamp this far behind the newest one seen (a bag replayed with --loop) "
          "resets the synchroniser, the TF buffer and the frame order, with a warning.", 0.0, 1e9),
    Param("pose_slop_s", 0.02, "Largest stamp difference between a frame and its camera_pose (pose_source: topic).", 0.0, 1.0),
    Param("max_views_per_object", 10, "Partial views kept per object; a new view replaces the most redundant one.", 1, 100),
    Param("max_points_per_view", 2000, "Points kept of one instance in one view (random subset).", 10, 1_000_000),
    Param("voxel_size_m", 0.004, "Voxel downsampling of each view's points.", 0.0, 1.0),
    Param("min_instance_points", 50, "Instances with fewer valid depth points in a frame are skipped (counted).", 1, 1_000_000),
    Param("min_score", 0.3, "Instances with a lower detector score are skipped (counted).", 0.0, 1.0),
    Param("association_distance_m", 0.15, "Gate on the distance between a view's centroid and an object's.", 0.0, 10.0),
    Param("association_min_overlap", 0.05, "Minimum voxel overlap (IoU at association_voxel_m) to join an object when centroids disagree.", 0.0, 1.0),
    Param("association_voxel_m", 0.03, "Voxel size of the overlap test.", 0.001, 1.0),
    Param("skip_classes", ["glass", "window", "mirror", "bottle-glass", "wine glass"], "Classes never reconstructed (time-of-flight depth cannot see them)."),
    Param("retire_after_s", 120.0, "Objects unseen for this long are retired; 0 = never.", 0.0, 1e9),
    Param("reconstruct_every_views", 2, "Request a reconstruction after this many new views of an object.", 1, 1000),
    Param("reconstruct_period_s", 0.0, "Also request one for every updated object at this period; 0 = off.", 0.0, 3600.0),
    Param("outlier_neighbors", 12, "Statistical outlier removal per view: neighbours considered (the nearest of the pixels in a window around each point, "
          "which flying pixels at depth edges are far from); 0 = off.", 0, 1000),
    Param("outlier_std_ratio", 2.5, "Statistical outlier removal: distance threshold in standard deviations.", 0.1, 100.0),
    Param("mask_erosion_px", 1, "Drop this many border pixels of every instance mask (segmenter errors, mixed depth).", 0, 20),
    Param("cluster_radius_m", 0.03, "Keep only the largest group of an instance's points connected through occupied voxels "
          "of this size (gaps under it always join; drops mask spill onto the background across depth jumps); 0 = off.", 0.0, 1.0),
    Param("publish_clouds", True, "Publish the accumulated clouds of all objects on 'objects/cloud' for RViz."),
    Param("view_max_side_px", 160, "Depth crop kept of every view for the evidence: side cap in pixels (larger crops are "
          "sampled every n-th pixel, K scaled to match); 0 = send no views (the prior alone).", 0, 4096),
    Param("view_margin", 0.25, "Margin of the depth crop around the mask, as a fraction of the mask's bounding-box side "
          "(at least 8 px): the depth beside the object proves space empty.", 0.0, 4.0),
    Param("max_objects", 100, "Objects kept at most; beyond it the least-seen (then longest unseen) are retired (counted); 0 = no cap.", 0, 100000),
    Param("skip_stale_frames", True, "When frames queue up, process the newest and skip the older ones (counted stale_frame) "
          "to stay current; false = every frame in order (replays)."),
    Param("max_stamp_jump_s", 60.0, "A stamp this far ahead of the last frame is held as a glitch (skipped, counted); when "
          "the next frame follows it, the timeline resets with a warning; 0 = off.", 0.0, 1e9),
)

RECONSTRUCTION = (
    WORLD_FRAME,
    Param("checkpoint", "", "Model file; empty = the shipped default, models/conv_onet_furniture_long.pt."),
    Param("device", "auto", "Torch device: 'auto' (cuda when available), 'cpu' or 'cuda'.", choices=("auto", "cpu", "cuda")),
    Param("torch_threads", 0, "CPU threads for torch; 0 = torch's default.", 0, 256),
    Param("resolution0", 32, "MISE coarse grid cells per axis.", 4, 256),
    Param("upsampling_steps", 2, "MISE refinements (final resolution = resolution0 * 2^steps).", 0, 5),
    Param("refine_margin", 3.0, "MISE also refines cells within this many logits below the surface level (keeps thin parts "
          "the coarse grid misses; measured 1.3-2x the queries); 0 = classic MISE (enough for the smoother onet).", 0.0, 50.0),
    Param("max_handles", 50, "A surface with more handles (from its Euler number: noise, pinholes through thin walls) has "
          "its one-cell gaps closed and voids filled before it is extracted again, so decimation can reach max_triangles "
          "(models/README.md, 'Topological noise'); 0 = never.", 0, 1_000_000),
    Param("input_resamplings", 4, "Random subsets of an object's points the network encodes, their encodings averaged "
          "(test-time ensembling; measured on validation: models/README.md); 1 = a single draw, the fastest.", 1, 64),
    Param("bf16", False, "Evaluate the network in bfloat16 autocast (measured on 2 CPU threads: no gain for conv_onet, "
          "1.4x faster for onet; IoU 0.98-1.0 against float32)."),
    Param("threshold", 0.0, "Occupancy probability of the surface; 0 = the checkpoint's (chosen on validation).", 0.0, 0.99),
    Param("max_triangles", 5000, "Decimate meshes to at most this many triangles (<= 21845 keeps 16-bit indices).", 100, 1_000_000),
    Param("smoothing_iterations", 5, "Taubin smoothing iterations; 0 = off.", 0, 100),
    Param("use_evidence", True, "Fuse the views' depth evidence (TSDF where observed, crossed space empty) with the model; "
          "false = the model on the points alone."),
    Param("pose_tolerance_m", 0.0, "Silhouette carving spares this neighbourhood of observed points, for views whose poses are off "
          "by millimetres (a thin wall survives a misplaced mask); 0 = off. Measured on sensor-true views: docs/sensor_model.md.",
          0.0, 0.1),
    Param("mirror_symmetry", True, "Where the views support a vertical mirror plane (at most 1.5% of reflected points in space a "
          "view saw through, at least half on seen surface, judged at 1% of the object), fuse the mirrored views too: "
          "the hidden side as the seen side's mirror image (models/README.md, 'Mirror symmetry'); false = the views alone."),
    Param("mirror_second_plane", True, "Where a mirror plane holds, also try the vertical plane square to it (judged at "
          "support 0.7): a table or cabinet is then mirrored about both (models/README.md, 'A second mirror plane')."),
    Param("revolution_symmetry", False, "Where the views support a vertical axis of revolution (rotations about it put at most "
          "1.5% of points in space a view saw through and at least half on seen surface, judged at 1% of the object or 5 mm), "
          "fuse the views turned to 5 more places about it, before any mirror is tried. Off: on the validation splits it "
          "completed bowls and lamps but lost more on small and near-round objects (models/README.md, 'Revolution symmetry')."),
    Param("min_component_fraction", 0.05, "Drop mesh components smaller than this fraction of the largest.", 0.0, 1.0),
    Param("keep_seen_components", True, "Keep a smaller component where a quarter of its vertices lie within 1% of the object "
          "of an observed point: a leg the network cut off from the body (models/README.md, 'Small parts the views saw')."),
    Param("queue_size", 8, "Objects waiting for reconstruction; the oldest request is dropped (counted) when full.", 1, 1000),
    Param("save_directory", "~/.ros/occnet_meshes", "Default directory of the save_meshes service."),
    Param("marker_alpha", 0.8, "Opacity of the mesh markers.", 0.0, 1.0),
)

UNITY_BRIDGE = (
    Param("host", "127.0.0.1", "Address the WebSocket server binds to (loopback by default; 0.0.0.0 for a headset on the LAN)."),
    Param("port", 9190, "TCP port (not rosbridge's 9090, so both can run); 0 = any free port (logged).", 0, 65535),
    Param("token", "", "Shared secret clients must send in their hello; empty = none."),
    Param("tls_cert", "", "PEM certificate file; with tls_key enables wss://."),
    Param("tls_key", "", "PEM private key file."),
    Param("max_clients", 8, "Further connections are refused with an error frame.", 1, 1000),
    Param("max_frame_bytes", 4_000_000, "Larger mesh updates are not sent; the client gets a drop notice.", 1024, 1_000_000_000),
    Param("heartbeat_s", 1.0, "Heartbeat period.", 0.05, 60.0),
    Param("client_timeout_s", 5.0, "Clients silent for this long are evicted.", 0.1, 3600.0),
    Param("serve_viewer", True, "Serve the browser viewer at http://host:port/."),
)

HL2SS_BRIDGE = (
    WORLD_FRAME,
    Param("host", "", "The HoloLens 2's address (hl2ss server app running); required."),
    Param("stream", "long_throw", "Research-mode depth stream: 'long_throw' (320x288, 5 Hz) or 'ahat' (512x512, 45 Hz).",
          choices=("long_throw", "ahat")),
    Param("port", 0, "TCP port; 0 = hl2ss's port of the stream (long throw 3805, AHAT 3804).", 0, 65535),
    Param("hl2ss_client", "hl2ss", "'hl2ss': hl2ss's Python client (viewer folder on PYTHONPATH; decodes compressed "
          "streams). 'builtin': hl2ss's framing read here, uncompressed payloads only.", choices=("hl2ss", "builtin")),
    Param("output", "pinhole", "'pinhole': 32FC1 z-depth on the undistorted pinhole grid (default camera model). 'radial': "
          "32FC1 radial metres + depth/ray_table (observation camera_model: ray_table).", choices=("pinhole", "radial")),
    Param("hl2_world_frame", "hl2_world", "The HoloLens world (y-up); map -> hl2_world is published static."),
    Param("rig_frame", "hl2_rig", "The headset's rig frame (hl2ss's pose)."),
    Param("depth_frame", "hl2_depth_optical", "Optical frame of the depth camera."),
    Param("utc_offset_ticks", 0, "Device clock -> UTC offset in 100 ns ticks since 1601 (hl2ss reports it); 0 = anchor the "
          "first frame to this host's clock.", 0, 2**62),
    Param("min_range_m", 0.1, "Depth below this is no return.", 0.0, 100.0),
    Param("max_range_m", 7.5, "Depth above this is no return.", 0.0, 100.0),
    Param("timeout_s", 5.0, "Connect / receive timeout of the built-in client.", 0.1, 600.0),
    Param("reconnect_max_s", 10.0, "Longest back-off between reconnection attempts.", 0.1, 3600.0),
)

HOLOLENS_SIM = (
    WORLD_FRAME,
    Param("rate_hz", 5.0, "Frames per second.", 0.1, 60.0),
    Param("camera", "long_throw", "HoloLens 2 depth camera: 'long_throw' (320x288) or 'ahat' (512x512), pinhole z-depth; "
          "'hl2ss_long_throw' / 'hl2ss_ahat': what hl2ss delivers (radial depth, distorted ray table on depth/ray_table, "
          "y-up HoloLens world under hl2_world_frame).", choices=("long_throw", "ahat", "hl2ss_long_throw", "hl2ss_ahat")),
    Param("hl2_world_frame", "hl2_world", "hl2ss cameras: the y-up HoloLens world frame (map -> hl2_world is static)."),
    Param("seed", 0, "Scene, trajectory and noise seed.", 0, 2**31 - 1),
    Param("num_objects", 4, "Objects in the room (one more, transparent, is always added).", 1, 20),
    Param("num_frames", 24, "Frames of the trajectory; the sim then stops publishing (0 = loop forever).", 0, 100000),
    Param("pose_source", "tf", "Publish the camera pose as TF ('tf') or on 'camera_pose' ('topic').", choices=("tf", "topic")),
    Param("headset_frame", "hl2", "Frame of the headset."),
    Param("depth_frame", "hl2_depth_optical", "Optical frame of the depth camera."),
    Param("mask_errors", True, "Realistic mask errors: eroded/dilated borders, missed instances, changing ids."),
    Param("sensor", "basic", "Depth sensor model (docs/sensor_model.md): 'basic': depth noise, flying pixels and dropouts "
          "(what the shipped models were trained on); 'hololens2': the camera's HoloLens 2 preset (also grazing and "
          "dark-surface dropouts, corner multipath, 2 px mask bleed/erosion, up to 3 mm / 0.5 deg pose error in the "
          "published pose).", choices=("basic", "hololens2")),
)

REPLAY = (
    Param("bag", "", "rosbag2 bag to replay: its directory, or a .mcap/.db3 file; empty = idle (with a warning)."),
    Param("rate", 1.0, "Playback speed: 1.0 = as recorded, 2.0 = twice as fast, 0 = as fast as possible.", 0.0, 1000.0),
    Param("loop", False, "Start over at the end; stamps are shifted by the bag's length each round, so time keeps increasing."),
    Param("publish_clock", False, "Publish the bag's time on /clock (rosgraph_msgs/Clock), for nodes run with use_sim_time."),
    Param("start_delay_s", 1.0, "Seconds between start-up and the first message, for subscribers to connect.", 0.0, 3600.0),
    Param("topic_map", "", "Read a bag's own topic names as the known ones: comma-separated 'bag_topic:=known_topic' "
                           "pairs, e.g. '/hl2/lt/depth:=/depth/image'."),
)

NODES: dict[str, tuple[Param, ...]] = {
    "observation": OBSERVATION,
    "reconstruction": RECONSTRUCTION,
    "unity_bridge": UNITY_BRIDGE,
    "hololens_sim": HOLOLENS_SIM,
    "hl2ss_bridge": HL2SS_BRIDGE,
    "replay": REPLAY,
}


def validate_values(node: str, values: dict[str, Any]) -> list[str]:
    """Messages for every unknown or invalid parameter of a node."""
    specs = {p.name: p for p in NODES[node]}
    problems = [f"unknown parameter '{name}' for node '{node}'" for name in values if name not in specs and name != "use_sim_time"]
    problems += [m for name, v in values.items() if name in specs for m in [specs[name].check(v)] if m]
    return problems


def validate_params_file(path: Path) -> list[str]:
    """Check a ROS 2 params YAML (node: ros__parameters: ...) against the specs."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    problems = []
    for node, section in data.items():
        name = node.strip("/").split("/")[-1]
        if name not in NODES:
            problems.append(f"unknown node '{node}' (known: {sorted(NODES)})")
            continue
        problems += validate_values(name, (section or {}).get("ros__parameters", {}))
    return problems


def params_yaml() -> str:
    """The params YAML of all defaults (what config/occnet.yaml holds)."""
    data = {node: {"ros__parameters": {p.name: p.default for p in specs}} for node, specs in NODES.items()}
    return yaml.safe_dump(data, sort_keys=False, width=120)


def markdown_tables() -> str:
    """README tables of every node's parameters."""
    out = []
    for node, specs in NODES.items():
        out += [f"#### {node}", "", "| parameter | default | description |", "|---|---|---|"]
        for p in specs:
            extra = f" Range [{p.low}, {p.high}]." if p.low is not None else ""
            extra += f" One of {', '.join(p.choices)}." if p.choices else ""
            out.append(f"| `{p.name}` | `{p.default!r}` | {p.description}{extra} |")
        out.append("")
    return "\n".join(out)
