"""Wall time of the same cells run by emoprompt itself and by lm-eval, inspect_ai and promptfoo under emoprompt
conditions, each followed by `emoprompt report --from ...` — what a user waits for, start-up included.

    python benchmarks/harness_wall_time.py [--items 200] [--latency 0.05] [--concurrency 16] [--promptfoo BIN]

The cells are those of the real-tool tests (`tests/harness_cells.py`): N items under `baseline` and `EP02`, asked
of a loopback OpenAI-compatible server with a fixed latency. Every tool runs as its user would run it, in its own
process, at the same concurrency; each is checked to reach the same statistics as emoprompt's own run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import save

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "importers" / "fixtures")]

from capture import lm_eval_task, promptfoo_config  # noqa: E402
from harness_cells import affect_reply, assert_same_statistics, write_items  # noqa: E402
from loopback_server import LoopbackServer  # noqa: E402

CONDITIONS = ("baseline", "EP02")
INSPECT_SCRIPT = """
import sys
from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import exact
from emoprompt.integrations.inspect import evaluate
n, url, out, concurrency = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
task = Task(dataset=[Sample(id=i, input=f"Input: ans=w{i}", target=f"w{i}") for i in range(n)], scorer=exact(),
            name="echo")
evaluate(task, ["baseline", "EP02"], "openai/test-model", out=out, model_base_url=url,
         model_args={"responses_api": False}, max_connections=concurrency)
"""


def timed(commands: list[list[str]], cwd: Path) -> float:
    """Seconds to run the commands one after another (each must succeed)."""
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "HF_DATASETS_OFFLINE": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1",
           "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_CACHE_ENABLED": "false", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    start = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 100):  # promptfoo exits 100 when some assertions fail
            raise RuntimeError(f"{command[:4]} failed: {done.stderr[-1500:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--promptfoo", help="a promptfoo binary (npm install promptfoo); left out without it")
    args = parser.parse_args()
    server = LoopbackServer(latency_s=args.latency, reply=affect_reply).start()
    n, c, url, py = args.items, args.concurrency, server.url, sys.executable
    figures: dict[str, Any] = {"items": n, "conditions": list(CONDITIONS), "latency_s": args.latency,
                               "concurrency": c, "ideal_s": round(2 * n * args.latency / c, 2)}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        items = write_items(work / "items.jsonl", n)
        (work / "suite.toml").write_text('name = "cells"\ntemplate = "Input: {input}"\n[[task]]\nname = "echo"\n'
                                         'scorer = "exact"\nsource = { file = "items.jsonl" }\n')
        runs: dict[str, tuple[Path, list[list[str]]]] = {
            "emoprompt": (work / "own", [[py, "-m", "emoprompt", "run", "--model", "openai/test-model", "--api-base",
                                          url, "--suite", "suite.toml", "--condition", "baseline", "--condition",
                                          "EP02", "--limit", str(n), "--concurrency", str(c), "--no-cache",
                                          "--out", "own"]]),
            "lm-eval": (work / "lm-imported", [
                *[[py, "-m", "emoprompt.integrations.lm_eval", "--model", "emoprompt", "--model_args",
                   f"model=openai/test-model,condition={cond},api_base={url},concurrency={c}", "--tasks", "echo",
                   "--include_path", str(lm_eval_task(work, items)), "--output_path", f"lm-{cond}", "--log_samples",
                   "--apply_chat_template"] for cond in CONDITIONS],
                [py, "-m", "emoprompt", "report", "--from", "lm-eval", "lm-baseline", "lm-EP02", "--out",
                 "lm-imported"]]),
            "inspect_ai": (work / "inspect" / "run", [[py, "-c", INSPECT_SCRIPT, str(n), url, "inspect", str(c)]]),
        }
        if args.promptfoo:
            config = promptfoo_config(work, url, n)
            runs["promptfoo"] = (work / "pf-imported", [
                [args.promptfoo, "eval", "-c", str(config), "-o", "pf.json", "--no-cache", "--no-progress-bar", "-j",
                 str(c)],
                [py, "-m", "emoprompt", "report", "--from", "promptfoo", "pf.json", "--out", "pf-imported"]])
        for name, (run_dir, commands) in runs.items():
            figures[f"{name}_s"] = round(timed(commands, work), 2)
            if name != "emoprompt":
                model = "openai:chat:test-model" if name == "promptfoo" else "openai/test-model"
                assert_same_statistics(run_dir, work / "own", model=model, own_model="openai/test-model")
                figures[f"{name}_same_statistics"] = True
    server.stop()
    save("harness_wall_time", figures)


if __name__ == "__main__":
    main()
