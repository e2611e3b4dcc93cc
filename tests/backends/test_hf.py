"""The real embedded model (SmolLM2-135M-Instruct) on CPU."""

import asyncio

import pytest

from emoprompt.backends.hf import HFBackend, shared_prefixes
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


def test_a_run_order_batch_window_groups_each_condition_of_a_task_and_answers_as_one_at_a_time(smollm2_folder):
    """Requests arrive item by item, every condition of an item together (a run's order); the backend takes in
    several batches' worth and makes each batch of prompts that share one task's instruction and one stimulus, so
    the shared prefix is computed once per batch, and every answer is the one the request gets alone."""
    instructions = ("Sum the two given numbers.", "Write the larger of the two given numbers.")
    stimuli = ("", " This is very important to my career.", " Take a deep breath.")
    items = [(3, 4), (12, 30), (7, 7), (25, 2), (90, 11), (1, 64)]
    prompts = [(instruction, stimulus, f"Instruction: {instruction}{stimulus}\n\n\nInput: {a} {b}\nAnswer: ")
               for a, b in items for instruction in instructions for stimulus in stimuli]
    config = GenerateConfig(max_tokens=6)

    async def answers(max_batch):
        backend = HFBackend("smollm2", max_batch=max_batch)
        await backend.start()
        batches = []
        generate = backend.generate_batch

        def recorded(requests):
            batches.append([request[0][0].content for request in requests])
            return generate(requests)

        backend._batcher._run_batch = recorded
        window = asyncio.Semaphore(backend.default_concurrency)

        async def one(text):
            async with window:
                return await backend.complete((Message("user", text),), config)

        results = await asyncio.gather(*(one(text) for *_, text in prompts))
        await backend.close()
        return [c.text for c in results], batches

    together, batches = asyncio.run(answers(6))
    alone, _ = asyncio.run(answers(1))
    assert together == alone
    kinds = {text: (instruction, stimulus) for instruction, stimulus, text in prompts}
    assert len(batches) < len(prompts) // 2  # batches, not single requests (the last ones shared between lanes)
    assert all(len({kinds[text] for text in batch}) == 1 for batch in batches)


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


def test_shared_prefix_batches_answer_as_padded_batches_do(smollm2_folder):
    """Rows that share a prompt prefix (two tasks' instructions here) have it computed once per distinct prefix;
    the answers, and the first token's scores, are those of the plainly padded batch."""
    import torch

    chats = [(Message("user", p),) for p in PROMPTS[:-1]] + [
        (Message("user", f"Instruction: Write the word in capital letters.\n\nInput: {w}\nAnswer: "),)
        for w in ("cat", "hippopotamus", "a")]
    config = GenerateConfig(max_tokens=10)
    shared, plain = HFBackend("smollm2"), HFBackend("smollm2", share_prefixes=False)
    shared._load()
    plain._model, plain._tokenizer = shared._model, shared._tokenizer
    requests = [(chat, config) for chat in chats]
    texts = [shared._tokenizer.apply_chat_template([{"role": "user", "content": c[0].content}], tokenize=False,
                                                   add_generation_prompt=True) for c in chats]
    rows = shared._tokenizer(texts, add_special_tokens=False)["input_ids"]
    lengths = shared_prefixes(rows)
    assert lengths is not None and len({tuple(row[:n]) for row, n in zip(rows, lengths, strict=True)}) < len(rows)
    assert min(lengths) > 30
    assert [c.text for c in shared.generate_batch(requests)] == [c.text for c in plain.generate_batch(requests)]
    def first_scores(inputs):
        with torch.inference_mode():
            out = shared._model.generate(**inputs, max_new_tokens=1, do_sample=False, output_scores=True,
                                         return_dict_in_generate=True, pad_token_id=shared._tokenizer.pad_token_id)
        return out.scores[0]

    assert torch.allclose(first_scores(shared._after_shared_prefixes(rows, lengths)),
                          first_scores(plain._padded(rows)), atol=1e-3)
    assert [c.tokens_in for c in shared.generate_batch(requests)] == [len(row) for row in rows]


def test_shared_prefixes_choose_the_grouping_with_least_padded_work():
    # (groups × longest prefix) + (rows × longest remainder): one group of 2 shared tokens (4 + 8) beats splitting
    # at 3 tokens (3 groups: 9 + 4) and no sharing (16); a lone row keeps all but its last token as its prefix
    assert shared_prefixes([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9], [7, 8]]) == [2, 2, 2, 1]
    assert shared_prefixes([[1, 2], [1, 2]]) == [1, 1]
    assert shared_prefixes([[5]]) is None
    assert shared_prefixes([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) is None  # nothing shared: plain padding
    # six conditions × five items after one 30-token instruction: one group for all, not one per condition
    rows = [[9] * 30 + [condition] * 5 + [item, item + 1] for condition in range(6) for item in range(5)]
    assert shared_prefixes(rows) == [30] * 30
