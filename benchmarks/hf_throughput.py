"""Prompts/s of the hf backend on the embedded model: one request at a time vs concurrent (micro-batched).

    python benchmarks/hf_throughput.py [--prompts 128] [--max-tokens 24] [--skip-lm-eval]

The same rendered prompts (built-in suite, baseline) go through both paths; greedy outputs must be equal.
When lm-evaluation-harness is installed, its `hf` backend generates for the same prompts (same weights, chat
template, batch size and max tokens), timed as a subprocess minus a 1-prompt run of the same command.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save

from emoprompt.backends.hf import HFBackend
from emoprompt.chat import GenerateConfig
from emoprompt.suites.loader import load_suite
from emoprompt.suites.registry import get_template


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


def lm_eval_hf(chats: list, max_tokens: int, batch: int) -> float | None:
    """Seconds lm-evaluation-harness's hf backend takes for the same prompts (start-up subtracted); None if absent."""
    if importlib.util.find_spec("lm_eval") is None:
        return None
    backend = HFBackend("smollm2")
    folder_of_weights = backend._weights_folder()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with (folder / "prompts.jsonl").open("w") as handle:
            for chat in chats:
                handle.write(json.dumps({"prompt": chat[-1].content, "target": ""}) + "\n")
        (folder / "hf_prompts.yaml").write_text(
            "task: hf_prompts\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
            f"    test: {folder / 'prompts.jsonl'}\ntest_split: test\noutput_type: generate_until\n"
            'doc_to_text: "{{prompt}}"\ndoc_to_target: "{{target}}"\n'
            f"generation_kwargs:\n  until: []\n  max_gen_toks: {max_tokens}\n  do_sample: false\n"
            "metric_list:\n  - metric: exact_match\n")

        def timed(limit: int) -> float:
            command = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
                       f"pretrained={folder_of_weights},dtype=float32", "--device", "cpu", "--batch_size", str(batch),
                       "--tasks", "hf_prompts", "--include_path", str(folder), "--apply_chat_template",
                       "--limit", str(limit)]
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=os.environ | {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
            return time.perf_counter() - started

        return timed(len(chats)) - timed(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--skip-lm-eval", action="store_true")
    args = parser.parse_args()
    chats = prompts(args.prompts)
    config = GenerateConfig(max_tokens=args.max_tokens)
    single_s, single_texts, _ = asyncio.run(measure(chats, config, 1))
    batched_s, batched_texts, sizes = asyncio.run(measure(chats, config, args.batch))
    lm_eval_s = None if args.skip_lm_eval else lm_eval_hf(chats, args.max_tokens, args.batch)
    save("hf_throughput", {
        "prompts": args.prompts, "max_tokens": args.max_tokens, "max_batch": args.batch,
        "batch1_prompts_per_s": round(args.prompts / single_s, 2),
        "batched_prompts_per_s": round(args.prompts / batched_s, 2),
        "speedup": round(single_s / batched_s, 2),
        "batch_sizes": sizes,
        "identical_outputs": single_texts == batched_texts,
        "differing_outputs": sum(a != b for a, b in zip(single_texts, batched_texts, strict=True)),
        "lm_eval_hf_prompts_per_s": None if lm_eval_s is None else round(args.prompts / lm_eval_s, 2),
    })


if __name__ == "__main__":
    main()
