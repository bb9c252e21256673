"""Training curves of the shipped runs as one picture: validation IoU, validation loss and the
training loss (the last batch's, at each validation) against the step, one row per run, chunk
boundaries marked (models/<run>.metrics.jsonl, written by `occnet train` at every validation).
Each run's validation IoU is on its own validation records, so rows are not comparable with each
other.

python -P tools/plot_curves.py [--runs conv_onet_furniture_long,conv_onet_evidence_long] [--out docs/images/training_curves.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUNS = "conv_onet_furniture_long,conv_onet_evidence_long,conv_onet_furniture,conv_onet_sensor"


def read_rows(path: Path) -> list[dict]:
    """The metrics records of one run, in step order (a resumed chunk may repeat a step: the last wins)."""
    by_step = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_step[int(row["step"])] = row
    return [by_step[step] for step in sorted(by_step)]


def chunk_starts(rows: list[dict]) -> list[int]:
    """The first step logged by each chunk after the first."""
    starts, previous = [], None
    for row in rows:
        chunk = row.get("chunk")
        if previous is not None and chunk != previous:
            starts.append(int(row["step"]))
        previous = chunk
    return starts


def plot(runs: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 2, figsize=(11, 2.6 * len(runs)), squeeze=False)
    for (iou_ax, loss_ax), run in zip(axes, runs):
        rows = read_rows(REPO / "models" / f"{run}.metrics.jsonl")
        steps = [int(r["step"]) for r in rows]
        starts = chunk_starts(rows)
        iou = [r["val_iou"] for r in rows]
        best = max(range(len(rows)), key=lambda i: iou[i])
        iou_ax.plot(steps, iou, color="tab:blue", lw=1.2)
        iou_ax.scatter([steps[best]], [iou[best]], color="tab:red", zorder=3, s=18, label=f"best {iou[best]:.3f} @ {steps[best]:,}")
        losses = [(s, r["train_loss"]) for s, r in zip(steps, rows) if r.get("train_loss") is not None]
        loss_ax.plot([s for s, _ in losses], [v for _, v in losses], color="tab:orange", lw=0.8, alpha=0.6, label="training (one batch)")
        val_ax = loss_ax.twinx()
        val_ax.plot(steps, [r.get("val_loss") for r in rows], color="tab:green", lw=1.2, label="validation")
        val_ax.set_ylabel("validation loss", color="tab:green")
        loss_ax.legend(handles=loss_ax.get_lines() + val_ax.get_lines(), fontsize=8, loc="upper right")
        for ax in (iou_ax, loss_ax):
            for start in starts:
                ax.axvline(start, color="0.8", lw=0.6, zorder=0)
            ax.grid(alpha=0.3)
        iou_ax.set_ylabel("validation IoU")
        iou_ax.set_title(f"{run} (grey lines: a new chunk's first validation)", fontsize=9)
        iou_ax.legend(fontsize=8, loc="lower right")
        loss_ax.set_ylabel("training loss")
        loss_ax.set_title(f"{run}: the last batch's loss at each validation, and the validation loss", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated run names (models/<run>.metrics.jsonl)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "training_curves.png")
    args = parser.parse_args()
    plot(args.runs.split(","), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
