"""Run occnet_ros nodes in one process from the same node list and YAML as the launch files.

`launch` is not installable without a ROS 2 install; this runner is what `make demo` uses.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import rclpy
from rclpy.parameter import Parameter

from occnet_ros.nodes.common import make_executor
from occnet_ros.nodes.registry import NodeEntry


class NodeRunner:
    """Start nodes (params file + per-node overrides) and spin them on a background thread."""

    def __init__(self, entries: tuple[NodeEntry, ...], params_file: Path, overrides: dict[str, dict[str, Any]] | None = None,
                 threads: int = 4) -> None:
        self.context = rclpy.context.Context()
        rclpy.init(args=["--ros-args", "--params-file", str(params_file)], context=self.context)
        self.nodes: dict[str, Any] = {}
        overrides = overrides or {}
        try:
            for entry in entries:
                params = [Parameter(k, value=v) for k, v in overrides.get(entry.name, {}).items()]
                self.nodes[entry.name] = entry.load()(context=self.context, parameter_overrides=params)
        except BaseException:
            self.shutdown()
            raise
        self.executor = make_executor(threads, self.context)
        for node in self.nodes.values():
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self._spin, name="occnet-runner", daemon=True)

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # shutdown races end the loop
                if not self.context.ok():
                    return
                raise

    def start(self) -> NodeRunner:
        self.thread.start()
        return self

    def shutdown(self) -> None:
        for node in self.nodes.values():
            close = getattr(node, "close", None)
            if close is not None:
                close()
        rclpy.try_shutdown(context=self.context)
        if getattr(self, "thread", None) is not None and self.thread.is_alive():
            self.thread.join(timeout=5.0)
        for node in self.nodes.values():
            node.destroy_node()
