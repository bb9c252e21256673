"""The GPU path of training (tools/device_train.sh) run here on the CPU with a tiny config: a
records pack replaces the data sources, chunks resume from the committed state, and the state,
best weights and curves land where the script says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from tiny import tiny_config

from occnet_ros.learn.splits import prepare_split
from occnet_ros.model.checkpoint import read_checkpoint

REPO = Path(__file__).resolve().parents[2]


def run_chunk(config: Path, pack: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(REPO / "tools" / "device_train.sh"), str(config), str(pack), "5"],
                            capture_output=True, text=True, env={**os.environ, "OCCNET_PY": sys.executable, **env}, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def test_device_train_chunks_resume_from_committed_state(tmp_path):
    config = tiny_config(tmp_path, 6)
    config["train"].update(chunk_steps=3, validate_every=3)
    path = tmp_path / "tiny_gpu.yaml"
    path.write_text(yaml.safe_dump(config))
    for split in ("train", "val"):
        prepare_split(config["data"], split, progress=False)
    pack = tmp_path / "pack"
    made = subprocess.run([sys.executable, "-m", "occnet_ros.cli", "data", "--config", str(path), "--pack", str(pack),
                           "--pack-mb", "5", "--pack-queries", "1000"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    assert len(list((pack / "train").glob("*.npz"))) == 4 and len(list((pack / "val").glob("*.npz"))) == 2
    models, run = tmp_path / "models", tmp_path / "run"
    env = {"MODELS": str(models), "RUN_DIR": str(run), "WORKERS": "0"}
    run_chunk(path, pack, env)
    run_chunk(path, pack, env)
    state = read_checkpoint(models / "resume" / "tiny_gpu.last.pt")
    assert state["step"] == 6 and (models / "tiny_gpu.best.pt").is_file()
    # a fresh machine: no run directory, the committed state and curves are restored and extended
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["rm", "-rf", str(run)], check=True)
    run_chunk(path, pack, {**env, "OUT": str(out)})
    chunks = [json.loads(line) for line in (out / "tiny_gpu.chunks.jsonl").read_text().splitlines()]
    assert [(c["chunk"], c["first_step"], c["last_step"]) for c in chunks] == [(1, 0, 3), (2, 3, 6), (3, 6, 6)]
    assert read_checkpoint(out / "tiny_gpu.last.pt")["step"] == 6
    used = yaml.safe_load((run / "device_config.yaml").read_text())
    assert used["data"]["sources"] == [{"type": "records_dir", "path": str(pack)}]
    assert used["model"] == config["model"]


def test_device_train_names_a_missing_pack(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path, 2)))
    result = subprocess.run(["bash", str(REPO / "tools" / "device_train.sh"), str(path), str(tmp_path / "nope")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no pack" in result.stderr and "nope" in result.stderr
