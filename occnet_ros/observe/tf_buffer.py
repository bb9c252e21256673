"""A time-indexed transform tree for the wheel-based runtime, where tf2_ros is missing.

With a ROS 2 install the nodes use tf2_ros.Buffer; this fills in when only the PyPI wheels
exist (tf2_ros is not on PyPI). pytransform3d's TemporalTransformManager needs whole time
series per edge up front, which does not suit a stream of /tf messages, so the few lines
of chaining and interpolation live here. Interpolation: linear translation, slerp rotation.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict, deque

import numpy as np
import transforms3d


class TransformUnavailable(LookupError):
    """No transform between the frames at that time (yet)."""


def _interpolate(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    qa = transforms3d.quaternions.mat2quat(a[:3, :3])
    qb = transforms3d.quaternions.mat2quat(b[:3, :3])
    if np.dot(qa, qb) < 0:
        qb = -qb
    angle = np.arccos(np.clip(np.dot(qa, qb), -1.0, 1.0))
    if angle < 1e-6:
        q = qa
    else:
        q = (np.sin((1 - t) * angle) * qa + np.sin(t * angle) * qb) / np.sin(angle)
    out = np.eye(4)
    out[:3, :3] = transforms3d.quaternions.quat2mat(q / np.linalg.norm(q))
    out[:3, 3] = (1 - t) * a[:3, 3] + t * b[:3, 3]
    return out


class TransformBuffer:
    """parent->child transforms over time; lookup(target, source, stamp) chains and interpolates."""

    def __init__(self, cache_s: float = 10.0) -> None:
        self.cache_s = cache_s
        self.dynamic: dict[tuple[str, str], deque[tuple[float, np.ndarray]]] = defaultdict(deque)
        self.static: dict[tuple[str, str], np.ndarray] = {}
        self.parent: dict[str, str] = {}
        self.lock = threading.Lock()  # the /tf subscription adds while the processing thread looks up

    def set_transform(self, parent: str, child: str, stamp: float, matrix: np.ndarray, static: bool = False) -> None:
        """Add the pose of child in parent at stamp."""
        with self.lock:
            self._set_transform(parent, child, stamp, matrix, static)

    def clear_dynamic(self) -> None:
        """Forget the dynamic transforms (static ones stay)."""
        with self.lock:
            self.dynamic.clear()

    def _set_transform(self, parent: str, child: str, stamp: float, matrix: np.ndarray, static: bool) -> None:
        self.parent[child] = parent
        if static:
            self.static[(parent, child)] = matrix
            return
        series = self.dynamic[(parent, child)]
        if series and stamp < series[-1][0]:
            items = sorted([*series, (stamp, matrix)], key=lambda item: item[0])
            series.clear()
            series.extend(items)
        else:
            series.append((stamp, matrix))
        while series and series[-1][0] - series[0][0] > self.cache_s:
            series.popleft()

    def _edge(self, parent: str, child: str, stamp: float) -> np.ndarray:
        if (parent, child) in self.static:
            return self.static[(parent, child)]
        series = self.dynamic.get((parent, child))
        if not series:
            raise TransformUnavailable(f"no transform {parent} -> {child}")
        stamps = [s for s, _ in series]
        if stamp < stamps[0] or stamp > stamps[-1]:
            if abs(stamp - stamps[0]) < 1e-9 or abs(stamp - stamps[-1]) < 1e-9:
                return series[0][1] if abs(stamp - stamps[0]) < 1e-9 else series[-1][1]
            raise TransformUnavailable(
                f"{parent} -> {child} known for [{stamps[0]:.3f}, {stamps[-1]:.3f}], asked at {stamp:.3f}"
            )
        i = bisect.bisect_left(stamps, stamp)
        if stamps[i] == stamp:
            return series[i][1]
        (s0, m0), (s1, m1) = series[i - 1], series[i]
        return _interpolate(m0, m1, (stamp - s0) / (s1 - s0))

    def _chain_to_root(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self.parent:
            chain.append(self.parent[chain[-1]])
            if len(chain) > 100:
                raise TransformUnavailable("transform tree has a cycle")
        return chain

    def _to_ancestor(self, frame: str, ancestor: str, stamp: float) -> np.ndarray:
        matrix = np.eye(4)
        while frame != ancestor:
            parent = self.parent[frame]
            matrix = self._edge(parent, frame, stamp) @ matrix
            frame = parent
        return matrix

    def lookup(self, target: str, source: str, stamp: float) -> np.ndarray:
        """4x4 pose of ``source`` in ``target`` at stamp (maps source points into target)."""
        with self.lock:
            return self._lookup(target, source, stamp)

    def _lookup(self, target: str, source: str, stamp: float) -> np.ndarray:
        up_source, up_target = self._chain_to_root(source), self._chain_to_root(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise TransformUnavailable(f"frames {target!r} and {source!r} are not connected")
        return np.linalg.inv(self._to_ancestor(target, common, stamp)) @ self._to_ancestor(source, common, stamp)
