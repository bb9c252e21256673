"""Training lowers the loss, resumes, and runs under torchrun with gloo on 2 processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml
from tiny import tiny_config

from occnet_ros.learn.train import train
from occnet_ros.model.checkpoint import load_checkpoint, read_checkpoint


def test_training_lowers_loss_and_resumes(tmp_path):
    config = tiny_config(tmp_path, 30)
    first = train(config)
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert first["step"] == 30 and history[-1]["step"] == 30
    state = read_checkpoint(tmp_path / "run" / "last.pt")
    assert state["step"] == 30
    initial = train({**config, "train": {**config["train"], "out_dir": str(tmp_path / "fresh"), "max_steps": 1}})
    assert first["loss"] < 0.8 * initial["loss"]
    config["train"]["max_steps"] = 40
    resumed = train(config)
    assert resumed["step"] == 40
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert 0.0 < best.settings.threshold < 1.0 and best.settings.input_points == 200


def test_training_in_chunks_resumes_exactly(tmp_path):
    """Two chunks of 3 steps (the first ends mid-epoch) give the weights of one run of 6 steps."""
    import torch

    config = tiny_config(tmp_path, 6)
    config["train"].update(batch_size=2, lr_schedule="cosine", warmup_steps=2, validate_every=3)  # 2 batches per epoch
    whole = train({**config, "train": {**config["train"], "out_dir": str(tmp_path / "whole")}})
    chunked = {**config, "train": {**config["train"], "out_dir": str(tmp_path / "chunked"), "chunk_steps": 3}}
    first, second = train(chunked), train(chunked)
    assert (first["step"], first["chunk"], second["step"], second["chunk"]) == (3, 1, 6, 2)
    a, b = read_checkpoint(tmp_path / "whole" / "last.pt"), read_checkpoint(tmp_path / "chunked" / "last.pt")
    assert (a["epoch"], a["epoch_batches"]) == (b["epoch"], b["epoch_batches"]) == (2, 2)
    for name, tensor in a["state_dict"].items():
        assert torch.allclose(tensor, b["state_dict"][name], atol=1e-6), name
    assert whole["loss"] == pytest.approx(second["loss"], rel=1e-5)
    chunks = [json.loads(line) for line in (tmp_path / "chunked" / "chunks.jsonl").read_text().splitlines()]
    assert [(c["chunk"], c["first_step"], c["last_step"]) for c in chunks] == [(1, 0, 3), (2, 3, 6)]
    assert chunks[1]["val_iou"] is not None and chunks[1]["device"] == "cpu"
    metrics = [json.loads(line) for line in (tmp_path / "chunked" / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["chunk"]) for m in metrics] == [(3, 1), (6, 2)]


def test_distributed_training_with_gloo(tmp_path):
    config = tiny_config(tmp_path, 4, out="ddp")
    config["train"].update(validate_every=2, batch_size=2)  # 4 records: 2 per process
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "occnet_ros.cli", "train", "--config", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        _, err = process.communicate(timeout=300)
    finally:  # never leave worker processes behind, even when the test fails
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err[-3000:]
    assert read_checkpoint(tmp_path / "ddp" / "last.pt")["step"] == 4
    assert (tmp_path / "ddp" / "best.pt").exists()


def test_batch_larger_than_dataset_is_an_error(tmp_path):
    import pytest

    config = tiny_config(tmp_path, 2)
    config["train"]["batch_size"] = 64
    with pytest.raises(ValueError, match="batch_size 64 exceeds"):
        train(config)


@pytest.mark.parametrize("feature, steps", [({"feature": "planes", "plane_resolution": 16}, 30), ({"feature": "grid", "grid_resolution": 8}, 80)],
                         ids=["planes", "grid"])
def test_conv_onet_trains_with_the_same_pipeline(tmp_path, feature, steps):
    config = tiny_config(tmp_path, steps, out="conv")
    config["model"] = {"model": "conv_onet", "latent_dim": 8, "encoder_hidden": 16, "encoder_blocks": 2,
                       "decoder_hidden": 16, "decoder_blocks": 2, "unet_depth": 2, **feature}
    result = train(config)
    initial = train({**config, "train": {**config["train"], "out_dir": str(tmp_path / "conv0"), "max_steps": 1}})
    assert result["loss"] < 0.8 * initial["loss"]
    loaded = load_checkpoint(tmp_path / "conv" / "best.pt").model.config
    assert loaded.model == "conv_onet" and loaded.feature == feature["feature"]


def test_resuming_with_another_architecture_names_both(tmp_path):
    import pytest

    config = tiny_config(tmp_path, 2)
    train(config)
    config["model"] = {**config["model"], "model": "conv_onet", "plane_resolution": 16, "unet_depth": 2}
    with pytest.raises(ValueError, match="holds a 'onet' model .* asks for 'conv_onet'"):
        train(config)


def test_resuming_with_another_config_names_the_differences(tmp_path):
    config = tiny_config(tmp_path, 2)
    train(config)
    config["train"]["max_steps"] = 3  # how long a run goes may change: it resumes
    assert train(config)["step"] == 3
    other = {**config, "train": {**config["train"], "lr": 0.01, "max_steps": 4},
             "data": {**config["data"], "example": {**config["data"]["example"], "mirror": True}}}
    with pytest.raises(ValueError, match=r"another config \(data.example.mirror: False -> True; train.lr: .* -> 0.01"):
        train(other)


def test_fine_tune_from_a_checkpoint_on_a_mesh_folder(tmp_path, tiny_checkpoint, monkeypatch, capsys):
    import torch
    import trimesh

    from occnet_ros.cli.main import main

    meshes = tmp_path / "mine"
    meshes.mkdir()
    for i in range(5):
        trimesh.creation.cylinder(radius=0.04 + 0.01 * i, height=0.1 + 0.02 * i).export(meshes / f"cup{i}.ply")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--init", str(tiny_checkpoint), "--meshes", str(meshes), "--max-steps", "0"]) == 0
    start = read_checkpoint(tmp_path / "runs" / "finetune-mine" / "last.pt")
    init = read_checkpoint(tiny_checkpoint)
    assert start["model_config"] == init["model_config"]
    assert all(torch.equal(start["state_dict"][k], v) for k, v in init["state_dict"].items())
    assert len(list((tmp_path / "data" / "cache" / "finetune-mine" / "val").glob("*.npz"))) == 1  # every 5th file
    # the warm start is scored on the new validation set before any step: the baseline of the run
    baseline = json.loads((tmp_path / "runs" / "finetune-mine" / "metrics.jsonl").read_text().splitlines()[0])
    assert baseline["step"] == 0 and baseline["train_loss"] is None and 0.0 <= baseline["val_iou"] <= 1.0
    assert main(["train", "--init", str(tiny_checkpoint), "--meshes", str(meshes), "--max-steps", "3", "--batch-size", "2"]) == 0
    tuned = read_checkpoint(tmp_path / "runs" / "finetune-mine" / "last.pt")
    conv = {"model": {"model": "conv_onet", "plane_resolution": 16, "unet_depth": 2}}
    (tmp_path / "conv.yaml").write_text(yaml.safe_dump(conv))
    assert main(["train", "--init", str(tiny_checkpoint), "--config", str(tmp_path / "conv.yaml"), "--meshes", str(meshes)]) == 2
    assert "holds a 'onet' model" in capsys.readouterr().err
    assert tuned["step"] == 3 and not all(torch.equal(tuned["state_dict"][k], v) for k, v in init["state_dict"].items())


def test_learning_rate_schedules():
    from occnet_ros.learn.train import TrainSettings

    cosine = TrainSettings.from_dict({"lr": 1e-3, "lr_schedule": "cosine", "warmup_steps": 10, "max_steps": 110})
    assert cosine.learning_rate(0) == pytest.approx(1e-4) and cosine.learning_rate(9) == pytest.approx(1e-3)
    assert cosine.learning_rate(60) == pytest.approx(0.55e-3)  # half way: mean of lr and the floor
    assert cosine.learning_rate(110) == pytest.approx(1e-4) and cosine.learning_rate(500) == pytest.approx(1e-4)
    rates = [cosine.learning_rate(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert TrainSettings.from_dict({"lr": 2e-4}).learning_rate(12345) == 2e-4
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainSettings.from_dict({"lr_schedule": "step"})


def test_a_stop_signal_saves_the_state_and_the_next_run_resumes_exactly(tmp_path, monkeypatch):
    """SIGTERM (a job's time limit) or Ctrl-C mid-run: the step finishes, the state and the chunk are written,
    nothing is lost, and the handlers are as before afterwards."""
    import torch

    from occnet_ros.learn.train import Trainer

    config = tiny_config(tmp_path, 6)
    config["train"].update(batch_size=2, lr_schedule="cosine", warmup_steps=2, validate_every=3, checkpoint_every=100)
    whole = train({**config, "train": {**config["train"], "out_dir": str(tmp_path / "whole")}})
    stopped_config = {**config, "train": {**config["train"], "out_dir": str(tmp_path / "stopped")}}
    real_step = Trainer.train_step

    def step_then_signal(self, batch):
        loss = real_step(self, batch)
        if self.step == 3:  # the step being trained is the fourth: it still completes
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(Trainer, "train_step", step_then_signal)
    first = train(stopped_config)
    monkeypatch.setattr(Trainer, "train_step", real_step)
    assert (first["step"], first["stopped_by"]) == (4, "SIGTERM")
    assert signal.getsignal(signal.SIGTERM) is before
    assert read_checkpoint(tmp_path / "stopped" / "last.pt")["step"] == 4  # saved though checkpoint_every is 100
    chunk = json.loads((tmp_path / "stopped" / "chunks.jsonl").read_text().splitlines()[0])
    assert (chunk["last_step"], chunk["stopped_by"]) == (4, "SIGTERM")
    second = train(stopped_config)
    assert (second["step"], second["chunk"], second["stopped_by"]) == (6, 2, None)
    a, b = read_checkpoint(tmp_path / "whole" / "last.pt"), read_checkpoint(tmp_path / "stopped" / "last.pt")
    for name, tensor in a["state_dict"].items():
        assert torch.allclose(tensor, b["state_dict"][name], atol=1e-6), name
    assert whole["loss"] == pytest.approx(second["loss"], rel=1e-5)


def test_a_state_written_before_an_example_key_existed_resumes_with_its_default():
    """Keys added to data.example later (with a default that behaves as before) do not make an older
    state 'another config'; a stored value that differs from the config still does."""
    from occnet_ros.learn.train import with_new_defaults

    stored = {"train": {"lr": 0.001}, "data": {"example": {"mirror": True}, "record": {}, "seed": 0}}
    filled = with_new_defaults(stored)["data"]["example"]
    assert filled["mirror"] is True and filled["observed_weight"] == 1.0 and filled["observed_radius"] == 0.03
    from occnet_ros.learn.config import config_differences

    weighted = {"train": {"lr": 0.001}, "data": {"example": {**filled, "observed_weight": 0.25}, "record": {}, "seed": 0}}
    assert config_differences(with_new_defaults(stored), weighted) == ["data.example.observed_weight: 1.0 -> 0.25"]
