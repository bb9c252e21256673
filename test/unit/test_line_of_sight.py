"""The model that also sees space the rays crossed: warm start, training data, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny import tiny_config

from occnet_ros.learn.dataset import ExampleSpec, make_example
from occnet_ros.learn.records import Record, RecordSpec, make_record
from occnet_ros.learn.train import train
from occnet_ros.model.checkpoint import load_checkpoint
from occnet_ros.model.occnet import ModelConfig, build_model
from occnet_ros.shapes.catalog import make_shape

CONV = {"model": "conv_onet", "latent_dim": 8, "encoder_hidden": 16, "encoder_blocks": 2, "decoder_hidden": 16,
        "decoder_blocks": 2, "unet_depth": 2, "plane_resolution": 16}


def test_line_of_sight_branch_starts_at_zero_so_a_point_model_warm_starts_unchanged():
    torch.manual_seed(0)
    plain = build_model(ModelConfig(**CONV)).eval()
    seeing = build_model(ModelConfig(**CONV, line_of_sight=True)).eval()
    own = seeing.state_dict()
    seeing.load_state_dict({k: v for k, v in plain.state_dict().items() if k in own}, strict=False)
    inputs, queries, free = torch.rand(2, 100, 3) - 0.5, torch.rand(2, 50, 3) - 0.5, torch.rand(2, 80, 3) - 0.5
    with torch.no_grad():
        torch.testing.assert_close(seeing(inputs, queries, free), plain(inputs, queries))
        # once the branch has weights, the free points change the output
        torch.nn.init.normal_(seeing.free_encoder.fc_c.weight)
        assert not torch.allclose(seeing(inputs, queries, free), plain(inputs, queries))


def test_line_of_sight_needs_the_local_model():
    with pytest.raises(ValueError, match="line_of_sight needs model conv_onet"):
        ModelConfig(model="onet", line_of_sight=True).validate()


def test_records_keep_camera_origins_and_examples_sample_crossed_space(tmp_path):
    mesh = make_shape("mug", np.random.default_rng(1))
    record = make_record(mesh, np.random.default_rng(0), RecordSpec(views=3, queries=2000, surface_points=500))
    record.save(tmp_path / "r.npz")
    loaded = Record.load(tmp_path / "r.npz")
    assert loaded.origins.shape == (3, 3)
    # cameras look at the object from outside it
    assert (np.linalg.norm(loaded.origins[:, :2] - mesh.bounds.mean(0)[:2], axis=1) > np.ptp(mesh.bounds, 0).max() / 2).all()
    example = make_example(loaded, np.random.default_rng(0), ExampleSpec(input_points=100, query_points=200, free_points=64))
    assert example["free"].shape == (64, 3)
    assert np.abs(example["free"]).max() <= 0.55 + 1e-6  # inside the canonical box
    old = Record(loaded.views, loaded.queries, loaded.occupancies, loaded.surface, loaded.n_near, "old")
    with pytest.raises(ValueError, match="keeps no camera origins"):
        make_example(old, np.random.default_rng(0), ExampleSpec(free_points=8))


def test_a_line_of_sight_model_trains_from_a_point_model(tmp_path):
    config = tiny_config(tmp_path, 12, out="plain")
    config["model"] = dict(CONV)
    train(config)
    seeing = tiny_config(tmp_path, 12, out="seeing")
    seeing["model"] = {**CONV, "line_of_sight": True}
    seeing["data"]["example"]["free_points"] = 64
    seeing["train"].update(init=str(tmp_path / "plain" / "best.pt"), init_mode="matching")
    result = train(seeing)
    assert np.isfinite(result["loss"])
    loaded = load_checkpoint(tmp_path / "seeing" / "best.pt")
    assert loaded.model.config.line_of_sight and loaded.settings.free_points == 64
    # with the default init_mode the architectures must match
    seeing["train"].update(init_mode="same", out_dir=str(tmp_path / "strict"))
    with pytest.raises(ValueError, match="init_mode: matching"):
        train(seeing)
