"""Node plumbing shared by all occnet_ros nodes: parameters from specs, a safe main() (callbacks as
boundaries: ``occnet_ros.nodes.boundary``)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from occnet_ros.nodes.parameters import Param


class ConfigurationError(RuntimeError):
    """A node cannot start with its parameters (message names the parameter)."""


def descriptor(param: Param) -> ParameterDescriptor:
    text = param.description + (f" One of: {', '.join(param.choices)}." if param.choices else "")
    desc = ParameterDescriptor(description=text)
    if param.low is not None and isinstance(param.default, float):
        desc.floating_point_range = [FloatingPointRange(from_value=float(param.low), to_value=float(param.high), step=0.0)]
    elif param.low is not None and isinstance(param.default, int) and not isinstance(param.default, bool):
        desc.integer_range = [IntegerRange(from_value=int(param.low), to_value=int(param.high), step=0)]
    return desc


def declare_parameters(node: Node, specs: tuple[Param, ...], mutable: set[str] | None = None) -> dict[str, Any]:
    """Declare every spec (overrides come from the params file); validate; return the values.

    Later changes are accepted only for names in ``mutable`` and only when valid.
    """
    by_name = {p.name: p for p in specs}
    values = {}
    for param in specs:
        try:
            value = node.declare_parameter(param.name, param.default, descriptor(param)).value
        except (InvalidParameterTypeException, InvalidParameterValueException) as error:
            raise ConfigurationError(f"{node.get_name()}: parameter '{param.name}': {error}") from error
        problem = param.check(value)
        if problem:
            raise ConfigurationError(f"{node.get_name()}: {problem}")
        values[param.name] = value

    def on_set(changes) -> SetParametersResult:
        for change in changes:
            spec = by_name.get(change.name)
            if spec is None:
                continue
            if mutable is None or change.name not in mutable:
                return SetParametersResult(successful=False, reason=f"parameter '{change.name}' is read-only at run time")
            problem = spec.check(change.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        for change in changes:
            values[change.name] = change.value
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def make_executor(threads: int, context=None) -> Executor:
    """One thread: rclpy's SingleThreadedExecutor. More: its MultiThreadedExecutor, which spins at
    full speed (holding the GIL) whenever an entity is ready while its mutually exclusive group is
    busy: measured 94% of a core in the executor thread under a 30 Hz flood of the observation node."""
    if threads == 1:
        return SingleThreadedExecutor(context=context)
    return MultiThreadedExecutor(num_threads=threads, context=context)


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 2) -> int:
    """Init, build the node, spin until SIGINT/SIGTERM, clean up. Configuration errors exit 2.

    rclpy's own signal handler raises KeyboardInterrupt wherever the main thread happens to
    be (even inside destroy_node); a flag set by our handler ends the spin loop cleanly instead.
    """
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = None
    code = 0
    try:
        node = factory()
        executor = make_executor(threads)
        executor.add_node(node)
        while rclpy.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    except ConfigurationError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
