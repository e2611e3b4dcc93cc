"""The real embedded model (SmolLM2-135M-Instruct) on CPU."""

import asyncio

import pytest

from emoprompt.backends.hf import HFBackend
from emoprompt.chat import GenerateConfig, Message
from tests.conftest import requires_model

pytestmark = [pytest.mark.model, requires_model]

PROMPTS = [f"Instruction: Sum the two given numbers.\n\n\nInput: {a} {b}\nAnswer: " for a, b in
           [(1, 2), (17, 25), (40, 2), (9, 9), (123, 4), (7, 70)]] + ["What is the capital of France?"]


def test_batched_greedy_equals_one_at_a_time(smollm2_folder):
    config = GenerateConfig(max_tokens=12)
    chats = [(Message("user", p),) for p in PROMPTS]

    async def batched():
        backend = HFBackend("smollm2")
        await backend.start()
        results = await asyncio.gather(*(backend.complete(chat, config) for chat in chats))
        sizes = backend._batcher.batch_sizes
        await backend.close()
        return results, sizes

    async def single():
        backend = HFBackend("smollm2", max_batch=1)
        await backend.start()
        results = [await backend.complete(chat, config) for chat in chats]
        await backend.close()
        return results

    together, sizes = asyncio.run(batched())
    alone = asyncio.run(single())
    assert max(sizes) > 1
    assert [c.text for c in together] == [c.text for c in alone]
    assert "Paris" in together[-1].text
    assert all(c.tokens_out <= 12 and c.tokens_in > 10 for c in together)


def test_stop_strings_and_identity(smollm2_folder):
    backend = HFBackend("smollm2")

    async def go():
        await backend.start()
        return await backend.complete((Message("user", "Count: one, two, three, four"),),
                                      GenerateConfig(max_tokens=20, stop=(",",)))

    completion = asyncio.run(go())
    assert "," not in completion.text
    assert backend.identity()["model"] == "SmolLM2-135M-Instruct"


def test_sampling_uses_a_generator_per_request_not_torchs_global_one(smollm2_folder):
    """With temperature > 0 each request draws from its own seeded generator: the same seed gives the same answer
    alone or in a batch, another seed another draw, and torch's process-wide generator is left untouched."""
    import torch

    chats = [(Message("user", p),) for p in PROMPTS[:4]]

    async def answers(max_batch, seed):
        backend = HFBackend("smollm2", max_batch=max_batch)
        await backend.start()
        config = GenerateConfig(temperature=1.2, max_tokens=10, seed=seed)
        if max_batch == 1:
            results = [await backend.complete(chat, config) for chat in chats]
        else:
            results = await asyncio.gather(*(backend.complete(chat, config) for chat in chats))
        await backend.close()
        return [c.text for c in results]

    torch.manual_seed(1234)
    state = torch.get_rng_state()
    batched = asyncio.run(answers(8, seed=5))
    assert torch.equal(torch.get_rng_state(), state)
    assert batched == asyncio.run(answers(1, seed=5))
    assert batched != asyncio.run(answers(8, seed=6))
