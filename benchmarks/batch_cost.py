"""A Batch API run's cost against the same run online: the default experiment (built-in suite, six conditions,
25 items per task) plus HEART, on `openai/gpt-4o-mini` prices, against a loopback server that serves both the chat
endpoint and the Batch API (files + batches). Token counts are the server's (words), so the dollar figures are
nominal; their ratio, the batch count and the request count are what this measures.

    python benchmarks/batch_cost.py [--limit 25]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from loopback_server import LoopbackServer  # noqa: E402

CONDITIONS = ("baseline", "PL01", "EP02", "EP03", "NP01", "NP03", "heart")


def run(url: str, folder: Path, batch: bool, limit: int) -> dict[str, float]:
    out = folder / ("batch" if batch else "online")
    command = [sys.executable, "-m", "emoprompt", "run", "--model", "openai/gpt-4o-mini", "--api-base", url,
               "--limit", str(limit), "--no-cache", "--no-progress", "--no-report", "--out", str(out),
               *[part for c in CONDITIONS for part in ("--condition", c)]]
    if batch:
        command += ["--batch", "--batch-poll", "0.5"]
    env = os.environ | {"OPENAI_API_KEY": "sk-bench", "EMOPROMPT_CACHE_DIR": str(folder / "cache"),
                        "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    manifest = json.loads((out / "manifest.json").read_text())
    return {"cells": len(records), "calls": sum(r["n_calls"] for r in records),
            "errors": sum(1 for r in records if r.get("error")),
            "cost_usd": round(sum(r.get("cost_usd") or 0.0 for r in records), 6),
            "batches": len(manifest.get("batches") or []), "wall_s": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=25)
    args = parser.parse_args()
    server = LoopbackServer(batch_delay_s=1.0).start()
    try:
        with tempfile.TemporaryDirectory() as name:
            online = run(server.url, Path(name), False, args.limit)
            batch = run(server.url, Path(name), True, args.limit)
    finally:
        server.stop()
    save("batch_cost", {
        "model_prices": "openai/gpt-4o-mini (litellm's map: batch prices are half the online ones)",
        "conditions": list(CONDITIONS), "online": online, "batch": batch,
        "cost_ratio": round(batch["cost_usd"] / online["cost_usd"], 4) if online["cost_usd"] else None,
        "note": "the loopback batch server ends each batch 1 s after creation; a provider takes up to 24 h",
    })


if __name__ == "__main__":
    main()
