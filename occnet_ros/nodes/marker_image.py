"""Render a MarkerArray's TRIANGLE_LIST meshes to a PNG, the way RViz would show them
(marker colours, poses applied), for documentation and headless checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from visualization_msgs.msg import Marker, MarkerArray

from occnet_ros.nodes.conversions import pose_to_matrix


def marker_triangles(marker: Marker) -> tuple[np.ndarray, np.ndarray]:
    """World triangles (T, 3, 3) and their RGBA colours (T, 4) of a TRIANGLE_LIST marker."""
    points = np.array([[p.x, p.y, p.z] for p in marker.points]).reshape(-1, 3)
    matrix = pose_to_matrix(marker.pose)
    world = points @ matrix[:3, :3].T + matrix[:3, 3]
    colours = np.array([[c.r, c.g, c.b, c.a] for c in marker.colors]).reshape(-1, 4)
    if len(colours) != len(points):
        colours = np.tile([marker.color.r, marker.color.g, marker.color.b, marker.color.a], (len(points), 1))
    return world.reshape(-1, 3, 3), colours.reshape(-1, 3, 4).mean(axis=1)


def render_markers(markers: MarkerArray, path: Path, elevation: float = 28.0, azimuth: float = -60.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    fig = plt.figure(figsize=(7, 5.5))
    ax = fig.add_subplot(projection="3d")
    everything = []
    for marker in markers.markers:
        if marker.type == Marker.TRIANGLE_LIST and marker.action == Marker.ADD and marker.points:
            triangles, colours = marker_triangles(marker)
            ax.add_collection3d(Poly3DCollection(triangles, facecolors=np.clip(colours, 0, 1), linewidths=0))
            everything.append(triangles.reshape(-1, 3))
        elif marker.type == Marker.TEXT_VIEW_FACING and marker.action == Marker.ADD:
            p = marker.pose.position
            ax.text(p.x, p.y, p.z, marker.text, fontsize=7)
    if everything:
        points = np.concatenate(everything)
        low, high = points.min(axis=0), points.max(axis=0)
        centre, half = (low + high) / 2, (high - low).max() / 2 + 0.05
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(max(0.0, centre[2] - half), centre[2] + half)
    ax.view_init(elev=elevation, azim=azimuth)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")
    ax.set_title("markers (map frame)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
