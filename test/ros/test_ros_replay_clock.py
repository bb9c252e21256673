"""The replay node publishes the bag's time on /clock (publish_clock), and a node with
use_sim_time follows it; a looped replay keeps /clock increasing."""

from __future__ import annotations

import rclpy
from rclpy.parameter import Parameter
from ros_helpers import ros_context, spin_until
from rosgraph_msgs.msg import Clock

from occnet_ros.bags.recorder import record_simulation
from occnet_ros.nodes.qos import REPLAY_CLOCK
from occnet_ros.nodes.replay import ReplayNode
from occnet_ros.sim.hololens import SimSettings


def test_replay_publishes_clock_that_sim_time_nodes_follow(tmp_path):
    recorded = record_simulation(tmp_path / "rec", SimSettings(seed=2, num_objects=1, num_frames=3), 3)
    clocks: list[int] = []
    with ros_context() as context:
        follower = rclpy.create_node("follower", context=context, parameter_overrides=[Parameter("use_sim_time", value=True)])
        follower.create_subscription(Clock, "/clock", lambda m: clocks.append(m.clock.sec * 10**9 + m.clock.nanosec), REPLAY_CLOCK)
        replay = ReplayNode(context=context, parameter_overrides=[
            Parameter("bag", value=str(recorded.path)), Parameter("publish_clock", value=True), Parameter("loop", value=True),
            Parameter("rate", value=4.0), Parameter("start_delay_s", value=0.5)])
        try:
            assert spin_until([follower, replay], lambda: replay.loops >= 2 and len(clocks) > 10, timeout=60, context=context), \
                (replay.loops, len(clocks), replay.error)
            assert spin_until([follower, replay], lambda: follower.get_clock().now().nanoseconds > 0, timeout=10, context=context)
            now = follower.get_clock().now().nanoseconds
        finally:
            replay.close()
            replay.destroy_node()
            follower.destroy_node()
    assert clocks == sorted(clocks) and clocks[-1] > clocks[0]  # a loop shifts time forward, never back
    assert clocks[0] <= now <= clocks[-1]  # the follower's clock is the bag's time
