"""The layout stays true: stages import one way, no cycles, ROS only in nodes/, torch only where the model runs."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from paths import REPO

PACKAGE = REPO / "occnet_ros"
MAX_LINES = 400

# Each stage (folder, or demo.py) and the stages it may import; everything else is an upward or sideways arrow.
# Inference (model, observe, complete, nodes) never imports learn/; only cli/ and demo import cli/.
ALLOWED: dict[str, set[str]] = {
    "geometry": set(),
    "shapes": {"geometry"},
    "model": {"geometry"},
    "observe": {"geometry"},
    "complete": {"geometry", "model", "observe"},
    "learn": {"geometry", "shapes", "model", "observe"},  # observe: sensor-true records are cleaned as the node cleans
    "evaluate": {"geometry", "shapes", "model", "observe", "complete", "learn"},
    "sim": {"geometry", "shapes"},
    "bags": {"geometry", "sim"},
    "bridge": set(),
    "nodes": {"geometry", "shapes", "model", "observe", "complete", "sim", "bags", "bridge", "msg", "srv"},
    "cli": {"geometry", "shapes", "model", "observe", "complete", "learn", "evaluate", "sim", "bags", "bridge", "nodes"},
    "demo": {"geometry", "shapes", "model", "observe", "complete", "learn", "evaluate", "sim", "bags", "bridge", "nodes", "cli", "msg", "srv"},
}
ROS_IMPORTS = ("rclpy", "launch", "launch_ros", "message_filters", "tf2_ros")  # plus every *_msgs package and occnet_ros.msg/srv
NO_TORCH_NODES = ("occnet_ros.nodes.unity_bridge", "occnet_ros.nodes.hololens_sim", "occnet_ros.nodes.observation", "occnet_ros.nodes.replay")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@cache
def imports(module: str, top_level_only: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) of every import in a module; from-imports of submodules resolve to the submodule."""
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.append((sub if sub in MODULES else node.module, node.lineno))
    return found


def test_every_module_belongs_to_a_stage():
    stray = [m for m in MODULES if m != "occnet_ros" and stage(m) not in ALLOWED]
    assert not stray, f"modules outside the stage folders: {stray}"


def test_imports_point_one_way():
    wrong = []
    for module in MODULES:
        here = stage(module)
        for target, line in imports(module):
            if not target.startswith("occnet_ros.") or stage(target) == here:
                continue
            if stage(target) not in ALLOWED.get(here, set()):
                wrong.append(f"{MODULES[module].relative_to(REPO)}:{line} ({here}) imports {target} ({stage(target)})")
    assert not wrong, "imports against the stage order:\n" + "\n".join(wrong)


def find_cycle(graph: dict[str, set[str]], skip: Callable[[str], bool] = lambda module: False) -> list[str] | None:
    """One import cycle of a module graph (its modules in order, the first repeated at the end), or None.
    Edges into modules that ``skip`` names (packages' __init__) are not followed."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module):], module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            if not skip(target) and (cycle := visit(target, [*path, module])):
                return cycle
        done.add(module)
        return None

    return next((cycle for module in graph if (cycle := visit(module, []))), None)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"a"}}, skip=lambda module: module == "a") is None


def test_no_import_cycles():
    graph = {m: {t for t, _ in imports(m) if t in MODULES and t != m} for m in MODULES}
    cycle = find_cycle(graph, skip=lambda module: MODULES[module].name == "__init__.py")
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_nodes_import_ros():
    wrong = []
    for module in MODULES:
        if stage(module) in ("nodes", "demo"):
            continue
        for target, line in imports(module):
            root = target.split(".")[0]
            ours = root == "occnet_ros" and stage(target) in ("msg", "srv")
            if root in ROS_IMPORTS or root.endswith("_msgs") or ours:
                wrong.append(f"{MODULES[module].relative_to(REPO)}:{line} imports {target}")
    assert not wrong, "ROS imports outside nodes/:\n" + "\n".join(wrong)


def test_private_names_stay_private():
    wrong = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("occnet_ros"):
                wrong += [f"{path.relative_to(REPO)}:{node.lineno} imports {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not wrong, "private names used across modules:\n" + "\n".join(wrong)


def test_nodes_without_the_model_never_load_torch():
    """Module-level imports, followed through occnet_ros: the bridge, simulator, observation and replay processes stay torch-free."""
    for start in NO_TORCH_NODES:
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            for target, _ in imports(module, top_level_only=True):
                assert target.split(".")[0] != "torch", f"{start} loads torch through {module}"
                if target in MODULES:
                    todo.append(target)


def test_no_file_over_400_lines():
    long = [f"{p.relative_to(REPO)}: {n}" for p in sorted(PACKAGE.rglob("*.py")) + sorted((REPO / "test").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines: {long}"


BLOCK_ROS = """
import importlib, sys
class NoRos:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("rclpy",) or name in ("occnet_ros.msg", "occnet_ros.srv"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, NoRos())
for name in sys.argv[1:]:
    importlib.import_module(name)
"""


def test_every_module_outside_nodes_imports_without_ros():
    names = [m for m in MODULES if stage(m) not in ("nodes",) and not m.endswith("__main__")]
    result = subprocess.run([sys.executable, "-P", "-c", BLOCK_ROS, *names], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
