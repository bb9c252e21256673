"""`occnet record` and `occnet replay`: simulated HoloLens 2 recordings as rosbag2 bags.

``record`` needs no ROS (rosbags writes the bag); ``replay`` runs the replay node (and with
``--observe`` the observation node) in this process, so it needs the built, sourced package.
Wire into occnet_ros/cli.py with ``add_parsers(sub)`` in build_parser and ``**COMMANDS``
in its COMMANDS dict.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from occnet_ros.nodes.registry import REPLAY


def add_parsers(subparsers: argparse._SubParsersAction) -> dict:
    """Add the `record` and `replay` subcommands; returns {name: function} (also COMMANDS)."""
    record = subparsers.add_parser("record", help="record simulated HoloLens 2 frames into a rosbag2 bag (no ROS needed)")
    record.add_argument("out", type=Path, help="bag to create (a directory; must not exist), e.g. sim.bag")
    record.add_argument("--frames", type=int, default=24, help="frames to record")
    record.add_argument("--seed", type=int, default=0, help="scene, trajectory and noise seed")
    record.add_argument("--objects", type=int, default=4, help="objects in the room (plus one transparent glass)")
    record.add_argument("--camera", default="long_throw", choices=["long_throw", "ahat"])
    record.add_argument("--rate-hz", type=float, default=5.0, help="simulated frames per second (sets the stamps)")
    record.add_argument("--storage", default="mcap", choices=["mcap", "sqlite3"], help="rosbag2 storage plugin")
    record.add_argument("--pose-source", default="tf", choices=["tf", "topic"], help="camera pose as /tf + /tf_static, or /camera_pose")
    record.add_argument("--no-mask-errors", action="store_true", help="perfect instance masks")
    record.add_argument("--sensor", default="basic", choices=["basic", "hololens2"],
                        help="depth sensor model: depth noise only, or the HoloLens 2 preset (docs/sensor_model.md)")
    record.add_argument("--world-frame", default="map")
    record.add_argument("--headset-frame", default="hl2")
    record.add_argument("--depth-frame", default="hl2_depth_optical")

    replay = subparsers.add_parser("replay", help="publish a rosbag2 recording (needs the built, sourced ROS package)")
    replay.add_argument("bag", type=Path, help="rosbag2 bag: directory, .mcap or .db3")
    replay.add_argument("--rate", type=float, default=1.0, help="1.0 = as recorded, 0 = as fast as possible")
    replay.add_argument("--loop", action="store_true", help="start over at the end (stamps keep increasing)")
    replay.add_argument("--topic-map", default="", help="'bag_topic:=known_topic,...' for bags with other topic names")
    replay.add_argument("--start-delay", type=float, default=1.0, help="seconds before the first message")
    replay.add_argument("--observe", action="store_true",
                        help="also run the observation node in-process and print the objects it found")
    replay.add_argument("--timeout", type=float, default=0.0, help="stop after this many seconds (0 = at the end of the bag)")
    return COMMANDS


def cmd_record(args: argparse.Namespace) -> int:
    from occnet_ros.bags.recorder import record_simulation
    from occnet_ros.bags.typestore import BagError
    from occnet_ros.sim.hololens import SimSettings

    settings = SimSettings(seed=args.seed, num_objects=args.objects, num_frames=max(args.frames, 1), camera=args.camera,
                           rate_hz=args.rate_hz, mask_errors=not args.no_mask_errors, sensor=args.sensor)
    start = time.monotonic()
    try:
        summary = record_simulation(args.out, settings, args.frames, storage=args.storage, world_frame=args.world_frame,
                                    headset_frame=args.headset_frame, depth_frame=args.depth_frame, pose_source=args.pose_source)
    except (BagError, ValueError) as error:
        print(f"occnet record: error: {error}", file=sys.stderr)
        return 2
    print(f"{summary} (written in {time.monotonic() - start:.1f} s)")
    return 0


def _params_file() -> Path:
    from occnet_ros.nodes.parameters import params_yaml

    path = Path(tempfile.mkdtemp(prefix="occnet-replay-")) / "params.yaml"
    path.write_text(params_yaml())
    return path


def cmd_replay(args: argparse.Namespace) -> int:
    from occnet_ros.bags.reader import parse_topic_map, read_bag
    from occnet_ros.bags.typestore import BagError

    try:  # fail fast, with the bag's topics in the message, before ROS starts
        read_bag(args.bag, parse_topic_map(args.topic_map)).close()
    except (BagError, ValueError) as error:
        print(f"occnet replay: error: {error}", file=sys.stderr)
        return 2
    try:
        from occnet_ros.nodes import replay as _  # noqa: F401  (rclpy and the built messages)
        from occnet_ros.nodes.runner import NodeRunner
    except ImportError as error:
        print(f"occnet replay: error: needs ROS 2 and the built, sourced occnet_ros package ({error}); "
              "`occnet record` and occnet_ros.bags.read_bag work without", file=sys.stderr)
        return 2
    from occnet_ros.nodes.common import ConfigurationError
    from occnet_ros.nodes.registry import OBSERVATION

    overrides = {"replay": {"bag": str(args.bag), "rate": float(args.rate), "loop": bool(args.loop),
                            "topic_map": args.topic_map, "start_delay_s": float(args.start_delay)}}
    entries = (OBSERVATION, REPLAY) if args.observe else (REPLAY,)
    try:
        runner = NodeRunner(entries, _params_file(), overrides).start()
    except ConfigurationError as error:
        print(f"occnet replay: error: {error}", file=sys.stderr)
        return 2
    replay, observation = runner.nodes["replay"], runner.nodes.get("observation")
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else float("inf")
    code = 0
    try:
        while not replay.finished and time.monotonic() < deadline:
            time.sleep(0.1)
        if observation is not None:  # let the last frames through
            settle = time.monotonic() + 5.0
            while (observation.pending or observation.frames_processed == 0) and time.monotonic() < settle:
                time.sleep(0.1)
            time.sleep(0.5)
    except KeyboardInterrupt:
        code = 130
    finally:
        runner.shutdown()
    counts = ", ".join(f"{t} x{n}" for t, n in replay.published.items()) or "nothing"
    print(f"replayed {args.bag}: {counts}")
    if replay.error:
        print(f"occnet replay: error: {replay.error}", file=sys.stderr)
        code = code or 2
    if observation is not None:
        objects = sorted(observation.store.objects.values(), key=lambda o: o.id)
        print(f"observation: {observation.frames_processed} frames, {len(objects)} objects: "
              + ", ".join(f"#{o.id} {o.class_name} ({len(o.views)} views)" for o in objects))
        print(f"skip counts: {observation.diagnostic_counts()}")
    return code


COMMANDS = {"record": cmd_record, "replay": cmd_replay}
