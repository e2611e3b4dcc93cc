"""`emoprompt report --records` on a large file of another harness's results: wall time and peak memory of the
whole command (a fresh process), by default 1,000,000 rows (4 conditions × 250,000 items in 10 tasks, binary
scores, no token columns).

    python benchmarks/records_speed.py [--rows 1000000] [--conditions 4] [--tasks 10]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import save


def write_file(path: Path, rows: int, conditions: int, tasks: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    names = ["baseline", "placebo", *[f"S{i}" for i in range(conditions - 2)]]
    items = rows // len(names)
    ability = rng.normal(0, 1.5, items)
    frames = []
    for number, condition in enumerate(names):
        shift = 0.0 if number < 2 else 0.05 * number
        frames.append(pd.DataFrame({
            "task": [f"task{i % tasks}" for i in range(items)], "item": np.arange(items).astype(str),
            "condition": condition, "score": (rng.random(items) < 1 / (1 + np.exp(-(ability + shift)))).astype(int)}))
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(path, index=False)
    return len(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--conditions", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.csv"
        rows = write_file(path, args.rows, args.conditions, args.tasks)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "emoprompt", "report", "--records", str(path), "--task-column",
                               "task", "--control", "placebo", "--out", str(Path(folder) / "report")],
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    save("records_speed", {"rows": rows, "conditions": args.conditions, "tasks": args.tasks,
                           "wall_s": round(elapsed, 2), "peak_rss_mib": round(peak_mib),
                           "note": "the whole `emoprompt report --records` process, start to exit"})


if __name__ == "__main__":
    main()
