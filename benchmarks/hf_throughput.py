"""Prompts/s of the hf backend on the embedded model: one request at a time vs concurrent (micro-batched).

    python benchmarks/hf_throughput.py [--prompts 128] [--max-tokens 24]

The same rendered prompts (built-in suite, baseline) go through both paths; greedy outputs must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import save

from emoprompt.backends.hf import HFBackend
from emoprompt.chat import GenerateConfig
from emoprompt.suites.loader import load_suite
from emoprompt.suites.templates import get_template


def prompts(count: int) -> list:
    suite = load_suite("builtin")
    chats = []
    for index in range(count):
        task = suite.tasks[index % len(suite.tasks)]
        sample = task.samples[index // len(suite.tasks)]
        chats.append(get_template(task.template).render(task.query(sample)))
    return chats


async def measure(chats: list, config: GenerateConfig, max_batch: int) -> tuple[float, list[str], list[int]]:
    backend = HFBackend("smollm2", max_batch=max_batch)
    await backend.start()
    await backend.complete(chats[0], config)  # warm-up
    backend._batcher.batch_sizes.clear()
    started = time.perf_counter()
    if max_batch == 1:
        results = [await backend.complete(chat, config) for chat in chats]
    else:
        results = await asyncio.gather(*(backend.complete(chat, config) for chat in chats))
    elapsed = time.perf_counter() - started
    sizes = list(backend._batcher.batch_sizes)
    await backend.close()
    return elapsed, [r.text for r in results], sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    chats = prompts(args.prompts)
    config = GenerateConfig(max_tokens=args.max_tokens)
    single_s, single_texts, _ = asyncio.run(measure(chats, config, 1))
    batched_s, batched_texts, sizes = asyncio.run(measure(chats, config, args.batch))
    save("hf_throughput", {
        "prompts": args.prompts, "max_tokens": args.max_tokens, "max_batch": args.batch,
        "batch1_prompts_per_s": round(args.prompts / single_s, 2),
        "batched_prompts_per_s": round(args.prompts / batched_s, 2),
        "speedup": round(single_s / batched_s, 2),
        "batch_sizes": sizes,
        "identical_outputs": single_texts == batched_texts,
        "differing_outputs": sum(a != b for a, b in zip(single_texts, batched_texts, strict=True)),
    })


if __name__ == "__main__":
    main()
