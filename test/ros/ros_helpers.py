"""Helpers for tests that use the real rclpy: a context per test, spin until a condition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def ros_context() -> Iterator[rclpy.context.Context]:
    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


def spin_until(nodes, condition: Callable[[], bool], timeout: float = 20.0, context=None) -> bool:
    """Spin the nodes until condition() holds or the deadline passes; returns condition()."""
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    deadline = time.monotonic() + timeout
    try:
        while not condition() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        for node in nodes:
            executor.remove_node(node)
        executor.shutdown()
    return condition()


def node_executable(name: str) -> Path:
    """The installed node script (colcon install tree), as `ros2 run` would find it."""
    prefix = Path(os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)[0])
    for root in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(root) / "lib" / "occnet_ros" / f"{name}_node"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{name}_node not installed under AMENT_PREFIX_PATH ({prefix}); run make build")


def start_node(name: str, *ros_args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(node_executable(name)), "--ros-args", *ros_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def stop_node(process: subprocess.Popen, timeout: float = 20.0) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def call_service(node, client, request, context=None, attempts: int = 6, timeout: float = 10.0):
    """The response of a service call, retried: a request sent right after discovery can be lost
    while the server has not yet matched the client's reply reader (busy nodes, 2 cores).
    Services called here are idempotent (parameter reads, list/save/forget on test state)."""
    assert spin_until([node], client.service_is_ready, timeout=60, context=context), f"service {client.srv_name} never appeared"
    for _ in range(attempts):
        future = client.call_async(request)
        if spin_until([node], future.done, timeout=timeout, context=context):
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f"service {client.srv_name}: no reply to {attempts} requests")
