"""Unity bridge node: forwards reconstructed objects to WebSocket clients (docs/bridge_protocol.md).

Every callback is a boundary: an exception from one message is counted by reason, logged once
per reason (then at most once per ``boundary.LOG_PERIOD_S`` with the count), and the node goes on. A mesh
the wire cannot carry (a bad triangle index, a non-finite vertex) is a counted skip
(``bad_mesh``); a class name over 255 bytes is truncated on a UTF-8 boundary and counted. The
counts and the server's statistics go to ``/diagnostics``.
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Header

from occnet_ros.bridge.protocol import MeshUpdate, ProtocolError
from occnet_ros.msg import ReconstructedObject, ReconstructedObjectArray
from occnet_ros.nodes import parameters, qos
from occnet_ros.nodes.boundary import CallbackBoundary
from occnet_ros.nodes.common import ConfigurationError, declare_parameters, run_node
from occnet_ros.nodes.conversions import mesh_arrays_from_msg

DIAGNOSTICS_PERIOD_S = 2.0


def update_from_message(msg: ReconstructedObject) -> MeshUpdate:
    vertices, faces = mesh_arrays_from_msg(msg.mesh)
    q, t = msg.pose.orientation, msg.pose.position
    return MeshUpdate.from_ros(msg.id, msg.revision, msg.class_name, [t.x, t.y, t.z], [q.x, q.y, q.z, q.w],
                               [msg.scale.x, msg.scale.y, msg.scale.z], vertices, faces)


MIN_WEBSOCKETS = (14, 0)  # the asyncio server API (websockets.asyncio.server) the bridge uses


def check_websockets() -> None:
    """Fail the start naming the installed websockets when it is older than the bridge needs."""
    need = "websockets>=" + ".".join(map(str, MIN_WEBSOCKETS))
    try:
        found = importlib.metadata.version("websockets")
    except importlib.metadata.PackageNotFoundError as error:
        raise ConfigurationError(f"the bridge needs the Python package {need} (pip install '{need}')") from error
    if tuple(int(x) for x in re.findall(r"\d+", found)[:2]) < MIN_WEBSOCKETS:
        raise ConfigurationError(f"the bridge needs {need}, found websockets {found} (pip install '{need}')")


class UnityBridgeNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("unity_bridge", **kwargs)
        self.params = declare_parameters(self, parameters.UNITY_BRIDGE)
        check_websockets()
        from occnet_ros.bridge.server import BridgeServer, BridgeSettings  # imports websockets: after the check

        settings = BridgeSettings(**{k: v for k, v in self.params.items() if k in BridgeSettings.__dataclass_fields__})
        try:
            self.server = BridgeServer(settings)
            port = self.server.start()
        except (OSError, RuntimeError, ValueError) as error:
            raise ConfigurationError(f"cannot start the bridge on {settings.host}:{settings.port}: {error}") from error
        self.port = port
        self.known: dict[int, int] = {}  # object id -> revision published
        self.rejected: dict[int, int] = {}  # object id -> revision that could not be sent (not retried)
        self.published = 0
        self.boundary = CallbackBoundary(self.get_logger())
        self._array_object = self.boundary.guard("on_array_object", self.on_object)
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self.create_subscription(ReconstructedObject, "objects", self.boundary.guard("on_object", self.on_object), qos.OBJECTS)
        self.create_subscription(ReconstructedObjectArray, "objects/array", self.boundary.guard("on_array", self.on_array), qos.LATCHED)
        scheme = "wss" if settings.tls_cert else "ws"
        self.get_logger().info(f"bridge listening on {scheme}://{settings.host}:{port}" + (" (viewer at /)" if settings.serve_viewer else ""))
        self.create_timer(5.0, self.boundary.guard("log_clients", self.log_clients))
        self.create_timer(DIAGNOSTICS_PERIOD_S, self.boundary.guard("diagnostics", self.publish_diagnostics))

    def on_object(self, msg: ReconstructedObject) -> None:
        if msg.status != ReconstructedObject.STATUS_RECONSTRUCTED or not msg.mesh.triangles:
            return
        if self.known.get(msg.id) == msg.revision or self.rejected.get(msg.id) == msg.revision:
            return
        try:
            self.server.publish(update_from_message(msg))
        except ProtocolError as error:  # a mesh the wire cannot carry: a counted skip, not a crash
            self.rejected[msg.id] = msg.revision
            self.boundary.record("bad_mesh", f"object {msg.id} revision {msg.revision}: {error}")
            return
        self.rejected.pop(msg.id, None)
        self.known[msg.id] = msg.revision
        self.published += 1

    def on_array(self, msg: ReconstructedObjectArray) -> None:
        """The latched array tells removals (and gives a late bridge the current state)."""
        present = {o.id for o in msg.objects}
        for obj_id in set(self.known) - present:
            self.server.remove(obj_id, self.known.pop(obj_id))
        for obj_id in set(self.rejected) - present:
            del self.rejected[obj_id]
        for obj in msg.objects:  # each object is its own boundary: one bad object spoils no other
            self._array_object(obj)

    def diagnostic_counts(self) -> dict[str, int]:
        """Skips and failures by reason (callback boundary) plus the server's hostile-input counters."""
        counts = self.boundary.snapshot()
        stats = self.server.stats
        for key in ("class_names_truncated", "bad_frames", "bad_tokens", "token_throttled", "evicted", "evicted_stalled",
                    "replaced", "refused", "paths_too_long", "dropped_too_large"):
            if stats.get(key):
                counts[key] = stats[key]
        return counts

    def publish_diagnostics(self) -> None:
        counts = self.diagnostic_counts()
        failures = self.boundary.total()
        status = DiagnosticStatus(name=f"{self.get_name()}: unity_bridge", hardware_id="occnet_ros",
                                  level=DiagnosticStatus.OK if not failures else DiagnosticStatus.WARN,
                                  message=f"{len(self.server.clients)} clients, {self.published} meshes published, {failures} skipped")
        status.values = [KeyValue(key="clients", value=str(len(self.server.clients))),
                         KeyValue(key="published", value=str(self.published))]
        status.values += [KeyValue(key=k, value=str(v)) for k, v in sorted(counts.items())]
        self.diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))

    def log_clients(self) -> None:
        self.get_logger().info(f"{len(self.server.clients)} clients; {self.server.stats}", throttle_duration_sec=30.0)

    def close(self) -> None:
        self.server.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(UnityBridgeNode, args)
