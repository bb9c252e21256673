"""What both launch files share: their arguments and the node actions built from the node list.

The params file is read at launch time and each node gets its own section as parameters, so a
node started under a ``namespace`` still finds them (a plain ``--params-file`` section named
``observation`` matches only ``/observation``). A missing or invalid params file and a launch
argument with a wrong value fail the launch with a message naming them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from occnet_ros.nodes.parameters import NODES, validate_values
from occnet_ros.nodes.registry import REPLAY, SENSOR_TOPICS, UNITY_BRIDGE, NodeEntry

BOOL = ["true", "false"]
LOG_LEVELS = ["debug", "info", "warn", "error", "fatal"]
# launch argument -> parameter it sets on every node of the list that declares it
PARAMETER_ARGUMENTS = ("world_frame", "checkpoint", "device")


class LaunchArgumentError(RuntimeError):
    """A launch argument or the params file it names cannot be used (the message names it)."""


def share() -> Path:
    return Path(get_package_share_directory("occnet_ros"))


def arguments() -> list[DeclareLaunchArgument]:
    return [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of every node (and so of their topics)"),
        DeclareLaunchArgument("params_file", default_value=str(share() / "config" / "occnet.yaml"),
                              description="ROS 2 params YAML with one section per node (observation, reconstruction, ...)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=BOOL, description="follow /clock (bag replay)"),
        DeclareLaunchArgument("use_bridge", default_value="true", choices=BOOL, description="start the Unity bridge"),
        DeclareLaunchArgument("log_level", default_value="info", choices=LOG_LEVELS, description="log level of every node"),
        DeclareLaunchArgument("world_frame", default_value="map", description="fixed frame of views, objects and meshes"),
        DeclareLaunchArgument("checkpoint", default_value="", description="model file; empty = shipped"),
        DeclareLaunchArgument("device", default_value="auto", choices=["auto", "cpu", "cuda"], description="auto, cpu or cuda"),
        DeclareLaunchArgument("use_rviz", default_value="false", choices=BOOL, description="start RViz with config/occnet.rviz"),
        DeclareLaunchArgument("bag", default_value="", description="rosbag2 recording to replay into the nodes (a replay node "
                              "is added; with use_sim_time:=true it publishes /clock); empty = live topics"),
        DeclareLaunchArgument("bag_rate", default_value="1.0", description="playback speed of bag (1.0 = as recorded)"),
        *[DeclareLaunchArgument(arg, default_value=topic, description=f"remaps {topic}") for arg, topic in SENSOR_TOPICS.items()],
        # launch's own setting (default 5 s): a node busy with a frame or a mesh on a loaded CPU
        # needs longer to finish cleanly after SIGINT before launch escalates to SIGTERM.
        DeclareLaunchArgument("sigterm_timeout", default_value="15", description="seconds from SIGINT to SIGTERM at shutdown"),
    ]


def read_params_file(path: str) -> dict[str, dict[str, Any]]:
    """node name -> its parameters; ``/**`` sections apply to every node."""
    file = Path(path)
    if not file.is_file():
        raise LaunchArgumentError(f"launch argument 'params_file': no such file '{path}'")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as error:
        raise LaunchArgumentError(f"launch argument 'params_file': '{path}' is not YAML: {error}") from error
    if not isinstance(data, dict):
        raise LaunchArgumentError(f"launch argument 'params_file': '{path}' must map node names to sections")
    common: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, section in data.items():
        values = dict((section or {}).get("ros__parameters", {}) or {})
        if str(key) in ("/**", "**"):
            common.update(values)
        else:
            sections.setdefault(str(key).strip("/").split("/")[-1], {}).update(values)
    unknown = sorted(set(sections) - set(NODES))
    if unknown:
        raise LaunchArgumentError(f"launch argument 'params_file': '{path}' has unknown node sections {unknown} (known: {sorted(NODES)})")
    return {name: {**common, **sections.get(name, {})} for name in NODES}


def _float_argument(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise LaunchArgumentError(f"launch argument '{name}': '{text}' is not a number") from None


def node_actions(context: LaunchContext, entries: tuple[NodeEntry, ...]) -> list[Node]:
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params = read_params_file(value("params_file"))
    entries = tuple(e for e in entries if e != UNITY_BRIDGE or value("use_bridge") == "true")
    bag_rate = _float_argument("bag_rate", value("bag_rate"))
    if value("bag"):
        entries += (REPLAY,)
        params["replay"] = {**params["replay"], "bag": value("bag"), "rate": bag_rate,
                            "publish_clock": value("use_sim_time") == "true"}
    remappings = [(topic, value(arg)) for arg, topic in SENSOR_TOPICS.items()]
    actions = []
    for entry in entries:
        declared = {p.name for p in NODES[entry.name]}
        values = {k: v for k, v in params[entry.name].items() if k in declared or k == "use_sim_time"}
        values.update({arg: value(arg) for arg in PARAMETER_ARGUMENTS if arg in declared})
        values["use_sim_time"] = value("use_sim_time") == "true"
        problems = validate_values(entry.name, values)
        if problems:
            raise LaunchArgumentError(f"{entry.name}: {'; '.join(problems)} (params_file '{value('params_file')}')")
        actions.append(Node(package="occnet_ros", executable=entry.executable, name=entry.name, namespace=value("namespace"),
                            output="screen", parameters=[values], remappings=remappings,
                            ros_arguments=["--log-level", value("log_level")]))
    if value("use_rviz") == "true":
        actions.append(rviz_node(value("namespace"), value("world_frame"), dict(remappings)))
    return actions


def rviz_topics(config: Path) -> list[str]:
    """The absolute topics the displays of an RViz config subscribe to."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            topic = node.get("Topic")
            if isinstance(topic, dict) and str(topic.get("Value", "")).startswith("/"):
                found.append(str(topic["Value"]))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(yaml.safe_load(config.read_text()))
    return found


def rviz_remappings(topics: list[str], namespace: str, sensor_remaps: dict[str, str]) -> list[tuple[str, str]]:
    """(config topic, where the nodes publish it): under ``namespace``, after the sensor topics'
    launch arguments; topics that stay where they are need none."""
    prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
    remappings = []
    for topic in topics:
        target = sensor_remaps.get(topic.lstrip("/"), topic.lstrip("/"))
        resolved = target if target.startswith("/") else f"{prefix}/{target}"
        if resolved != topic:
            remappings.append((topic, resolved))
    return remappings


def rviz_node(namespace: str, world_frame: str, sensor_remaps: dict[str, str]) -> Node:
    """RViz with config/occnet.rviz, its fixed frame the world frame, its topics the nodes'."""
    config = share() / "config" / "occnet.rviz"
    return Node(package="rviz2", executable="rviz2", arguments=["-d", str(config), "-f", world_frame],
                remappings=rviz_remappings(rviz_topics(config), namespace, sensor_remaps))


def launch_description(entries: tuple[NodeEntry, ...]) -> LaunchDescription:
    return LaunchDescription([*arguments(), OpaqueFunction(function=node_actions, args=[entries])])
