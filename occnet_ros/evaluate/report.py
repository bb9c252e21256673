"""Markdown report with pictures: inputs, reconstructions, ground truth; F-score vs views."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from occnet_ros.geometry.camera import Intrinsics, project, transform_points
from occnet_ros.geometry.raycast import look_at, open3d_k, raycasting_scene

PICTURE = Intrinsics(240, 240, 300.0, 300.0, 120.0, 120.0)


def camera_for(mesh: trimesh.Trimesh) -> np.ndarray:
    center = mesh.bounds.mean(axis=0)
    size = float(np.ptp(mesh.bounds, axis=0).max())
    eye = center + size * np.array([1.6, -1.9, 1.4])
    return look_at(eye, center)


def shade(mesh: trimesh.Trimesh, cam_to_world: np.ndarray) -> np.ndarray:
    """Grey-shaded (H, W) image of a mesh by raycasting; white background."""
    import open3d as o3d

    scene = raycasting_scene([mesh])
    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(open3d_k(PICTURE)), o3d.core.Tensor(np.linalg.inv(cam_to_world)), PICTURE.width, PICTURE.height
    )
    hits = scene.cast_rays(rays)
    normals = hits["primitive_normals"].numpy()
    light = -cam_to_world[:3, 2] + np.array([0.3, 0.2, 0.8])
    light /= np.linalg.norm(light)
    image = 0.25 + 0.7 * np.abs(normals @ light)
    image[~np.isfinite(hits["t_hit"].numpy())] = 1.0
    return image


def splat(points: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """Image of points seen by the picture camera (dark dots on white)."""
    image = np.ones((PICTURE.height, PICTURE.width))
    uv, inside = project(transform_points(np.linalg.inv(cam_to_world), points), PICTURE)
    image[uv[inside, 1], uv[inside, 0]] = 0.2
    return image


def object_figure(path: Path, name: str, meshes: dict[str, Any], views: int, methods: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    camera = camera_for(meshes["gt"])
    panels = [(f"input ({views} views)", splat(meshes["inputs"][views], camera))]
    for method in methods:
        mesh = meshes["outputs"].get((views, method))
        panels.append((method, shade(mesh, camera) if mesh is not None else np.ones((PICTURE.height, PICTURE.width))))
    panels.append(("ground truth", shade(meshes["gt"], camera)))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.4))
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def fscore_plot(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        points = [(r["views"], r["fscore_1pct"]) for r in rows if r["method"] == method and r["fscore_1pct"] is not None]
        if points:
            ax.plot(*zip(*points), marker="o", label=method)
    ax.set_xlabel("views")
    ax.set_ylabel("F-score @ 1%")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(out_dir: Path, rows, records, kept, view_counts: list[int], args: dict[str, Any]) -> Path:
    """report.md + PNGs + records.json in out_dir."""
    import json

    from occnet_ros.evaluate.summary import format_table

    out_dir.mkdir(parents=True, exist_ok=True)
    methods = list(dict.fromkeys(r["method"] for r in records))
    fscore_plot(out_dir / "fscore_vs_views.png", rows)
    pictures = []
    for name, meshes in kept:
        picture = out_dir / f"{name}.png"
        object_figure(picture, name, meshes, view_counts[-1], methods)
        pictures.append(picture.name)
    (out_dir / "records.json").write_text(json.dumps(records, indent=1))
    command = "occnet eval " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in args.items()
        if k in ("meshes", "split", "per_category", "categories", "views", "methods", "limit", "seed", "checkpoint") and v is not None
    )
    text = [
        "# occnet_ros evaluation",
        "",
        f"Date: {datetime.date.today().isoformat()}; machine: {platform.machine()}, {platform.processor() or platform.system()}",
        f"Command: `{command}`",
        "",
        "Metrics in each ground truth's unit box (longest side 1): Chamfer-L1, F-score at 1% and 2%,",
        "volumetric IoU on 100k uniform points (only for watertight outputs; TSDF meshes are open),",
        "input fidelity = fraction of input points within 1% of the output surface.",
        "",
        format_table(rows),
        "",
        "![F-score vs views](fscore_vs_views.png)",
        "",
        *[f"![{p}]({p})" for p in pictures],
        "",
    ]
    (out_dir / "report.md").write_text("\n".join(text))
    return out_dir / "report.md"
