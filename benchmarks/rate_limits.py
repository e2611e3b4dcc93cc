"""`emoprompt run` against a server that enforces a provider's rate limit.

    python benchmarks/rate_limits.py [--src DIR] [--label NAME] [--latency 0.2]

The loopback server (`tests/loopback_server.py`) runs in its own process and limits requests per minute (and, in
one scenario, tokens per minute) with token buckets of two seconds' worth, answering 429 with `Retry-After` (the
exact fractional wait, then in a second pass rounded up to whole seconds) and OpenAI's `x-ratelimit-*` headers, as
OpenAI does. Each scenario runs the command line a new user would type, spawn
to exit, with no cache:

    emoprompt run --model openai/fake --api-base URL --condition baseline --condition EP02 --limit N --no-cache

Reported per scenario: error cells, wall time against the limit's ideal (cells ÷ rate, or the tokens the server
admitted ÷ the token rate when that is longer), refused requests (429s) per answered one, and the exit code.
`--src DIR` runs another checkout's emoprompt (for before/after figures); `--label` names the result file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import save

ROOT = Path(__file__).resolve().parents[1]

SCENARIOS = [
    # name, requests per minute, tokens per minute, items per task (2 conditions × 9 tasks each)
    ("600 rpm, 360 cells", 600, None, 20),
    ("3,000 rpm, 900 cells", 3000, None, 50),
    ("3,000 rpm, 2,700 cells", 3000, None, 150),
    ("600 rpm + 15,000 tpm, 360 cells", 600, 15_000, 20),
]


def start_server(latency_s: float, rpm: float, tpm: float | None, fractional: bool, style: str = "openai"
                 ) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, str(ROOT / "tests" / "loopback_server.py"), str(latency_s), "--rpm", str(rpm),
               "--style", style]
    if tpm:
        command += ["--tpm", str(tpm)]
    if fractional:
        command.append("--fractional-retry-after")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["url"]


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats") as response:
        return dict(json.loads(response.read()))


def run_scenario(src: Path, latency_s: float, rpm: float, tpm: float | None, items: int, fractional: bool,
                 style: str = "openai") -> dict[str, Any]:
    server, url = start_server(latency_s, rpm, tpm, fractional, style)
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "PYTHONPATH": str(src), "EMOPROMPT_CACHE_DIR": folder, "OPENAI_API_KEY": "sk-test",
                   "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            command = [sys.executable, "-m", "emoprompt", "run", "--model", "openai/fake", "--api-base", url,
                       "--condition", "baseline", "--condition", "EP02", "--limit", str(items), "--no-cache",
                       "--no-progress", "--no-report", "--out", str(Path(folder) / "run")]
            started = time.perf_counter()
            finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, cwd=folder)
            wall = time.perf_counter() - started
            records = [json.loads(line) for line in (Path(folder) / "run" / "records.jsonl").read_text().splitlines()]
        served = stats(url)
    finally:
        server.terminate()
        server.wait(10)
    errors = sum(1 for record in records if record.get("error"))
    ideal = len(records) / (rpm / 60)
    if tpm and served.get("tokens_admitted"):
        ideal = max(ideal, served["tokens_admitted"] / (tpm / 60))
    answered = served["admitted"]
    return {"cells": len(records), "error_cells": errors, "wall_s": round(wall, 2), "ideal_s": round(ideal, 2),
            "over_ideal": round(wall / ideal, 3), "refused": served["refused"], "answered": answered,
            "refused_per_answered": round(served["refused"] / max(answered, 1), 3), "exit_code": finished.returncode,
            "last_line": (finished.stdout.strip().splitlines() or [""])[-1][:200]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, default=ROOT, help="the emoprompt checkout to run")
    parser.add_argument("--label", default="rate_limits")
    parser.add_argument("--latency", type=float, default=0.0, help="the server's latency per answer, seconds")
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    parser.add_argument("--style", default="openai", choices=["openai", "anthropic", "none"],
                        help="the rate-limit headers the server sends (none: only 429 with Retry-After)")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for retry_after in ("exact", "whole seconds"):
        for name, rpm, tpm, items in SCENARIOS:
            if args.only and args.only not in name:
                continue
            key = f"{name}, Retry-After in {retry_after}"
            results[key] = run_scenario(args.src.resolve(), args.latency, rpm, tpm, items, retry_after == "exact",
                                        args.style)
            print(key, results[key], flush=True)
    save(args.label, {"latency_s": args.latency, "src": str(args.src), "headers": args.style, "scenarios": results,
                      "note": "wall_s is spawn to exit; ideal_s = cells ÷ the request rate (or admitted tokens ÷ "
                              "the token rate when longer); buckets hold two seconds' worth."})


if __name__ == "__main__":
    main()
