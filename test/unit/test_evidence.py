"""Evidence from depth views against analytic scenes: a plane and a sphere seen from known cameras."""

from __future__ import annotations

import numpy as np
import pytest

from occnet_ros.complete.evidence import EvidenceField, EvidenceSettings, evidence_grid, points_evidence
from occnet_ros.complete.fusion import FusionSettings, fuse_logits, model_needed
from occnet_ros.geometry.frames import BOX_HALF
from occnet_ros.geometry.views import DepthView, line_of_sight_samples

K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]])
SIZE = 64


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """world_from_camera of an optical-frame camera at eye looking at target (world z up)."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right = right / np.linalg.norm(right) if np.linalg.norm(right) > 1e-6 else np.array([1.0, 0.0, 0.0])
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = eye
    return pose


def plane_view(distance: float = 1.0, mask: np.ndarray | None = None) -> DepthView:
    """A camera at the origin looking along +z (optical = world) at a wall at z = distance."""
    depth = np.full((SIZE, SIZE), distance, dtype=np.float32)
    return DepthView(depth, np.ones_like(depth, bool) if mask is None else mask, K, np.eye(4))


def sphere_view(eye: np.ndarray, radius: float) -> DepthView:
    """Exact z-depth of a sphere at the world origin; the mask is where the rays hit it."""
    pose = look_at(eye, np.zeros(3))
    v, u = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    world_rays = rays @ pose[:3, :3].T
    origin = pose[:3, 3]
    a = (world_rays**2).sum(-1)
    b = 2 * world_rays @ origin
    c = origin @ origin - radius**2
    disc = b**2 - 4 * a * c
    hit = disc > 0
    t = np.where(hit, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), 0.0)  # t is z-depth (ray z = 1)
    return DepthView(np.where(hit, t, 0.0).astype(np.float32), hit, K, pose)


def test_plane_tsdf_sign_and_value_in_front_and_behind():
    trunc = 0.02
    points = np.array([[0.0, 0.0, 0.99], [0.0, 0.0, 1.0], [0.0, 0.0, 1.01], [0.0, 0.0, 1.5]])
    ev = points_evidence(points, [plane_view()], trunc, EvidenceSettings(min_free_views=1))
    np.testing.assert_allclose(ev.tsdf[:3], [0.5, 0.0, -0.5], atol=1e-4)
    assert ev.weight[0] == pytest.approx(1.0) and ev.weight[2] == pytest.approx(1.0)
    assert ev.weight[3] == 0 and np.isnan(ev.tsdf[3])  # behind the band: unknown
    assert not ev.free[3]


def test_free_space_needs_two_views_unless_the_silhouette_proves_it():
    trunc = 0.02
    in_front = np.array([[0.0, 0.0, 0.5]])
    assert not points_evidence(in_front, [plane_view()], trunc).free[0]  # one crossing: weak evidence
    assert points_evidence(in_front, [plane_view(), plane_view()], trunc).free[0]  # two agree
    behind = np.array([[0.0, 0.0, 1.3]])
    assert not points_evidence(behind, [plane_view(), plane_view()], trunc).free[0]  # behind the surface: not free
    # a mask covering only the left half: a point right of it, in front of the wall, is empty space
    mask = np.zeros((SIZE, SIZE), bool)
    mask[:, :20] = True
    right = np.array([[0.1, 0.0, 0.5]])  # u = 32 + 100 * 0.1 / 0.5 = 52: far outside the mask
    assert points_evidence(right, [plane_view(mask=mask)], trunc).free[0]
    # a pixel at the mask's edge (inside the margin band) proves nothing
    edge = np.array([[(20.4 - 32) / 100 * 0.5, 0.0, 0.5]])  # u = 20.4 -> pixel 20, one pixel off the mask
    assert not points_evidence(edge, [plane_view(mask=mask)], trunc).free[0]


def test_silhouettes_spare_the_neighbourhood_of_observed_points():
    # an object on the left (mask, depth 0.9) before a background wall at 1.0 that is not the object
    mask = np.zeros((SIZE, SIZE), bool)
    mask[:, :20] = True
    view = DepthView(np.where(mask, 0.9, 1.0).astype(np.float32), mask, K, np.eye(4))
    near = np.array([[(23 - 32) / 100 * 0.9, 0.0, 0.9]])  # 4 px right of the mask, 3.6 cm from its edge
    far = np.array([[(52 - 32) / 100 * 0.9, 0.0, 0.9]])
    points = np.concatenate([near, far])
    off = points_evidence(points, [view], 0.02, EvidenceSettings(pose_tolerance_m=0.0))
    assert off.free.all()  # the silhouette alone proves both empty
    spared = points_evidence(points, [view], 0.02, EvidenceSettings(pose_tolerance_m=0.05))
    assert not spared.free[0] and spared.free[1]  # a misplaced mask must not carve next to the object
    crossed = points_evidence(points, [view, view, view], 0.02, EvidenceSettings(pose_tolerance_m=0.05))
    assert crossed.free[1] and not crossed.free[0]  # the background's ray crossing does not reach the object's depth
    for bad in (-0.01, float("nan")):
        with pytest.raises(ValueError):
            EvidenceSettings(pose_tolerance_m=bad).validate()


def test_points_behind_the_camera_or_outside_the_image_get_no_evidence():
    ev = points_evidence(np.array([[0.0, 0.0, -0.5], [5.0, 0.0, 0.5]]), [plane_view(), plane_view()], 0.02)
    assert (ev.weight == 0).all() and not ev.free.any()


def test_sphere_tsdf_matches_the_analytic_signed_distance():
    radius = 0.2
    eyes = [np.array([1.0, 0.0, 0.3]), np.array([0.0, 1.0, 0.3]), np.array([-0.7, -0.7, 0.3])]
    views = [sphere_view(e, radius) for e in eyes]
    ev, vertices = evidence_grid(views, np.full(3, -0.3), np.full(3, 0.3), 30, EvidenceSettings(truncation_fraction=0.05))
    trunc = ev.truncation_m
    sdf = np.linalg.norm(vertices, axis=-1) - radius
    observed = ev.weight >= 0.99
    assert observed.sum() > 100
    # projective distance along z over-estimates the Euclidean one off-axis: compare signs and a bound
    near = observed & (np.abs(sdf) < 0.5 * trunc)
    assert (np.sign(ev.tsdf[near & (np.abs(sdf) > 0.003)]) == np.sign(sdf[near & (np.abs(sdf) > 0.003)])).mean() > 0.97
    # the centre of the sphere is never free; most of the corners of the box are
    assert not ev.free[15, 15, 15]
    corners = ev.free[[0, 0, -1, -1], [0, -1, 0, -1], [-1, -1, -1, -1]]
    assert corners.mean() >= 0.75
    # every free vertex is outside the sphere (carving never cuts into the object)
    assert (sdf[ev.free] > -1e-3).all()


def test_large_world_coordinates_keep_precision():
    """A wall 1e6 m from the world origin: offsets in float32 around a float64 origin."""
    shift = np.array([1e6, -2e6, 0.0])
    view = plane_view()
    pose = np.eye(4)
    pose[:3, 3] = shift
    far = DepthView(view.depth, view.mask, view.k, pose)
    points = np.array([[0.0, 0.0, 0.99]]) + shift
    ev = points_evidence(points, [far], 0.02)
    assert ev.tsdf[0] == pytest.approx(0.5, abs=1e-3)


def test_fusion_follows_the_evidence_where_observed_and_carves_free_space():
    level = float(np.log(0.2 / 0.8))
    trunc = 0.02
    field = EvidenceField([plane_view()] * int(FusionSettings().full_weight), trunc)  # enough views for the TSDF alone
    points = np.array([[0.0, 0.0, 0.995], [0.0, 0.0, 1.005], [0.0, 0.0, 0.5], [0.0, 0.0, 1.5]])
    ev = field.at(points)
    model = np.array([5.0, -5.0, 5.0, 3.0], dtype=np.float32)  # the prior disagrees on every point
    fused = fuse_logits(model, ev, level, FusionSettings())
    assert fused[0] < level < fused[1]  # in front of the wall outside, behind it inside: the evidence wins
    assert fused[2] <= level - FusionSettings().free_margin  # crossed by every view: empty
    assert fused[3] == pytest.approx(3.0)  # hidden behind the wall: the prior decides
    # one view of weight 1 only blends: the evidence pulls the prior towards the surface
    single = fuse_logits(model, EvidenceField([plane_view()], trunc).at(points), level, FusionSettings(full_weight=3.0))
    assert fused[0] < single[0] < model[0] and model[1] < single[1] < fused[1]


def test_known_free_space_no_view_observed_needs_no_network_query():
    level = float(np.log(0.2 / 0.8))
    field = EvidenceField([plane_view()] * 2, 0.02)  # two views cross the space in front of the wall
    points = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.995], [0.0, 0.0, 1.5]])  # crossed, on the wall, hidden
    ev = field.at(points)
    assert model_needed(ev).tolist() == [False, True, True]
    assert model_needed(ev, FusionSettings(skip_known_free=False)).all()
    unread = np.array([np.nan, 2.0, 3.0], dtype=np.float32)  # the skipped query was never decoded
    fused = fuse_logits(unread, ev, level)
    assert fused[0] == pytest.approx(level - FusionSettings().free_margin) and np.isfinite(fused).all()
    # without the skip the model's own value is kept where it is lower still (the old behaviour)
    deep = np.array([-20.0, 2.0, 3.0], dtype=np.float32)
    assert fuse_logits(deep, ev, level, FusionSettings(skip_known_free=False))[0] == pytest.approx(-20.0)
    assert fuse_logits(deep, ev, level)[1:] == pytest.approx(fused[1:])


def test_where_the_evidence_has_full_weight_the_network_is_not_asked_and_nothing_changes():
    """A point every one of ``full_weight`` views observed takes the TSDF's logit alone: the model's
    would be multiplied by zero, so it is not decoded (with or without the known-free skip)."""
    level = float(np.log(0.4 / 0.6))
    settings = FusionSettings()
    points = np.array([[0.0, 0.0, 0.995], [0.0, 0.0, 1.005], [0.0, 0.0, 1.5]])  # on the wall, just behind, hidden
    full = EvidenceField([plane_view()] * int(settings.full_weight), 0.02).at(points)
    assert model_needed(full).tolist() == [False, False, True]
    assert model_needed(full, FusionSettings(skip_known_free=False)).tolist() == [False, False, True]
    unread = fuse_logits(np.array([np.nan, np.nan, 1.0], dtype=np.float32), full, level)
    decoded = fuse_logits(np.array([7.0, -7.0, 1.0], dtype=np.float32), full, level)
    assert np.array_equal(unread, decoded) and unread[0] < level < unread[1]
    partial = EvidenceField([plane_view()] * (int(settings.full_weight) - 1), 0.02).at(points)
    assert model_needed(partial).tolist() == [True, True, True]  # below full weight the model still blends in


def test_line_of_sight_samples_lie_between_the_surface_and_the_camera_inside_the_box():
    rng = np.random.default_rng(0)
    surface = rng.uniform(-0.3, 0.3, (100, 3))
    origins = np.tile([0.0, 0.0, 3.0], (100, 1))
    free = line_of_sight_samples(surface, origins, 256, rng, (0.03, 0.5), BOX_HALF)
    assert free.shape == (256, 3)
    assert (np.abs(free) <= BOX_HALF + 1e-6).all()
    # each sample is on some segment surface -> origin: its x/y are a shrunk surface point's
    to_origin = origins[0] - free
    along = to_origin / np.linalg.norm(to_origin, axis=1, keepdims=True)
    assert (along[:, 2] > 0).all()  # towards the camera above
    empty = line_of_sight_samples(np.zeros((0, 3)), np.zeros((0, 3)), 10, rng, (0.03, 0.5), BOX_HALF)
    assert empty.shape == (0, 3)


@pytest.mark.parametrize("fill_only", [True, False])
def test_a_symmetric_copy_fills_in_only_where_no_view_observed_when_asked(fill_only):
    """A copy a centimetre off (a symmetry found a little wrong) averages into the views' TSDF and
    moves the wall, unless ``copies_fill_only``: then the wall the view saw stays where it was and
    the copy's TSDF counts only where no real view has evidence."""
    trunc = 0.03
    settings = EvidenceSettings(min_free_views=1, copies_fill_only=fill_only)
    field = EvidenceField([plane_view(1.0)], trunc, settings, copies=[plane_view(1.01)])
    seen = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.985]])  # on the seen wall, and just in front of it
    behind = np.array([[0.0, 0.0, 1.035]])  # past the seen wall's band, inside the copy's
    at_seen, at_behind = field.at(seen), field.at(behind)
    assert at_seen.weight[0] == pytest.approx(2.0)  # the copy adds its weight either way
    if fill_only:
        np.testing.assert_allclose(at_seen.tsdf, [0.0, 0.5], atol=1e-4)  # the view's own TSDF
    else:
        np.testing.assert_allclose(at_seen.tsdf, [(0.0 + 1 / 3) / 2, (0.5 + 5 / 6) / 2], atol=1e-4)  # the mean of view and copy
    assert at_behind.weight[0] > 0 and np.isfinite(at_behind.tsdf[0])  # only the copy saw there: it fills in
