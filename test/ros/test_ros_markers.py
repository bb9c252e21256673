"""The reconstruction node's markers: every MarkerArray is DELETEALL and then every current
object's mesh and label, transient local, so a late RViz sees them all from one array and a
removed object is gone from the next. The model is stubbed: this is about the messages."""

from __future__ import annotations

import numpy as np
from ros_helpers import REPO, StubPipeline, spin_until
from std_msgs.msg import Header

from occnet_ros.msg import ObjectObservation
from occnet_ros.nodes.conversions import xyz_cloud

CENTRES = {1: (0.0, 0.0, 0.3), 2: (1.0, 0.0, 0.3), 3: (0.0, 1.5, 0.2)}


def observation(obj_id: int, action: int = ObjectObservation.ACTION_UPDATE) -> ObjectObservation:
    header = Header(frame_id="map")
    msg = ObjectObservation(header=header, id=obj_id, class_name="box", action=action, request_reconstruction=True)
    if action == ObjectObservation.ACTION_UPDATE:
        rng = np.random.default_rng(obj_id)
        msg.cloud = xyz_cloud(np.asarray(CENTRES[obj_id]) + rng.normal(scale=0.05, size=(200, 3)), header)
    return msg


def contents(array) -> tuple[int, set[tuple[str, int]]]:
    """The first marker's action and the (namespace, id) of the others (all ADD, meshes not empty)."""
    from visualization_msgs.msg import Marker

    rest = array.markers[1:]
    assert all(m.action == Marker.ADD for m in rest), [m.action for m in rest]
    assert all(m.points for m in rest if m.type == Marker.TRIANGLE_LIST)
    return array.markers[0].action, {(m.ns, m.id) for m in rest}


def test_late_subscriber_gets_every_object_and_removals_clear(monkeypatch):
    import rclpy
    from visualization_msgs.msg import Marker, MarkerArray

    from occnet_ros.nodes import qos
    from occnet_ros.nodes.markers import LABEL_NS, MESH_NS
    from occnet_ros.nodes.reconstruction import ReconstructionNode
    from occnet_ros.nodes.registry import RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner

    monkeypatch.setattr(ReconstructionNode, "_load_pipeline", lambda self: StubPipeline())
    runner = NodeRunner((RECONSTRUCTION,), REPO / "config" / "occnet.yaml", {"reconstruction": {"use_evidence": False}}).start()
    reconstruction = runner.nodes["reconstruction"]
    feeder = rclpy.create_node("markers_feeder", context=runner.context)
    late = rclpy.create_node("late_rviz", context=runner.context)
    arrays: list = []
    try:
        publisher = feeder.create_publisher(ObjectObservation, "objects/observations", qos.OBSERVATIONS)
        assert spin_until([feeder], lambda: publisher.get_subscription_count() > 0, timeout=10, context=runner.context)
        for obj_id in CENTRES:
            publisher.publish(observation(obj_id))
        built = lambda: len(reconstruction.objects) == 3 and all(s.markers for s in reconstruction.objects.values())  # noqa: E731
        assert spin_until([feeder], lambda: built() and reconstruction.idle, timeout=30, context=runner.context)
        # RViz joins now: transient local hands it the last array, which holds all three
        late.create_subscription(MarkerArray, "markers", arrays.append, qos.MARKERS)
        assert spin_until([late], lambda: bool(arrays), timeout=10, context=runner.context)
        spin_until([late], lambda: False, timeout=0.5, context=runner.context)  # nothing older follows (depth 1)
        joined = list(arrays)
        publisher.publish(observation(2, ObjectObservation.ACTION_REMOVE))  # forgotten or retired upstream
        assert spin_until([late, feeder], lambda: len(arrays) > len(joined), timeout=10, context=runner.context)
        after_removal = arrays[-1]
    finally:
        late.destroy_node()
        feeder.destroy_node()
        runner.shutdown()
    every = lambda ids: {(ns, i) for i in ids for ns in (MESH_NS, LABEL_NS)}  # noqa: E731
    assert len(joined) == 1
    assert contents(joined[0]) == (Marker.DELETEALL, every((1, 2, 3)))
    assert contents(after_removal) == (Marker.DELETEALL, every((1, 3)))


class SlowPipeline(StubPipeline):
    """Busy for longer than close() waits for the worker."""

    def run(self, *args, **kwargs):
        import time

        time.sleep(3.0)
        return super().run(*args, **kwargs)


def test_a_mesh_that_outlives_shutdown_is_dropped_quietly(monkeypatch):
    import threading
    import time

    import rclpy

    from occnet_ros.nodes import qos
    from occnet_ros.nodes.reconstruction import ReconstructionNode
    from occnet_ros.nodes.registry import RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner

    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    monkeypatch.setattr(ReconstructionNode, "_load_pipeline", lambda self: SlowPipeline())
    runner = NodeRunner((RECONSTRUCTION,), REPO / "config" / "occnet.yaml", {"reconstruction": {"use_evidence": False}}).start()
    reconstruction = runner.nodes["reconstruction"]
    feeder = rclpy.create_node("markers_feeder", context=runner.context)
    try:
        publisher = feeder.create_publisher(ObjectObservation, "objects/observations", qos.OBSERVATIONS)
        assert spin_until([feeder], lambda: publisher.get_subscription_count() > 0, timeout=10, context=runner.context)
        publisher.publish(observation(1))
        assert spin_until([feeder], lambda: reconstruction.busy, timeout=10, context=runner.context)
    finally:
        feeder.destroy_node()
        runner.shutdown()  # waits 2 s for the worker, which is still in the pipeline
    reconstruction.worker.join(timeout=10)
    time.sleep(0.1)
    assert not reconstruction.worker.is_alive() and not errors, [e.exc_value for e in errors]
