"""Hostile and unlucky input to the Unity bridge node (issue 19): every callback is a boundary, a bad
object is a counted skip, and the node and its clients live on. Loopback only, port 0, deadlines.
The server's, protocol's and client's side is in test/unit/test_bridge_hostile.py."""

from __future__ import annotations

import asyncio

from occnet_ros.bridge.client import run_client


# ---- the node: every callback is a boundary ---------------------------------------------------
def test_callback_boundary_logs_each_reason_once_then_rate_limited():
    from occnet_ros.nodes.boundary import CallbackBoundary

    class Logger:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str]] = []

        def error(self, text: str) -> None:
            self.lines.append(("error", text))

        def warning(self, text: str) -> None:
            self.lines.append(("warning", text))

    logger = Logger()
    boundary = CallbackBoundary(logger, period_s=3600.0)
    calls = []

    def callback(value: int) -> None:
        calls.append(value)
        if value % 2:
            raise KeyError(value)
        if value == 4:
            raise ValueError("four")

    guarded = boundary.guard("on_thing", callback)
    for value in range(100):
        guarded(value)  # never raises
    assert len(calls) == 100 and boundary.counts == {"on_thing_KeyError": 50, "on_thing_ValueError": 1}
    assert [kind for kind, _ in logger.lines] == ["error", "error"]  # one line per reason
    assert "Traceback" not in logger.lines[0][1] and "KeyError" in logger.lines[0][1]
    boundary.period_s = 0.0  # period over: the next one logs with the count since the last line
    guarded(1)
    assert logger.lines[-1][0] == "warning" and "50 more since the last report" in logger.lines[-1][1]


def ros_object(object_id: int, class_name: str = "box", triangles=((0, 1, 2), (0, 2, 3)), revision: int = 1):
    from geometry_msgs.msg import Point
    from shape_msgs.msg import MeshTriangle

    from occnet_ros.msg import ReconstructedObject

    msg = ReconstructedObject(id=object_id, class_name=class_name, status=ReconstructedObject.STATUS_RECONSTRUCTED, revision=revision)
    msg.mesh.vertices = [Point(x=float(x), y=float(y), z=0.0) for x, y in [(0, 0), (1, 0), (1, 1), (0, 1)]]
    msg.mesh.triangles = [MeshTriangle(vertex_indices=list(t)) for t in triangles]
    msg.pose.orientation.w = 1.0
    return msg


def test_unity_bridge_node_survives_bad_objects_and_counts_them(monkeypatch):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from ros_helpers import ros_context, spin_until

    from occnet_ros.msg import ReconstructedObject, ReconstructedObjectArray
    from occnet_ros.nodes import unity_bridge
    from occnet_ros.nodes.qos import LATCHED

    real = unity_bridge.update_from_message

    def flaky(msg):  # an unexpected failure inside the callback (not a ProtocolError)
        if msg.id == 3:
            raise RuntimeError("boom")
        return real(msg)

    monkeypatch.setattr(unity_bridge, "update_from_message", flaky)
    with ros_context() as context:
        import rclpy

        node = unity_bridge.UnityBridgeNode(context=context, parameter_overrides=[Parameter("port", value=0)])
        feeder = rclpy.create_node("feeder", context=context)
        try:
            objects = feeder.create_publisher(ReconstructedObject, "objects", 10)
            arrays = feeder.create_publisher(ReconstructedObjectArray, "objects/array", LATCHED)
            diagnostics: list[dict[str, str]] = []
            feeder.create_subscription(DiagnosticArray, "/diagnostics",
                                       lambda m: diagnostics.extend({v.key: v.value for v in s.values} for s in m.status), 10)
            assert spin_until([node, feeder], lambda: objects.get_subscription_count() and arrays.get_subscription_count(), context=context)
            long_name = "é" * 40_000
            for msg in [ros_object(1, long_name), ros_object(2, triangles=((0, 1, 99),)), ros_object(3), ros_object(4, "cup")]:
                objects.publish(msg)
            assert spin_until([node, feeder], lambda: node.published == 2 and node.boundary.counts.total() == 2, context=context), \
                (node.published, node.boundary.counts)
            # one bad object in the latched array spoils no other
            arrays.publish(ReconstructedObjectArray(objects=[ros_object(1, long_name), ros_object(5, triangles=((7, 7, 7),)),
                                                             ros_object(4, "cup"), ros_object(6, "mug")]))
            assert spin_until([node, feeder], lambda: node.published == 3, context=context)
            assert spin_until([node, feeder], lambda: any(d.get("bad_mesh") == "2" for d in diagnostics), context=context)
            assert node.boundary.counts == {"bad_mesh": 2, "on_object_RuntimeError": 1}
            assert node.diagnostic_counts()["class_names_truncated"] == 1
            latest = [d for d in diagnostics if d.get("bad_mesh") == "2"][-1]
            assert latest["on_object_RuntimeError"] == "1" and latest["published"] == "3"

            # still alive: a client gets the good objects (3 was never sent, 2 and 5 were refused)
            state = asyncio.run(run_client(f"ws://127.0.0.1:{node.port}", duration_s=5, until=lambda st: st.snapshots))
            assert sorted(state.meshes) == [1, 4, 6] and state.meshes[1].class_name == "é" * 127
            assert not state.bad_frames and not state.errors
        finally:
            node.close()
            node.destroy_node()
            feeder.destroy_node()
