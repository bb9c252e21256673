"""Training: `occnet train --config CONFIG.yaml`.

Resumable (``<out_dir>/last.pt`` holds model, optimiser, step and RNG-free data position:
examples depend only on seed, epoch and index), validates IoU every ``validate_every`` steps
with the occupancy threshold swept on the validation split, keeps ``best.pt``. Runs single
process or under torchrun (DistributedDataParallel; gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from occnet_ros.learn.config import config_differences, run_identity
from occnet_ros.learn.dataset import ExampleSpec, OccupancyDataset
from occnet_ros.learn.splits import prepare_split
from occnet_ros.learn.stopping import stop_on_signals
from occnet_ros.model.checkpoint import InferenceSettings, pick_device, read_checkpoint, save_checkpoint
from occnet_ros.model.occnet import ModelConfig, build_model, require_same_architecture

log = logging.getLogger(__name__)
INIT_MODES = ("same", "matching")
LR_SCHEDULES = ("constant", "cosine")
THRESHOLDS = tuple(np.round(np.arange(0.1, 0.75, 0.05), 2))


@dataclass(frozen=True)
class TrainSettings:
    out_dir: str = "runs/onet"
    batch_size: int = 16
    lr: float = 3e-4
    lr_schedule: str = "constant"  # or "cosine": from lr down to min_lr_fraction * lr at max_steps
    warmup_steps: int = 0  # linear ramp from 0 to lr first
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.0
    max_steps: int = 100_000
    max_minutes: float | None = None  # stop (after a checkpoint) when this wall time is spent
    chunk_steps: int | None = None  # stop after this many steps of this invocation (a chunk; the schedule runs to max_steps)
    validate_every: int = 500
    checkpoint_every: int = 100
    seed: int = 0
    threads: int | None = None
    workers: int = 0  # DataLoader worker processes (examples depend only on seed, epoch and index, so any count gives the same batches)
    device: str = "auto"
    init: str | None = None  # start from this checkpoint's weights (fine-tuning); same architecture
    init_mode: str = "same"  # "matching": the checkpoint may differ; copy every parameter of equal name and shape

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown train settings {unknown}; known: {sorted(known)}")
        settings = cls(**values)
        if settings.init_mode not in INIT_MODES:
            raise ValueError(f"init_mode must be one of {INIT_MODES}, got {settings.init_mode!r}")
        if settings.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {settings.lr_schedule!r}")
        return settings

    def learning_rate(self, step: int) -> float:
        """The learning rate of optimisation step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.lr
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps))
        floor = self.lr * self.min_lr_fraction
        return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def validate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
    """Volumetric IoU on uniform queries at each threshold; returns the best and its threshold."""
    model.eval()
    iou_sum = np.zeros(len(THRESHOLDS))
    objects = 0
    losses = []
    for batch in loader:
        logits = model(batch["inputs"].to(device), batch["queries"].to(device), _free(batch, device))
        target = batch["occupancies"].to(device)
        losses.append(torch.nn.functional.binary_cross_entropy_with_logits(logits, target).item())
        prob, truth = torch.sigmoid(logits).cpu().numpy(), target.cpu().numpy() > 0.5
        for i, t in enumerate(THRESHOLDS):
            pred = prob >= t
            # mean over objects of per-object IoU, as ONet reports it
            iou_sum[i] += ((pred & truth).sum(1) / np.maximum((pred | truth).sum(1), 1)).sum()
        objects += len(prob)
    ious = iou_sum / max(objects, 1)
    best = int(np.argmax(ious))
    model.train()
    return {"iou": float(ious[best]), "threshold": float(THRESHOLDS[best]), "loss": float(np.mean(losses))}


class Trainer:
    """One training run; ``run`` trains until max_steps or max_minutes, resuming if possible."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.settings = TrainSettings.from_dict(config.get("train", {}))
        self.model_config = ModelConfig.from_dict(config.get("model", {}))
        self.example_spec = ExampleSpec.from_dict(config.get("data", {}).get("example", {}))
        self.out_dir = Path(self.settings.out_dir)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = pick_device(self.settings.device)
        self.step = 0
        self.epoch = 0
        self.epoch_batches = 0  # batches of the current epoch already trained (exact resumption mid-epoch)
        self.chunk = 1  # this invocation's number in the run directory's chunks.jsonl
        self.best: dict[str, float] = {"iou": -1.0}
        self.history: list[dict[str, Any]] = []

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def setup(self) -> None:
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        if self.distributed:
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend)
            if self.device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
        torch.manual_seed(self.settings.seed)
        init_state = self.read_init(Path(self.settings.init)) if self.settings.init else None  # fail before data generation
        data = self.config.get("data", {})
        if self.is_main:  # rank 0 generates missing data; others wait, then read the cache
            train_paths = prepare_split(data, "train")
            val_paths = prepare_split(data, "val")
        if self.distributed:
            dist.barrier()
        if not self.is_main:
            train_paths = prepare_split(data, "train", progress=False)
            val_paths = prepare_split(data, "val", progress=False)
        self.train_set = OccupancyDataset(train_paths, self.example_spec, seed=self.settings.seed)
        val_spec = self.example_spec.for_validation()
        self.val_set = OccupancyDataset(val_paths, val_spec, seed=self.settings.seed + 1)
        self.model = build_model(self.model_config).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.settings.lr, weight_decay=self.settings.weight_decay
        )
        self.resume()
        if self.step == 0 and init_state is not None:
            self.initialise(init_state)
        self.net = DistributedDataParallel(self.model) if self.distributed else self.model
        log.info(
            "training %s on %s: %d train / %d val records, %d parameters",
            self.model_config.model, self.device, len(self.train_set), len(self.val_set),
            sum(p.numel() for p in self.model.parameters()),
        )

    def inference_settings(self, threshold: float) -> InferenceSettings:
        return InferenceSettings(
            threshold=threshold,
            input_points=self.example_spec.input_points,
            fill=self.example_spec.fill,
            align_yaw=self.example_spec.align_yaw,
            free_points=self.example_spec.free_points if self.model_config.line_of_sight else 0,
        )

    def read_init(self, path: Path) -> dict[str, Any]:
        """The checkpoint to start from (fine-tuning); its architecture must be the config's."""
        state = read_checkpoint(path, map_location=self.device)
        if self.settings.init_mode == "same":
            require_same_architecture(f"--init {path}", ModelConfig.from_dict(state["model_config"]), self.model_config,
                                      "fine-tuning keeps the checkpoint's architecture (or set train.init_mode: matching)")
        return state

    def initialise(self, state: dict[str, Any]) -> None:
        """Weights from the init checkpoint: all of them, or (init_mode matching) those of equal
        name and shape, the rest left as built (e.g. a new input branch that starts at zero)."""
        if self.settings.init_mode == "same":
            self.model.load_state_dict(state["state_dict"])
            log.info("initialised from %s", self.settings.init)
            return
        own = self.model.state_dict()
        matching = {k: v for k, v in state["state_dict"].items() if k in own and own[k].shape == v.shape}
        self.model.load_state_dict(matching, strict=False)
        log.info("initialised %d of %d tensors from %s (equal name and shape); new: %s", len(matching), len(own),
                 self.settings.init, sorted(set(own) - set(matching)))

    def resume(self) -> None:
        last = self.out_dir / "last.pt"
        if not last.exists():
            return
        state = read_checkpoint(last, map_location=self.device)
        require_same_architecture(last, ModelConfig.from_dict(state["model_config"]), self.model_config, "use a new out_dir")
        # a state at step 0 holds only the warm start; states written before run_json resume unchecked
        if "run_json" in state and int(state["step"]) > 0:
            differences = config_differences(with_new_defaults(json.loads(state["run_json"])), self.run_identity())
            if differences:
                raise ValueError(f"{last} is the state of another config ({'; '.join(differences)}: the state's -> this "
                                 "config's); use a new out_dir, or the config that made it")
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.epoch_batches = int(state.get("epoch_batches", 0))
        self.best = dict(state.get("best", self.best))
        self.history = list(json.loads(state.get("history_json", "[]")))
        log.info("resumed from %s at step %d (epoch %d)", last, self.step, self.epoch)

    def run_identity(self) -> dict[str, Any]:
        return run_identity(asdict(self.settings), asdict(self.example_spec), self.config.get("data", {}))

    def save(self, name: str, threshold: float, info: dict[str, Any], with_optimizer: bool) -> None:
        extra = {}
        if with_optimizer:
            extra = {
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "epoch": self.epoch,
                "epoch_batches": self.epoch_batches,
                "best": self.best,
                "history_json": json.dumps(self.history),
                "run_json": json.dumps(self.run_identity()),
            }
        save_checkpoint(self.out_dir / name, self.model, self.inference_settings(threshold), info, extra)

    def loader(self) -> DataLoader:
        self.train_set.epoch = self.epoch
        generator = torch.Generator().manual_seed(self.settings.seed * 100_003 + self.epoch)
        if self.distributed:
            sampler = DistributedSampler(self.train_set, seed=self.settings.seed, drop_last=True)
            sampler.set_epoch(self.epoch)
        else:
            sampler = RandomSampler(self.train_set, generator=generator)
        order = list(sampler)[self.epoch_batches * self.settings.batch_size:]  # a resumed epoch goes on where it stopped
        loader = DataLoader(self.train_set, batch_size=self.settings.batch_size, sampler=order, drop_last=True,
                            num_workers=self.settings.workers)
        if len(sampler) < self.settings.batch_size:
            raise ValueError(
                f"batch_size {self.settings.batch_size} exceeds the {len(sampler)} training records "
                "each process gets; lower batch_size or add data"
            )
        return loader

    def train_step(self, batch: dict[str, torch.Tensor]) -> float:
        logits = self.net(batch["inputs"].to(self.device), batch["queries"].to(self.device), _free(batch, self.device))
        loss = occupancy_loss(logits, batch["occupancies"].to(self.device), batch.get("weights"))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.learning_rate(self.step)
        self.optimizer.step()
        return float(loss.item())

    def evaluate_and_save(self, loss: float, elapsed: float) -> None:
        val_loader = DataLoader(self.val_set, batch_size=self.settings.batch_size)
        metrics = validate(self.model, val_loader, self.device)
        record = {"step": self.step, "epoch": self.epoch, "chunk": self.chunk, "train_loss": loss, "minutes": elapsed / 60,
                  **{f"val_{k}": v for k, v in metrics.items()}}
        self.history.append(record)
        log.info("step %d: %s", self.step, json.dumps(record))
        with open(self.out_dir / "metrics.jsonl", "a") as out:
            out.write(json.dumps(record) + "\n")
        if metrics["iou"] > self.best["iou"]:
            self.best = {"iou": metrics["iou"], "threshold": metrics["threshold"], "step": self.step}
            self.save("best.pt", metrics["threshold"], {**self.best, "config": json.dumps(self.config)}, with_optimizer=False)

    def run(self) -> dict[str, Any]:
        self.setup()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.chunk = len(read_chunks(self.out_dir)) + 1
        start, first_step = time.monotonic(), self.step
        budget = math.inf if self.settings.max_minutes is None else self.settings.max_minutes * 60
        last_step = self.settings.max_steps if self.settings.chunk_steps is None else min(
            self.settings.max_steps, self.step + self.settings.chunk_steps)
        if self.is_main and self.step == 0 and self.settings.init:
            self.evaluate_and_save(None, 0.0)  # the warm start's own score on this validation set: the baseline
        self.model.train()
        loss = math.nan
        progress = tqdm(total=self.settings.max_steps, initial=self.step, desc="train", disable=not self.is_main)
        # ranks stopping at different steps would hang each other's all-reduce: torchrun runs are stopped whole
        with stop_on_signals(enabled=not self.distributed) as stop:
            while self.step < last_step and time.monotonic() - start < budget and not stop.signal:
                for batch in self.loader():
                    loss = self.train_step(batch)
                    self.step += 1
                    self.epoch_batches += 1
                    progress.update(1)
                    progress.set_postfix(loss=f"{loss:.4f}", best_iou=f"{self.best['iou']:.3f}")
                    if self.is_main and self.step % self.settings.validate_every == 0:
                        self.evaluate_and_save(loss, time.monotonic() - start)
                    if self.is_main and self.step % self.settings.checkpoint_every == 0:
                        self.save("last.pt", self.best.get("threshold", 0.5), {}, with_optimizer=True)
                    if self.step >= last_step or time.monotonic() - start >= budget or stop.signal:
                        break
                else:
                    self.epoch, self.epoch_batches = self.epoch + 1, 0
            progress.close()
            if self.is_main:
                self.save("last.pt", self.best.get("threshold", 0.5), {}, with_optimizer=True)
                self.log_chunk(first_step, loss, time.monotonic() - start, stop.signal)
        if self.distributed:
            dist.barrier()
            dist.destroy_process_group()
        return {"step": self.step, "loss": loss, "best": self.best, "chunk": self.chunk, "stopped_by": stop.signal}

    def log_chunk(self, first_step: int, loss: float, seconds: float, stopped_by: str | None = None) -> None:
        """One line per invocation in chunks.jsonl: the curve of a run trained in chunks."""
        last_val = next((r for r in reversed(self.history) if r["step"] > first_step), {})
        record = {"chunk": self.chunk, "first_step": first_step, "last_step": self.step, "minutes": seconds / 60,
                  "device": str(self.device), "train_loss": loss, "val_iou": last_val.get("val_iou"), "best": self.best}
        if stopped_by:
            record["stopped_by"] = stopped_by
        with open(self.out_dir / "chunks.jsonl", "a") as out:
            out.write(json.dumps(record) + "\n")


def read_chunks(out_dir: Path) -> list[dict[str, Any]]:
    """The chunks.jsonl records of a run directory (empty for a new run)."""
    path = Path(out_dir) / "chunks.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def with_new_defaults(identity: dict[str, Any]) -> dict[str, Any]:
    """A stored run identity with the example keys added since it was written set to their defaults:
    the run that wrote it behaved as those defaults do, so a state stays resumable across such additions."""
    example = identity.get("data", {}).get("example")
    if isinstance(example, dict):
        defaults = asdict(ExampleSpec())
        identity["data"]["example"] = {**{key: defaults[key] for key in defaults if key not in example}, **example}
    return identity


def occupancy_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy per query, averaged; with ``weights``, their weighted mean."""
    if weights is None:
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    weights = weights.to(logits.device)
    per_query = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (per_query * weights).sum() / weights.sum()


def _free(batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor | None:
    """The batch's line-of-sight points on the device, if it has them."""
    return batch["free"].to(device) if "free" in batch else None


def train(config: dict[str, Any]) -> dict[str, Any]:
    """Train as the config says; returns the final step, loss and best validation result."""
    return Trainer(config).run()
