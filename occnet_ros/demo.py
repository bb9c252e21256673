"""`make demo`: a simulated HoloLens 2 walks through a room; objects are reconstructed, streamed
to a bridge client, and compared with the ground truth.

Runs the same nodes as demo.launch.py, in one process (NodeRunner), on the built-in scene.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from occnet_ros.nodes.registry import DEMO_NODES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="occnet-demo", description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--objects", type=int, default=4, help="objects in the room (plus one transparent glass)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--camera", default="long_throw", choices=["long_throw", "ahat", "hl2ss_long_throw", "hl2ss_ahat"],
                        help="hl2ss_*: radial depth through a distorted ray table in a y-up world, as hl2ss_bridge delivers")
    parser.add_argument("--rate", type=float, default=4.0, help="simulated frames per second")
    parser.add_argument("--checkpoint", default="", help="model file (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--timeout", type=float, default=170.0)
    return parser.parse_args(argv)


def params_file(args: argparse.Namespace) -> Path:
    from occnet_ros.nodes.parameters import params_yaml

    config = yaml.safe_load(params_yaml())
    config["hololens_sim"]["ros__parameters"].update(seed=args.seed, num_objects=args.objects, num_frames=args.frames,
                                                     camera=args.camera, rate_hz=args.rate)
    if args.camera.startswith("hl2ss_"):
        config["observation"]["ros__parameters"].update(camera_model="ray_table")
    config["reconstruction"]["ros__parameters"].update(checkpoint=args.checkpoint, save_directory=str(args.out / "meshes"))
    config["unity_bridge"]["ros__parameters"].update(port=0)
    path = Path(tempfile.mkdtemp(prefix="occnet-demo-")) / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class BridgeListener:
    """A reference bridge client in a thread, to show the meshes reach a client."""

    def __init__(self, port: int, seconds: float) -> None:
        from occnet_ros.bridge.client import ClientState

        self.state = ClientState()
        self.thread = threading.Thread(target=self._run, args=(port, seconds), daemon=True)
        self.thread.start()

    def _run(self, port: int, seconds: float) -> None:
        from occnet_ros.bridge.client import run_client

        try:
            asyncio.run(run_client(f"ws://127.0.0.1:{port}", duration_s=seconds, state=self.state))
        except OSError as error:
            print(f"bridge client: {error}")


def wait_for_pipeline(nodes: dict, deadline: float) -> None:
    """Until the trajectory ended, every frame was processed and reconstruction is idle."""
    sim, observation, reconstruction = nodes["hololens_sim"], nodes["observation"], nodes["reconstruction"]
    while time.monotonic() < deadline:
        if sim.finished and not observation.pending and reconstruction.idle:
            time.sleep(0.5)
            if reconstruction.idle:
                return
        time.sleep(0.2)


def final_pass(reconstruction, deadline: float) -> None:
    """Reconstruct every object once more from all its views (latest evidence)."""
    for obj_id in list(reconstruction.objects):
        reconstruction.enqueue(obj_id)
    while time.monotonic() < deadline and not reconstruction.idle:
        time.sleep(0.2)


def match_ground_truth(reconstruction, room) -> list[tuple]:
    """(reconstructed state, ground-truth object) pairs: same class, nearest centre."""
    pairs, used = [], set()
    for state in sorted(reconstruction.objects.values(), key=lambda s: s.id):
        if state.result is None:
            continue
        centre = state.result.mesh_world.bounds.mean(axis=0)
        candidates = [o for o in room.objects if o.class_name == state.class_name and o.id not in used]
        if not candidates:
            continue
        gt = min(candidates, key=lambda o: np.linalg.norm(o.mesh.bounds.mean(axis=0) - centre))
        if np.linalg.norm(gt.mesh.bounds.mean(axis=0) - centre) < 0.5:
            used.add(gt.id)
            pairs.append((state, gt))
    return pairs


def picture(path: Path, pairs: list[tuple]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from occnet_ros.evaluate.report import camera_for, shade

    if not pairs:
        return
    fig, axes = plt.subplots(2, len(pairs), figsize=(2.4 * len(pairs), 5), squeeze=False)
    for column, (state, gt) in enumerate(pairs):
        camera = camera_for(gt.mesh)
        for row, (mesh, title) in enumerate(((state.result.mesh_world, f"#{state.id} {state.class_name}"), (gt.mesh, "ground truth"))):
            axes[row, column].imshow(shade(mesh, camera), cmap="gray", vmin=0, vmax=1)
            axes[row, column].set_title(title, fontsize=9)
            axes[row, column].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def message_sizes(observation) -> dict[int, int]:
    """Serialized bytes of each object's ObjectObservation (cloud + view crops), printed."""
    from builtin_interfaces.msg import Time
    from rclpy.serialization import serialize_message

    sizes = {}
    print(f"\n{'ObjectObservation':>16s} {'views':>5s} {'crop sides px':>22s} {'view bytes':>10s} {'cloud bytes':>11s} {'total':>9s}")
    for obj_id, obj in sorted(observation.store.objects.items()):
        msg = observation.observation_message(obj_id, Time(), False)
        sizes[obj_id] = len(serialize_message(msg))
        sides = [max(v.depth.height, v.depth.width) for v in msg.views]
        view_bytes = sum(len(v.depth.data) + len(v.mask.data) for v in msg.views)
        side_range = f"{min(sides)}-{max(sides)}" if sides else "-"
        print(f"{'#' + str(obj_id) + ' ' + obj.class_name:>16s} {len(msg.views):5d} {side_range:>22s} {view_bytes:10d} "
              f"{len(msg.cloud.data):11d} {sizes[obj_id]:9d}")
    p = observation.params
    bound = p["view_max_side_px"] ** 2 * 5 * p["max_views_per_object"]
    print(f"bound on the views: {p['view_max_side_px']}^2 px x {p['max_views_per_object']} views x (4 + 1) bytes = {bound} bytes"
          f" (+ cloud <= {p['max_views_per_object'] * p['max_points_per_view'] * 12} bytes)")
    return sizes


def report(nodes: dict, out: Path, listener: BridgeListener) -> list[dict]:
    from occnet_ros.evaluate.metrics import mesh_metrics
    from occnet_ros.geometry.files import save_mesh_atomic

    room = nodes["hololens_sim"].sim.room
    observation = nodes["observation"]
    pairs = match_ground_truth(nodes["reconstruction"], room)
    rows = []
    for state, gt in pairs:
        m = mesh_metrics(state.result.mesh_world, gt.mesh, samples=30000)
        save_mesh_atomic(state.result.mesh_world, out / "meshes" / f"object_{state.id:03d}_{state.class_name}.ply")
        save_mesh_atomic(gt.mesh, out / "ground_truth" / f"gt_{gt.id:03d}_{gt.class_name}.ply")
        rows.append({"id": state.id, "class": state.class_name, "chamfer_l1": m.chamfer_l1, "fscore_1pct": m.fscore_1pct,
                     "iou": m.iou, "views": state.views, "triangles": len(state.result.mesh_world.faces),
                     "watertight": state.result.watertight, "time_s": state.last_total_s})
    print()
    print(f"{'object':>16s} {'CD-L1':>7s} {'F@1%':>6s} {'IoU':>6s} {'views':>5s} {'tris':>5s} {'watertight':>10s} {'time s':>7s}")
    for r in rows:
        iou = "n/a" if r["iou"] is None else f"{r['iou']:.3f}"
        print(f"{'#' + str(r['id']) + ' ' + r['class']:>16s} {r['chamfer_l1']:7.4f} {r['fscore_1pct']:6.3f} {iou:>6s} "
              f"{r['views']:5d} {r['triangles']:5d} {str(r['watertight']):>10s} {r['time_s']:7.2f}")
    if rows:
        print(f"{'mean':>16s} {np.mean([r['chamfer_l1'] for r in rows]):7.4f} {np.mean([r['fscore_1pct'] for r in rows]):6.3f}")
    message_sizes(observation)
    glass = [o for o in room.objects if o.transparent]
    skipped = observation.diagnostic_counts()
    print(f"\ntransparent objects in the room: {len(glass)}; instances skipped as transparent: {skipped.get('instance_transparent', 0)}")
    print(f"skip counts: {skipped}")
    print(f"bridge client received {len(listener.state.meshes)} meshes ({listener.state.heartbeats} heartbeats)")
    picture(out / "demo.png", pairs)
    print(f"meshes: {out / 'meshes'}  ground truth: {out / 'ground_truth'}  picture: {out / 'demo.png'}")
    return rows


def record_bag(args: argparse.Namespace) -> None:
    """The same simulated run as a rosbag2 bag, to replay with `occnet replay`."""
    import shutil

    from occnet_ros.bags.recorder import record_simulation
    from occnet_ros.sim.hololens import SimSettings

    bag = args.out / "sim.bag"
    shutil.rmtree(bag, ignore_errors=True)
    record_simulation(bag, SimSettings(seed=args.seed, num_objects=args.objects, num_frames=args.frames,
                                       camera=args.camera, rate_hz=args.rate), args.frames)
    print(f"recorded the simulated frames: {bag}  (replay: occnet replay {bag} --observe)")


def main(argv: list[str] | None = None) -> int:
    from occnet_ros.nodes.runner import NodeRunner

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    deadline = start + args.timeout
    print(f"occnet_ros demo: simulated HoloLens 2 ({args.camera}), seed {args.seed}, {args.objects} objects + 1 glass, "
          f"{args.frames} frames at {args.rate} Hz")
    runner = NodeRunner(DEMO_NODES, params_file(args), threads=4)
    nodes = runner.nodes
    seen_revisions: dict[int, int] = {}

    def progress(msg) -> None:
        if msg.revision != seen_revisions.get(msg.id):
            seen_revisions[msg.id] = msg.revision
            status = "reconstructed" if msg.status == msg.STATUS_RECONSTRUCTED else f"status {msg.status} {msg.status_message}"
            print(f"[{time.monotonic() - start:6.1f} s] object #{msg.id} {msg.class_name}: rev {msg.revision}, "
                  f"{msg.views_used} views, {len(msg.mesh.triangles)} triangles, {status}, {msg.timings.total_s:.2f} s", flush=True)

    from visualization_msgs.msg import MarkerArray

    from occnet_ros.msg import ReconstructedObject
    from occnet_ros.nodes import qos

    markers = [MarkerArray()]  # the latest array: each holds every object

    nodes["unity_bridge"].create_subscription(ReconstructedObject, "objects", progress, qos.OBJECTS)
    nodes["unity_bridge"].create_subscription(MarkerArray, "markers", lambda msg: markers.__setitem__(0, msg), qos.MARKERS)
    listener = BridgeListener(nodes["unity_bridge"].server.port, args.timeout)
    runner.start()
    try:
        wait_for_pipeline(nodes, deadline)
        final_pass(nodes["reconstruction"], deadline)
        time.sleep(1.0)
        report(nodes, args.out, listener)
        from occnet_ros.nodes.marker_image import render_markers

        image = render_markers(markers[0], args.out / "rviz_markers.png")
        print(f"markers as RViz shows them: {image}")
        record_bag(args)
    finally:
        runner.shutdown()
    print(f"demo finished in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
