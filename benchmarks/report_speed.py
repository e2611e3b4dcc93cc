"""Report generation time on synthetic records: 20 conditions × 5,000 items = 100,000 records by default.

    python benchmarks/report_speed.py [--conditions 20] [--items 5000] [--tasks 5]

Builds a real run folder (manifest + records.jsonl), then times `emoprompt report` on it end to end
(reading records, the full analysis, writing JSON, Markdown, HTML and SVG figures).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import save

from emoprompt.report.runs import report_run


def write_run(folder: Path, conditions: int, items: int, tasks: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    names = ["baseline", "PL01", *[f"S{i:02d}" for i in range(conditions - 2)]]
    families = {"baseline": "baseline", "PL01": "placebo"} | {n: "emotionprompt" for n in names[2:]}
    per_task = items // tasks
    ability = rng.normal(0, 1.5, items)
    records = 0
    with (folder / "records.jsonl").open("w") as handle:
        for index in range(items):
            task = f"task{index // per_task}"
            for condition in names:
                shift = 0.0 if condition == "baseline" else 0.1
                correct = bool(rng.random() < 1 / (1 + np.exp(-(ability[index] + shift))))
                handle.write(json.dumps({
                    "key": f"{index}-{condition}", "model": "m", "task": task, "sample_id": str(index),
                    "condition": condition, "repeat": 0, "score": float(correct), "correct": correct,
                    "parsed": True, "error": None, "tokens_out": 5}) + "\n")
                records += 1
    manifest = {"experiment": {"name": "synthetic"}, "control": "PL01",
                "analysis": {"baseline": "baseline", "alpha": 0.05, "sesoi": 0.03},
                "conditions": [{"name": n, "family": families[n]} for n in names]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conditions", type=int, default=20)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        records = write_run(Path(folder), args.conditions, args.items, args.tasks)
        started = time.perf_counter()
        report_run(Path(folder))
        elapsed = time.perf_counter() - started
    save("report_speed", {"records": records, "conditions": args.conditions, "items": args.items,
                          "tasks": args.tasks, "report_wall_s": round(elapsed, 2)})


if __name__ == "__main__":
    main()
