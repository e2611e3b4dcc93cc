"""A fully cached rerun: a finished 10,000-cell run against a loopback server, run again into a new folder
(every cell from the cache), and resumed in place (nothing left to run).

    python benchmarks/cache_rerun.py [--items 2000]

2,000 items × 5 conditions (baseline, PL01, EP02, EP03, NP01) = 10,000 cells. Both runs are `emoprompt run`
subprocesses sharing one fresh response cache. Reported: the rerun's wall time as the user sees it (process
start, planning, cells, summary and report included), its runner time, and the model calls it made (must be 0:
the server counts them).
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
from harness_overhead import ROOT, loopback_server, server_span, write_suite

CONDITIONS = ("baseline", "PL01", "EP02", "EP03", "NP01")


def emoprompt_run(suite: Path, api_base: str, out: Path, env: dict[str, str]) -> float:
    command = [sys.executable, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base", api_base,
               "--suite", str(suite), "--limit", "all", "--concurrency", "64", "--out", str(out), "--no-progress"]
    for condition in CONDITIONS:
        command += ["--condition", condition]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, loopback_server(0.0) as api_base:
        folder = Path(name)
        suite = write_suite(folder, args.items)
        env = os.environ | {"EMOPROMPT_CACHE_DIR": str(folder / "cache"), "PYTHONPATH": str(ROOT)}
        first_s = emoprompt_run(suite, api_base, folder / "first", env)
        calls_before = server_span(api_base)[0]
        rerun_s = emoprompt_run(suite, api_base, folder / "rerun", env)
        rerun_calls = server_span(api_base)[0] - calls_before
        resume_started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "emoprompt", "run", "--resume", str(folder / "first"), "--no-progress"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        resume_s = time.perf_counter() - resume_started
        resume_calls = server_span(api_base)[0] - calls_before - rerun_calls
        manifest = json.loads((folder / "rerun" / "manifest.json").read_text())
        records = [json.loads(line) for line in (folder / "rerun" / "records.jsonl").open()]
        first = [json.loads(line) for line in (folder / "first" / "records.jsonl").open()]
        save("cache_rerun", {
            "cells": manifest["cells"],
            "first_run_wall_s": round(first_s, 2),
            "first_run_model_calls": calls_before,
            "rerun_wall_s": round(rerun_s, 2),
            "rerun_runner_s": manifest["invocations"][-1]["wall_s"],
            "rerun_model_calls": rerun_calls,
            "rerun_records_all_cached": all(r["cached"] for r in records),
            "resume_of_finished_run_wall_s": round(resume_s, 2),
            "resume_model_calls": resume_calls,
            "rerun_records_equal": sorted((r["key"], r["response"]) for r in records)
            == sorted((r["key"], r["response"]) for r in first),
            "note": ("rerun: the same experiment into a new folder, every cell from the cache; wall time is the whole "
                     "`emoprompt run` subprocess (imports, plan, cells, summary, report); runner time is the cells "
                     "alone. resume: `emoprompt run --resume` of the finished folder (nothing to run)."),
        })


if __name__ == "__main__":
    main()
