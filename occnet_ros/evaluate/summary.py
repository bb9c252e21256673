"""Per-method summaries of evaluation records and their Markdown table."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from occnet_ros.evaluate.run import METHODS


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of each metric per (method, views), over objects where it applies."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["method"], r["views"])].append(r)
    rows = []
    for (method, views), group in sorted(groups.items(), key=lambda kv: (kv[0][1], METHODS.index(kv[0][0]) if kv[0][0] in METHODS else 99)):
        row: dict[str, Any] = {"method": method, "views": views, "objects": len(group)}
        for key in ("chamfer_l1", "fscore_1pct", "fscore_2pct", "iou", "time_s", "input_fidelity",
                    "fscore_1pct_observed", "fscore_1pct_unobserved"):
            values = [r[key] for r in group if r.get(key) is not None]
            row[key] = float(np.mean(values)) if values else None
            if key == "iou":
                row["iou_objects"] = len(values)
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of summarize() rows."""
    def cell(value: Any, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [
        "| views | method | objects | CD-L1 (lower better) | F@1% | F@2% | F@1% observed | F@1% unobserved | IoU (watertight only) "
        "| input fidelity | time/object (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        iou = cell(r["iou"]) + ("" if r["iou_objects"] == r["objects"] else f" ({r['iou_objects']}/{r['objects']})")
        lines.append(
            f"| {r['views']} | {r['method']} | {r['objects']} | {cell(r['chamfer_l1'], 4)} | {cell(r['fscore_1pct'])} | "
            f"{cell(r['fscore_2pct'])} | {cell(r.get('fscore_1pct_observed'))} | "
            f"{cell(r.get('fscore_1pct_unobserved'))} | {iou} | {cell(r['input_fidelity'])} | {cell(r['time_s'], 2)} |"
        )
    return "\n".join(lines)
