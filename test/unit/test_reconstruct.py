"""The shipped model on partial clouds users actually produce (no ROS)."""

from __future__ import annotations

import numpy as np
import pytest

from occnet_ros.complete.fusion import FusionSettings
from occnet_ros.complete.postprocess import postprocess
from occnet_ros.complete.reconstruct import Reconstructor
from occnet_ros.evaluate.bench import mesh_iou
from occnet_ros.evaluate.run import observed_fidelity
from occnet_ros.learn.records import RecordSpec, render_views
from occnet_ros.model.checkpoint import default_checkpoint, load_checkpoint
from occnet_ros.shapes.catalog import make_shape_by_seed


def points_and_views(category: str, count: int) -> tuple[np.ndarray, list]:
    """A test shape's merged cloud and its depth views (`basic` simulator, seed 0)."""
    spec = RecordSpec(views=count)
    rendered = render_views(make_shape_by_seed(category, 2_000_000), np.random.default_rng(0), spec, subsample=False)
    return np.concatenate([v.points for v in rendered]), [v.depth_view(spec.intrinsics) for v in rendered]


@pytest.fixture(scope="module")
def reconstructor() -> Reconstructor:
    return Reconstructor(load_checkpoint(default_checkpoint(point_only=True)))  # what `occnet reconstruct CLOUD` uses


@pytest.mark.parametrize("category, keep", [("sofa", 0.3), ("cabinet", 0.3), ("shelf", 0.5)])
def test_a_corner_of_one_view_of_a_large_object_is_covered(reconstructor, category, keep):
    """One view of a large object, cropped to the top corner the camera saw (the object runs out of
    the field of view): the mesh is closed and passes through the observed points."""
    mesh = make_shape_by_seed(category, 2_000_000)
    points = render_views(mesh, np.random.default_rng(0), RecordSpec(views=1))[0].points
    low, high = points.min(axis=0), points.max(axis=0)
    corner = points[(points[:, 0] < low[0] + keep * (high[0] - low[0])) & (points[:, 2] > high[2] - keep * (high[2] - low[2]))]
    assert np.ptp(corner, axis=0).max() < 0.6 * np.ptp(mesh.vertices, axis=0).max()  # really only a part
    out = postprocess(reconstructor.reconstruct(corner).mesh).mesh
    assert out.is_watertight
    assert observed_fidelity(out, corner, mesh, tau=0.02) > 0.9
    assert np.all(out.bounds[0] < corner.min(axis=0) + 0.02) and np.all(out.bounds[1] > corner.max(axis=0) - 0.02)


def test_a_cancelled_reconstruction_raises_at_its_next_batch(reconstructor):
    from occnet_ros.complete.reconstruct import ReconstructionCancelled

    points = np.random.default_rng(0).normal(scale=0.05, size=(400, 3))
    reconstructor.cancel.set()
    with pytest.raises(ReconstructionCancelled):
        reconstructor.reconstruct(points)
    reconstructor.cancel.clear()
    assert len(reconstructor.reconstruct(points).mesh.faces) > 0


def test_skipping_known_free_space_decodes_fewer_queries_for_the_same_mesh():
    """With views, queries in known-free space nobody observed skip the network: the extraction
    asks for as many values as before and gets the same surface. Where the TSDF has full weight
    the network is never asked (its logit would be multiplied by zero)."""
    loaded = load_checkpoint(default_checkpoint())
    points, views = points_and_views("chair", 5)
    skipping = Reconstructor(loaded).reconstruct(points, views)
    everywhere = Reconstructor(loaded, fusion=FusionSettings(skip_known_free=False)).reconstruct(points, views)
    assert everywhere.evaluated_points == skipping.evaluated_points
    assert skipping.network_points < 0.7 * skipping.evaluated_points
    assert skipping.network_points < everywhere.network_points < everywhere.evaluated_points
    assert mesh_iou(skipping.mesh, everywhere.mesh) > 0.99


def test_input_resamplings_draw_k_subsets_the_first_as_one_draw_does():
    """The reconstruction encodes K random subsets of the cloud (and K line-of-sight draws); the
    first is what a single draw gives, the default is the node's documented one, 0 is refused."""
    from occnet_ros.complete.reconstruct import INPUT_RESAMPLINGS
    from occnet_ros.nodes.parameters import RECONSTRUCTION

    loaded = load_checkpoint(default_checkpoint())
    points, views = points_and_views("mug", 3)
    single, several = Reconstructor(loaded, input_resamplings=1), Reconstructor(loaded, input_resamplings=3)
    frame, one, _ = single.canonical_input(points)
    _, three, _ = several.canonical_input(points)
    assert one.shape == (1, loaded.settings.input_points, 3) and three.shape == (3, loaded.settings.input_points, 3)
    assert np.array_equal(three[0], one[0]) and not np.array_equal(three[1], three[0])
    free_one, free_three = single.line_of_sight_input(frame, views), several.line_of_sight_input(frame, views)
    assert free_three.shape == (3, *free_one.shape[1:]) and free_one.shape[0] == 1
    assert np.array_equal(free_three[0].numpy(), free_one[0].numpy())
    assert several.reconstruct(points, views).mesh.is_watertight
    assert Reconstructor(loaded).input_resamplings == INPUT_RESAMPLINGS
    assert next(p.default for p in RECONSTRUCTION if p.name == "input_resamplings") == INPUT_RESAMPLINGS
    with pytest.raises(ValueError, match="input_resamplings"):
        Reconstructor(loaded, input_resamplings=0)


def test_a_symmetric_object_is_also_reconstructed_from_its_mirrored_views():
    """The shipped model on 3 views of a sofa: the views support its mirror plane, so the mirrored
    views join the evidence and the mesh passes through the reflections of the points too; with
    symmetry off, nothing is mirrored."""
    from dataclasses import replace

    from occnet_ros.complete.symmetry import find_mirror_plane

    loaded = load_checkpoint(default_checkpoint())
    points, views = points_and_views("sofa", 3)
    mirrored = Reconstructor(loaded)
    result = mirrored.reconstruct(points, views)
    assert result.mirrored_points == len(points) and "symmetry_s" in result.timings and result.views_used == 3
    assert result.symmetry == "mirror"  # a sofa is not a body of revolution: the mirror is what the views support
    field = mirrored.evidence_field(result.frame, views)
    plane = find_mirror_plane(points, field, np.random.default_rng(mirrored.seed + 2), mirrored.symmetry)
    sofa = make_shape_by_seed("sofa", 2_000_000)
    assert observed_fidelity(postprocess(result.mesh).mesh, plane.reflect(points), sofa, tau=0.02) > 0.9
    plain = Reconstructor(loaded, symmetry=replace(mirrored.symmetry, enabled=False),
                          revolution=replace(mirrored.revolution, enabled=False)).reconstruct(points, views)
    assert plain.mirrored_points == 0 and "symmetry_s" not in plain.timings and plain.symmetry == ""


def test_a_table_square_to_its_first_plane_is_mirrored_about_both_and_a_sofa_about_one():
    """With ``second_plane`` the plane square to the first is tried too: a table holds both (its
    views copied three times, its points reflected three times), a sofa only one."""
    from dataclasses import replace

    loaded = load_checkpoint(default_checkpoint())
    both = Reconstructor(loaded)
    both.symmetry = replace(both.symmetry, second_plane=True)
    points, views = points_and_views("table", 5)
    result = both.reconstruct(points, views)
    assert result.symmetry == "mirror2" and result.mirrored_points == 3 * len(points) and result.mesh.is_watertight
    points, views = points_and_views("sofa", 3)
    assert both.reconstruct(points, views).symmetry == "mirror"


def test_a_body_of_revolution_is_also_reconstructed_from_its_views_turned_about_its_axis():
    """The shipped model on 3 views of a bottle, revolution symmetry on (it is off by default): the
    views support a vertical axis of revolution, so 5 turned copies of each view join the evidence
    (before any mirror is tried) and the mesh passes through the turned points, the side no view
    saw included."""
    from occnet_ros.complete.symmetry import RevolutionSettings, find_revolution_axis

    loaded = load_checkpoint(default_checkpoint())
    points, views = points_and_views("bottle", 3)
    assert Reconstructor(loaded).reconstruct(points, views).symmetry != "revolution"  # off by default
    turned = Reconstructor(loaded, revolution=RevolutionSettings(enabled=True))
    result = turned.reconstruct(points, views)
    assert result.symmetry == "revolution" and result.mirrored_points == 5 * len(points)
    axis = find_revolution_axis(points, turned.evidence_field(result.frame, views), np.random.default_rng(turned.seed + 3))
    bottle = make_shape_by_seed("bottle", 2_000_000)
    opposite = axis.rotate(points, np.pi)  # the side facing away from the views
    assert observed_fidelity(postprocess(result.mesh).mesh, opposite, bottle, tau=0.02) > 0.9
