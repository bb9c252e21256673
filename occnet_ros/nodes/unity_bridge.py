"""Unity bridge node: forwards reconstructed objects to WebSocket clients (docs/bridge_protocol.md)."""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

from rclpy.node import Node

from occnet_ros import parameters
from occnet_ros.bridge.protocol import MeshUpdate
from occnet_ros.msg import ReconstructedObject, ReconstructedObjectArray
from occnet_ros.nodes.common import ConfigurationError, declare_parameters, run_node
from occnet_ros.nodes.conversions import mesh_arrays_from_msg
from occnet_ros.nodes.reconstruction import LATCHED


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
        self.known: dict[int, int] = {}
        self.create_subscription(ReconstructedObject, "objects", self.on_object, 10)
        self.create_subscription(ReconstructedObjectArray, "objects/array", self.on_array, LATCHED)
        scheme = "wss" if settings.tls_cert else "ws"
        self.get_logger().info(f"bridge listening on {scheme}://{settings.host}:{port}" + (" (viewer at /)" if settings.serve_viewer else ""))
        self.create_timer(5.0, self.log_clients)

    def on_object(self, msg: ReconstructedObject) -> None:
        if msg.status != ReconstructedObject.STATUS_RECONSTRUCTED or not msg.mesh.triangles:
            return
        if self.known.get(msg.id) == msg.revision:
            return
        self.known[msg.id] = msg.revision
        self.server.publish(update_from_message(msg))

    def on_array(self, msg: ReconstructedObjectArray) -> None:
        """The latched array tells removals (and gives a late bridge the current state)."""
        present = {o.id for o in msg.objects}
        for obj_id in set(self.known) - present:
            self.server.remove(obj_id, self.known.pop(obj_id))
        for obj in msg.objects:
            self.on_object(obj)

    def log_clients(self) -> None:
        self.get_logger().info(f"{len(self.server.clients)} clients; {self.server.stats}", throttle_duration_sec=30.0)

    def close(self) -> None:
        self.server.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(UnityBridgeNode, args)
