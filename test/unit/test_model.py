"""Model shapes, permutation invariance, CBN folding, checkpoints."""

from __future__ import annotations

import pytest
import torch

from occnet_ros.model.checkpoint import CheckpointError, InferenceSettings, load_checkpoint, save_checkpoint
from occnet_ros.model.occnet import ModelConfig, OccupancyNetwork

SMALL = ModelConfig(latent_dim=16, encoder_hidden=24, encoder_blocks=3, decoder_hidden=20, decoder_blocks=3)


def trained_like(config: ModelConfig = SMALL) -> OccupancyNetwork:
    """A model with non-trivial weights and batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    model = OccupancyNetwork(config)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.3 * torch.randn_like(param))
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(torch.rand(4, 50, 3) - 0.5, 2 * torch.rand(4, 80, 3) - 1)
    return model.eval()


def test_shapes():
    model = trained_like()
    z = model.encode(torch.rand(3, 100, 3))
    assert z.shape == (3, SMALL.latent_dim)
    assert model(torch.rand(3, 100, 3), torch.rand(3, 7, 3)).shape == (3, 7)


def test_encoder_is_permutation_invariant():
    model = trained_like()
    points = torch.rand(2, 64, 3)
    shuffled = points[:, torch.randperm(64)]
    assert torch.allclose(model.encode(points), model.encode(shuffled), atol=1e-5)


def test_folded_decoder_equals_unfolded():
    model = trained_like()
    cloud = torch.rand(200, 3) - 0.5
    queries = torch.rand(1000, 3) - 0.5
    unfolded = model.occupancy_function(cloud, fold=False)(queries)
    folded = model.occupancy_function(cloud, fold=True)(queries)
    assert unfolded.abs().max() > 0.1  # a non-trivial function
    assert torch.allclose(folded, unfolded, atol=1e-4, rtol=1e-4)


def test_occupancy_function_refuses_training_mode():
    model = trained_like().train()
    with pytest.raises(RuntimeError, match="eval mode"):
        model.occupancy_function(torch.rand(10, 3))


@pytest.mark.parametrize("values, message", [
    ({"latent_dim": 0}, "latent_dim"),
    ({"decoder_blocks": "5"}, "decoder_blocks"),
    ({"model": "pointnet"}, "model must be"),
    ({"hidden": 3}, "unknown model config"),
])
def test_bad_model_config_names_the_key(values, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_dict(values)


def test_checkpoint_round_trip(tmp_path):
    model = trained_like()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, InferenceSettings(threshold=0.3, input_points=128), {"note": "x"})
    loaded = load_checkpoint(path)
    assert loaded.settings.threshold == 0.3 and loaded.settings.input_points == 128
    assert loaded.model.config == SMALL and not loaded.model.training
    cloud, queries = torch.rand(50, 3), torch.rand(30, 3)
    assert torch.allclose(loaded.model.occupancy_function(cloud)(queries), model.occupancy_function(cloud)(queries))


def test_corrupt_and_foreign_checkpoints_fail_clearly(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(corrupt)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an occnet_ros checkpoint"):
        load_checkpoint(foreign)


def test_checkpoint_with_wrong_shapes_or_version_fails(tmp_path):
    model = trained_like()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, InferenceSettings())
    state = torch.load(path, weights_only=True)
    state["model_config"]["decoder_hidden"] = 64
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path)
    state["format_version"] = 99
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(path)


CONV = ModelConfig(model="conv_onet", latent_dim=8, encoder_hidden=16, encoder_blocks=3, decoder_hidden=16,
                   decoder_blocks=2, plane_resolution=16, unet_depth=2)
CONV_GRID = ModelConfig(**{**CONV.to_dict(), "feature": "grid", "grid_resolution": 8})


@pytest.mark.parametrize("config", [CONV, CONV_GRID], ids=["planes", "grid"])
def test_conv_onet_shapes_and_permutation_invariance(config):
    from occnet_ros.model.occnet import build_model

    torch.manual_seed(0)
    model = build_model(config).eval()
    points = torch.rand(2, 100, 3) - 0.5
    queries = torch.rand(2, 30, 3) - 0.5
    logits = model(points, queries)
    assert logits.shape == (2, 30)
    assert torch.allclose(model(points[:, torch.randperm(100)], queries), logits, atol=1e-5)
    fn = model.occupancy_function(points[0])
    assert torch.allclose(fn(queries[0]), logits[0], atol=1e-5)


@pytest.mark.parametrize("config", [SMALL, CONV, CONV_GRID], ids=["onet", "planes", "grid"])
def test_resamplings_average_their_encodings(config):
    """K resamplings (K, N, 3) give the decoder the mean of their K encodings: one resampling is
    the cloud alone, two copies of one cloud are that cloud, two different draws are neither."""
    from occnet_ros.model.occnet import build_model

    torch.manual_seed(0)
    model = trained_like(config) if config is SMALL else build_model(config).eval()
    with torch.no_grad():  # weights far from the initialisation's near-constant output
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    draws = torch.rand(2, 120, 3) - 0.5
    queries = torch.rand(300, 3) - 0.5
    one = model.occupancy_function(draws[0])(queries)
    assert torch.allclose(model.occupancy_function(draws[:1])(queries), one, atol=1e-4, rtol=1e-4)
    assert torch.allclose(model.occupancy_function(draws[[0, 0]])(queries), one, atol=1e-4, rtol=1e-4)
    averaged = model.occupancy_function(draws)(queries)
    other = model.occupancy_function(draws[1])(queries)
    assert min((averaged - one).abs().max(), (averaged - other).abs().max()) > 1e-2 * one.abs().max()
    with torch.no_grad():
        codes = model.encode(draws)
        mean = codes.mean(0, keepdim=True) if config is SMALL else [m.mean(0, keepdim=True) for m in codes]
        expected = model.decoder(queries.unsqueeze(0), mean)[0]
    assert torch.allclose(averaged, expected, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="resamplings"):
        model.occupancy_function(draws.unsqueeze(0))


@pytest.mark.parametrize("config", [CONV, CONV_GRID], ids=["planes", "grid"])
def test_conv_onet_features_are_local(config):
    """Moving input points far from a query changes its logit less than moving points near it."""
    from occnet_ros.model.occnet import build_model

    torch.manual_seed(1)
    model = build_model(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn_like(param))
    points = torch.rand(1, 400, 3) - 0.5
    query = torch.tensor([[[-0.4, -0.4, -0.4]]])
    near = points.clone()
    near[0, :20] = -0.4 + 0.02 * torch.randn(20, 3)
    far = points.clone()
    far[0, :20] = 0.4 + 0.02 * torch.randn(20, 3)
    base = model(points, query)
    assert (model(near, query) - base).abs() > (model(far, query) - base).abs()


@pytest.mark.parametrize("config", [CONV, CONV_GRID], ids=["planes", "grid"])
def test_conv_onet_checkpoint_records_its_architecture(tmp_path, config):
    from occnet_ros.model.conv_onet import ConvOccupancyNetwork
    from occnet_ros.model.occnet import build_model

    torch.manual_seed(0)
    model = build_model(config).eval()
    save_checkpoint(tmp_path / "c.pt", model, InferenceSettings())
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert isinstance(loaded.model, ConvOccupancyNetwork) and loaded.model.config == config
    points, queries = torch.rand(1, 50, 3) - 0.5, torch.rand(1, 20, 3) - 0.5
    assert torch.equal(loaded.model(points, queries), model(points, queries))
    with pytest.raises(ValueError, match="plane_resolution 20 must be divisible"):
        build_model(ModelConfig(model="conv_onet", plane_resolution=20, unet_depth=4))
    with pytest.raises(ValueError, match="grid_resolution 12 must be divisible"):
        build_model(ModelConfig(model="conv_onet", feature="grid", grid_resolution=12, unet_depth=4))
    with pytest.raises(ValueError, match="feature must be one of"):
        ModelConfig.from_dict({"model": "conv_onet", "feature": "octree"})


def test_grid_features_are_read_back_at_known_coordinates():
    """A 3D grid whose feature is a known ramp along each axis is sampled exactly at query coordinates."""
    from occnet_ros.model.conv_onet import BOX_HALF, GRID, LocalDecoder

    resolution = 8
    centres = (torch.arange(resolution) + 0.5) / resolution
    shape = (1, 1, resolution, resolution, resolution)  # (B, C, D, H, W): W is axis 0 (x)
    ramps = [centres.view(1, 1, 1, 1, -1).expand(shape), centres.view(1, 1, 1, -1, 1).expand(shape), centres.view(1, 1, -1, 1, 1).expand(shape)]
    queries = torch.tensor([[[0.1, -0.2, 0.3], [-0.3, 0.25, -0.05]]])  # inside the outermost cell centres
    for axis, ramp in enumerate(ramps):
        read = LocalDecoder.sample([ramp], queries, GRID)[0, :, 0]
        assert torch.allclose(read, queries[0, :, axis] / (2 * BOX_HALF) + 0.5, atol=1e-5), axis


def test_plane_features_are_read_back_at_known_coordinates():
    """A plane whose feature is a known linear ramp is sampled exactly at query coordinates."""
    from occnet_ros.model.conv_onet import BOX_HALF, LocalDecoder

    resolution = 32
    centres = (torch.arange(resolution) + 0.5) / resolution  # cell centres in [0, 1]
    ramp_u = centres.view(1, 1, 1, -1).expand(1, 1, resolution, resolution)  # varies along the first axis
    ramp_v = centres.view(1, 1, -1, 1).expand(1, 1, resolution, resolution)  # along the second
    zeros = torch.zeros(1, 1, resolution, resolution)
    queries = torch.tensor([[[0.1, -0.2, 0.3], [-0.4, 0.25, -0.05]]])
    xy = LocalDecoder.sample([ramp_u, zeros, zeros], queries)[0, :, 0]
    xz = LocalDecoder.sample([zeros, ramp_v, zeros], queries)[0, :, 0]
    expected_x = queries[0, :, 0] / (2 * BOX_HALF) + 0.5
    expected_z = queries[0, :, 2] / (2 * BOX_HALF) + 0.5
    assert torch.allclose(xy, expected_x, atol=1e-5) and torch.allclose(xz, expected_z, atol=1e-5)


@pytest.mark.parametrize("config", [CONV, CONV_GRID], ids=["planes", "grid"])
def test_mise_on_the_local_model_matches_the_dense_grid(config):
    import numpy as np

    from occnet_ros.complete.extract import ExtractionSettings, extract_mesh
    from occnet_ros.evaluate.metrics import volumetric_iou
    from occnet_ros.model.occnet import build_model

    torch.manual_seed(0)
    model = build_model(config).eval()
    with torch.no_grad():  # make the function a blob around the input: bias the output by distance
        model.decoder.fc_out.bias.fill_(2.0)
    cloud = (torch.rand(300, 3) - 0.5) * 0.5
    inner = model.occupancy_function(cloud)
    fn = lambda p: inner(p) - 8.0 * p.norm(dim=1)  # noqa: E731 - closed surface for any weights
    settings = ExtractionSettings(16, 2, threshold=0.5)
    mise, dense = extract_mesh(fn, settings), extract_mesh(fn, settings, use_mise=False)
    assert mise.mesh.is_watertight and mise.evaluated_points < dense.evaluated_points
    assert volumetric_iou(mise.mesh, dense.mesh, np.random.default_rng(0)) > 0.98
