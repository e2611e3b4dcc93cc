"""vLLM (GPU only): emoprompt's full pipeline on the vllm/ backend against vLLM's own `LLM.generate`, same prompts.

    python benchmarks/vllm_throughput.py [--model PATH_OR_ID] [--items 500] [--max-tokens 64]

The prompts are the built-in suite under 4 conditions (baseline, PL01, EP02, NP01), rendered with the model's chat
template. Direct: one `LLM.generate` call on every prompt (vLLM's best case, offline batch). emoprompt: `build_plan`
+ `run` with the vllm/ backend (async engine, prefix caching, concurrency 512), fresh response cache. Target:
emoprompt ≥ 0.9× direct prompts/s. Each side loads its own engine; load time is excluded from both.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path

from _common import save

CONDITIONS = ("baseline", "PL01", "EP02", "NP01")


def emoprompt_side(model: str, limit: int, max_tokens: int, engine_args: dict, folder: Path) -> dict:
    from emoprompt.chat import GenerateConfig
    from emoprompt.runner.experiment import Experiment
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.run import run

    os.environ["EMOPROMPT_CACHE_DIR"] = str(folder / "cache")
    experiment = Experiment(models=(f"vllm/{model}",), conditions=CONDITIONS, limit=limit, engine_args=engine_args,
                            generation=GenerateConfig(max_tokens=max_tokens))
    plan = build_plan(experiment)
    backend = plan.backends[f"vllm/{model}"]
    asyncio.run(backend.start())  # load outside the timed part, like the direct side
    prompts = [backend.prompt(_chat(cell)) for cell in plan.cells]
    model_path = backend._model_path()
    result = run(plan, folder / "run", concurrency=512, progress=False)
    return {"cells": len(plan.cells), "runner_s": result.counters.wall_s, "prompts": prompts,
            "model_path": model_path}


def _chat(cell):
    """The chat a single-call cell sends: its condition's transform applied, rendered with the task's template."""
    from emoprompt.chat import Completion, GenerateConfig
    from emoprompt.suites.templates import get_template

    chats = []

    async def capture(query, config):
        chats.append(get_template(cell.task.template).render(query))
        return Completion("")

    asyncio.run(cell.condition.transform(cell.task.query(cell.sample, cell.demos), GenerateConfig(), capture))
    return chats[0]


def direct_side(model_path: str, prompts: list[str], max_tokens: int, engine_args: dict) -> float:
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_path, **engine_args)
    llm.generate(prompts[:8], SamplingParams(temperature=0.0, max_tokens=max_tokens))  # warm-up
    started = time.perf_counter()
    llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=max_tokens))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2", help="vLLM model: hub id, local folder, or smollm2")
    parser.add_argument("--limit", type=int, default=100, help="items per task (9 tasks)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.4)
    args = parser.parse_args()
    engine_args = {"gpu_memory_utilization": args.gpu_memory_utilization, "max_model_len": 4096,
                   "enable_prefix_caching": True}
    with tempfile.TemporaryDirectory() as name:
        ours = emoprompt_side(args.model, args.limit, args.max_tokens, engine_args, Path(name))
        gc.collect()
        direct_s = direct_side(ours["model_path"], ours["prompts"], args.max_tokens, engine_args)
    count = ours["cells"]
    save("vllm_throughput", {
        "model": args.model, "prompts": count, "max_tokens": args.max_tokens,
        "emoprompt_prompts_per_s": round(count / ours["runner_s"], 1),
        "direct_prompts_per_s": round(count / direct_s, 1),
        "ratio": round(direct_s / ours["runner_s"], 3),
        "note": "emoprompt: full pipeline incl. cache and records; direct: one LLM.generate call; load excluded",
    })


if __name__ == "__main__":
    main()
