"""Record simulated frames into rosbag2 bags (rosbags, no ROS), read them back, replay them into
the real observation node, and fail clearly on bad bags."""

from __future__ import annotations

import argparse
import time

import numpy as np
import pytest
import yaml
from ros_helpers import REPO

from occnet_ros.bags.reader import bag_info, parse_topic_map, read_bag
from occnet_ros.bags.recorder import record_simulation
from occnet_ros.bags.typestore import CAMERA_INFO, DEPTH, SEGMENTATION, TF, TF_STATIC, BagError, typestore
from occnet_ros.sim.hololens import HoloLensSimulator, SimSettings

FRAMES = 6
SETTINGS = SimSettings(seed=5, num_objects=3, num_frames=FRAMES)


@pytest.fixture(scope="module")
def sim_frames():
    """The frames the simulator renders (a fresh simulator, as the recording uses)."""
    sim = HoloLensSimulator(SETTINGS)
    return sim, [sim.frame(i) for i in range(FRAMES)]


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    return record_simulation(tmp_path_factory.mktemp("bags") / "sim.bag", SETTINGS, FRAMES).path


def test_recorded_bag_reads_back_with_the_simulators_frames(bag, sim_frames, tmp_path):
    from occnet_ros.nodes.conversions import image_to_array
    from occnet_ros.nodes.replay import to_ros

    sim, frames = sim_frames
    messages = list(read_bag(bag))
    topics = [t for t, _, _ in messages]
    assert {t: topics.count(t) for t in set(topics)} == {TF: FRAMES, TF_STATIC: 1, CAMERA_INFO: FRAMES, SEGMENTATION: FRAMES, DEPTH: FRAMES}
    assert topics[:2] == [TF_STATIC, TF]  # static first, then per frame: tf, info, segmentation, depth
    log_times = [ns for _, ns, _ in messages]
    assert log_times == sorted(log_times) and len(set(log_times)) == len(log_times)
    depth = [m for t, _, m in messages if t == DEPTH]
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in depth]
    assert np.all(np.diff(stamps) == round(1e9 / SETTINGS.rate_hz))  # the simulator's frame times
    for msg, frame in zip(depth, frames):
        assert msg.encoding == "16UC1" and msg.header.frame_id == "hl2_depth_optical"
        assert msg.data.tobytes() == frame.depth_mm.astype("<u2").tobytes()
        assert np.array_equal(image_to_array(to_ros(msg)), frame.depth_mm)  # and as an rclpy message
    seg = [m for t, _, m in messages if t == SEGMENTATION]
    for msg, frame in zip(seg, frames):
        assert np.array_equal(image_to_array(to_ros(msg).instance_image), frame.instance_ids)
        assert [(i.id, i.class_name, i.transparent) for i in msg.instances] == [(i, c, tr) for i, c, _, tr in frame.instances]
    info = to_ros(next(m for t, _, m in messages if t == CAMERA_INFO))
    assert np.allclose(np.asarray(info.k).reshape(3, 3), sim.intrinsics.k) and (info.width, info.height) == (320, 288)
    tf = next(m for t, _, m in messages if t == TF).transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("map", "hl2")
    assert np.allclose([tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z], frames[0].headset_pose[:3, 3])
    # the type hash equals rosidl's, so `ros2 bag play` accepts the bag
    generated = REPO / "install" / "occnet_ros" / "share" / "occnet_ros" / "msg" / "Segmentation.json"
    if generated.exists():
        assert typestore().hash_rihs01("occnet_ros/msg/Segmentation") in generated.read_text()
    # sqlite3 storage holds the same messages
    other = record_simulation(tmp_path / "sim_db3", SETTINGS, 2, storage="sqlite3").path
    assert [t for t, _, _ in read_bag(other)] == topics[:9]
    assert (other / "sim_db3.db3").exists()


def observation_reference(frames, intrinsics, start_ns):
    """What the observation node's core makes of the frames, with config/occnet.yaml's settings."""
    from occnet_ros.geometry.camera import decode_depth
    from occnet_ros.observe.frame import FrameSettings, InstanceInfo, split_instances
    from occnet_ros.observe.objects import ObjectStore, StoreSettings

    p = yaml.safe_load((REPO / "config" / "occnet.yaml").read_text())["observation"]["ros__parameters"]
    store = ObjectStore(StoreSettings(
        max_views_per_object=p["max_views_per_object"], association_distance_m=p["association_distance_m"],
        association_min_overlap=p["association_min_overlap"], association_voxel_m=p["association_voxel_m"],
        retire_after_s=p["retire_after_s"], reconstruct_every_views=p["reconstruct_every_views"]))
    settings = FrameSettings(
        max_points_per_view=p["max_points_per_view"], voxel_size_m=p["voxel_size_m"], min_instance_points=p["min_instance_points"],
        min_score=p["min_score"], skip_classes=tuple(p["skip_classes"]), outlier_neighbors=p["outlier_neighbors"],
        outlier_std_ratio=p["outlier_std_ratio"])
    for frame in frames:
        depth = decode_depth(frame.depth_mm, "16UC1", p["depth_scale"] or None, p["min_range_m"], p["max_range_m"])
        instances = [InstanceInfo(*i) for i in frame.instances]
        result = split_instances(depth, intrinsics, frame.instance_ids, instances, frame.camera_pose,
                                 start_ns / 1e9 + frame.stamp, settings, None)
        store.add_frame(result.views)
    return store


def test_replayed_bag_gives_the_observation_node_the_same_objects(bag, sim_frames):
    from occnet_ros.cli.bags import REPLAY
    from occnet_ros.nodes.registry import OBSERVATION
    from occnet_ros.nodes.runner import NodeRunner

    sim, frames = sim_frames
    reference = observation_reference(frames, sim.intrinsics, bag_info(bag).start_ns)
    assert len(reference.objects) >= 2
    overrides = {"replay": {"bag": str(bag), "rate": 1.0, "start_delay_s": 0.5}}
    start = time.monotonic()
    runner = NodeRunner((OBSERVATION, REPLAY), REPO / "config" / "occnet.yaml", overrides).start()
    replay, observation = runner.nodes["replay"], runner.nodes["observation"]
    try:
        deadline = time.monotonic() + 30.0
        while (not replay.finished or observation.frames_processed < FRAMES) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # frames_processed counts a frame before its views reach the store
    finally:
        runner.shutdown()
    print(f"replayed in {time.monotonic() - start:.1f} s: {dict(replay.published)}")
    assert replay.error is None and replay.published[DEPTH] == FRAMES and replay.published[TF_STATIC] == 1
    assert observation.frames_processed == FRAMES, observation.diagnostic_counts()
    assert time.monotonic() - start >= (FRAMES - 1) / SETTINGS.rate_hz  # rate 1.0 took the recorded time
    got = sorted((o.class_name, len(o.views)) for o in observation.store.objects.values())
    assert got == sorted((o.class_name, len(o.views)) for o in reference.objects.values())
    assert observation.diagnostic_counts().get("instance_transparent", 0) >= 1  # the glass came through as recorded


def test_replay_node_with_topic_map_and_remapping(tmp_path, sim_frames):
    """A bag with other topic names (an hl2ss-style recording) replays through topic_map, as
    fast as possible, onto remapped output names; an empty bag parameter is idle."""
    import rclpy
    from rclpy.parameter import Parameter
    from ros_helpers import spin_until
    from rosbags.rosbag2 import Writer
    from sensor_msgs.msg import Image
    from tf2_msgs.msg import TFMessage

    from occnet_ros.nodes.replay import ReplayNode

    recorded = record_simulation(tmp_path / "rec", SETTINGS, 2)
    renamed = tmp_path / "hl2ss"
    names = {DEPTH: "/hl2/lt/depth", CAMERA_INFO: "/hl2/lt/info", SEGMENTATION: "/hl2/lt/seg", TF: "/tf", TF_STATIC: "/tf_static"}
    store = typestore()
    with Writer(renamed, version=9) as writer:
        connections = {t: writer.add_connection(n, bag_info(recorded.path).topics[t][0], typestore=store) for t, n in names.items()}
        for topic, ns, msg in read_bag(recorded.path):
            writer.write(connections[topic], ns, store.serialize_cdr(msg, msg.__msgtype__))
    with pytest.raises(BagError, match=r"lacks /depth/image, /depth/camera_info, /segmentation.*/hl2/lt/depth \[sensor_msgs/msg/Image\] x2"):
        read_bag(renamed)
    mapping = "/hl2/lt/depth:=/depth/image, hl2/lt/info:=depth/camera_info, /hl2/lt/seg:=/segmentation"
    assert [t for t, _, _ in read_bag(renamed, parse_topic_map(mapping))] == [t for t, _, _ in read_bag(recorded.path)]

    context = rclpy.context.Context()
    rclpy.init(args=["--ros-args", "-r", "depth/image:=/remapped/depth"], context=context)
    try:
        idle = ReplayNode(context=context)
        assert idle.finished and not idle.publishers_
        idle.destroy_node()
        probe = rclpy.create_node("probe", context=context)
        depth, static = [], []
        probe.create_subscription(Image, "/remapped/depth", depth.append, 10)
        from occnet_ros.nodes.qos import REPLAY_TF_STATIC as STATIC_QOS

        probe.create_subscription(TFMessage, "/tf_static", static.append, STATIC_QOS)
        params = [Parameter("bag", value=str(renamed)), Parameter("rate", value=0.0), Parameter("topic_map", value=mapping),
                  Parameter("start_delay_s", value=1.0)]
        node = ReplayNode(context=context, parameter_overrides=params)
        try:
            assert spin_until([probe, node], lambda: len(depth) == 2 and node.finished, timeout=20, context=context), (len(depth), node.error)
        finally:
            node.close()
            node.destroy_node()
        assert [stamp_ns(m) for m in depth] == [recorded.start_ns, recorded.start_ns + 200_000_000]
        assert static[-1].transforms[0].child_frame_id == "hl2_depth_optical"
        # loop: the bag starts over with every stamp shifted, so time keeps increasing by one period
        depth.clear()
        params = [Parameter("bag", value=str(recorded.path)), Parameter("rate", value=10.0), Parameter("loop", value=True),
                  Parameter("start_delay_s", value=0.5)]
        node = ReplayNode(context=context, parameter_overrides=params)
        try:
            assert spin_until([probe, node], lambda: len(depth) >= 6, timeout=20, context=context), (len(depth), node.error)
        finally:
            node.close()
            node.destroy_node()
            probe.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert node.loops >= 2 and np.all(np.diff([stamp_ns(m) for m in depth]) == 200_000_000)


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def test_bad_bags_fail_clearly(tmp_path, bag):
    import shutil

    from occnet_ros.nodes.common import ConfigurationError

    with pytest.raises(BagError, match="does not exist"):
        read_bag(tmp_path / "missing")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "metadata.yaml").write_text("rosbag2_bagfile_information: [this is: not, a bag")
    with pytest.raises(BagError, match="cannot read .*garbage"):
        read_bag(tmp_path / "garbage")
    (tmp_path / "noise.mcap").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(BagError, match="cannot read .*noise.mcap"):
        read_bag(tmp_path / "noise.mcap")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="empty is not a rosbag2 bag: the directory has no metadata.yaml"):
        read_bag(tmp_path / "empty")
    # a real bag whose storage file was cut short: an error at open or while reading, never a crash
    cut = tmp_path / "cut"
    shutil.copytree(bag, cut)
    storage = cut / "sim.bag.mcap"
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    with pytest.raises(BagError, match="cut"):
        list(read_bag(cut))
    # the replay node refuses such a bag at start-up, naming the problem
    import rclpy
    from rclpy.parameter import Parameter

    from occnet_ros.nodes.replay import ReplayNode

    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(ConfigurationError, match="replay: cannot read .*garbage"):
            ReplayNode(context=context, parameter_overrides=[Parameter("bag", value=str(tmp_path / "garbage"))])
    finally:
        rclpy.try_shutdown(context=context)
    with pytest.raises(ValueError, match="not 'bag_topic:=known_topic'"):
        parse_topic_map("/a:=/depth/image, /b")
    with pytest.raises(BagError, match="not known topics"):
        read_bag(bag, {"/x": "/y"})


def test_record_command(tmp_path, capsys):
    from occnet_ros.cli.bags import add_parsers

    parser = argparse.ArgumentParser()
    commands = add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["record", str(tmp_path / "out.bag"), "--frames", "2", "--seed", "1", "--objects", "2",
                              "--camera", "ahat", "--storage", "sqlite3"])
    assert commands[args.command](args) == 0
    assert "2 frames" in capsys.readouterr().out
    info = bag_info(tmp_path / "out.bag")
    assert info.topics[DEPTH] == ("sensor_msgs/msg/Image", 2)
    assert next(m for t, _, m in read_bag(tmp_path / "out.bag") if t == DEPTH).width == 512  # AHAT
    assert commands[args.command](args) == 2  # exists already: refused, not overwritten
    assert "exists already" in capsys.readouterr().err
