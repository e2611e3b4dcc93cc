"""vLLM's async engine in this process: continuous batching and prefix caching on a GPU.

Every cell is submitted at once (the runner keeps many requests in flight), and vLLM's scheduler batches them;
prefix caching lets every condition of an item reuse the KV cache of the task's shared prompt prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import time
from collections.abc import Callable
from typing import Any

from emoprompt.backends.base import call_optional
from emoprompt.chat import Chat, Completion, GenerateConfig, chat_to_dicts
from emoprompt.errors import BackendError, RequestError, UsageError, require

DEFAULT_ENGINE_ARGS: dict[str, Any] = {"enable_prefix_caching": True}
EMBEDDED_ENGINE_ARGS: dict[str, Any] = {"dtype": "float32"}
"""The embedded model runs in float32 as on hf/smollm2, so both backends give the same greedy answers (vLLM's
CPU default, bfloat16, changes some)."""
RESOURCE_ARGS = frozenset({
    "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "gpu_memory_utilization",
    "enable_prefix_caching", "max_num_seqs", "max_num_batched_tokens", "cpu_offload_gb",
    "disable_log_stats", "enforce_eager", "download_dir",
})
"""Engine arguments that change how fast answers come, not what they are: left out of the cache identity."""


class VLLMBackend:
    """`vllm/<model>` (a hub id, a local folder, or `smollm2` for the embedded model's converted weights).

    `engine_args` go to `AsyncEngineArgs` unchanged (tensor_parallel_size, gpu_memory_utilization,
    max_model_len, dtype, ...). `engine` and `sampling_params` replace vLLM at its boundary (for tests).
    """

    paced = False

    def __init__(self, model: str, engine_args: dict[str, Any] | None = None, concurrency: int = 256,
                 engine: Any = None, sampling_params: Callable[..., Any] | None = None) -> None:
        if not model:
            raise UsageError("give a model after vllm/, e.g. vllm/Qwen/Qwen2.5-1.5B-Instruct or vllm/smollm2")
        self.name = f"vllm/{model}"
        self.model_ref = model
        embedded = EMBEDDED_ENGINE_ARGS if model == "smollm2" else {}
        self.engine_args = {**DEFAULT_ENGINE_ARGS, **embedded, **(engine_args or {})}
        self.default_concurrency = concurrency
        self._engine = engine
        self._sampling_params = sampling_params
        self._tokenizer: Any = None
        self._ids = itertools.count()
        self._starting: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owns_engine = False

    def identity(self) -> dict[str, Any]:
        """The model, its weights' version (the embedded package's version, or a local folder's file fingerprint),
        the dtype asked for (`auto`: the weights' own) and the engine arguments that change answers."""
        from emoprompt.backends.hf import HFBackend

        weights = HFBackend(self.model_ref).identity()
        output_args = {k: v for k, v in sorted(self.engine_args.items()) if k not in RESOURCE_ARGS | {"dtype"}}
        identity: dict[str, Any] = {"backend": "vllm", "model": weights["model"]}
        if "weights" in weights:
            identity["weights"] = weights["weights"]
        identity["dtype"] = str(self.engine_args.get("dtype", "auto"))
        if output_args:
            identity["engine_args"] = output_args
        return identity

    async def start(self) -> None:
        """Build the engine (once; again when it was built in an event loop that has since closed: vLLM's output
        handler lives in the loop that first used the engine)."""
        loop = asyncio.get_running_loop()
        if self._engine is not None and self._loop is not None and self._loop is not loop and self._loop.is_closed():
            if self._owns_engine:
                with contextlib.suppress(Exception):
                    self._engine.shutdown()
                self._engine = None
            self._tokenizer = None
        self._loop = loop
        if self._engine is not None and self._tokenizer is not None:
            return
        if self._engine is None:
            require("vllm", "vllm")
            from vllm import AsyncEngineArgs, AsyncLLMEngine

            arguments = {"model": self._model_path(), **self.engine_args}
            try:
                self._engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**arguments))
            except TypeError as exc:
                raise UsageError(f"vLLM engine arguments {sorted(self.engine_args)}: {exc}; see "
                                 "`vllm serve --help` for their names") from None
            self._owns_engine = True
        if self._sampling_params is None:
            from vllm import SamplingParams

            self._sampling_params = SamplingParams
        tokenizer = self._engine.get_tokenizer()
        self._tokenizer = await tokenizer if inspect.isawaitable(tokenizer) else tokenizer

    def _model_path(self) -> str:
        from emoprompt.backends.hf import EMBEDDED, HFBackend

        return HFBackend(EMBEDDED)._weights_folder() if self.model_ref == EMBEDDED else self.model_ref

    def prompt(self, chat: Chat) -> str:
        """The chat rendered with the model's own chat template, ready for generation."""
        return str(self._tokenizer.apply_chat_template(chat_to_dicts(chat), tokenize=False,
                                                       add_generation_prompt=True))

    async def engine_input(self, chat: Chat) -> Any:
        """What the engine is given: the rendered prompt's token ids through vLLM's own renderer where the engine
        has one (vLLM ≥ 0.12 deprecates raw prompts), else the rendered text."""
        text = self.prompt(chat)
        renderer = getattr(self._engine, "renderer", None)
        if renderer is None or not hasattr(renderer, "render_cmpl_async"):
            return text
        ids = self._tokenizer.encode(text, add_special_tokens=False)
        (rendered,) = await renderer.render_cmpl_async([{"prompt_token_ids": ids}])
        return rendered

    def sampling(self, config: GenerateConfig) -> Any:
        """The vLLM SamplingParams for a generation config."""
        assert self._sampling_params is not None, "start() first"
        return self._sampling_params(**sampling_arguments(config))

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        if self._tokenizer is None or self._loop is not asyncio.get_running_loop():
            if self._starting is None or self._starting.done():
                self._starting = asyncio.ensure_future(self.start())
            await self._starting
        request_id = f"emoprompt-{next(self._ids)}"
        started = time.perf_counter()
        final = None
        try:
            async for output in self._engine.generate(await self.engine_input(chat), self.sampling(config),
                                                      request_id):
                final = output
        except ValueError as exc:  # vLLM's way of refusing one request (e.g. a prompt longer than max_model_len)
            kind = "context_window" if "length" in str(exc).lower() or "too long" in str(exc).lower() else "bad_request"
            raise RequestError(kind, str(exc).splitlines()[0][:300]) from None
        except Exception as exc:
            if "dead" in type(exc).__name__.lower():
                raise BackendError(f"the vLLM engine stopped ({exc}); every finished cell is kept: fix the cause, "
                                   "then continue with emoprompt run --resume <run folder>") from None
            raise RequestError("engine_error", f"{type(exc).__name__}: {exc}"[:300]) from None
        if final is None or not final.outputs:
            raise RequestError("empty_choices", "the engine returned no output")
        choice = final.outputs[0]
        finish = choice.finish_reason or "stop"
        tokens = list(choice.token_ids or ())  # the end token included: generated and billed, as on hf/ and servers
        return Completion(choice.text, "length" if finish == "length" else "stop",
                          len(final.prompt_token_ids or ()), len(tokens), time.perf_counter() - started)

    async def close(self) -> None:
        await call_optional(self._engine, "shutdown")
        self._engine = None
        self._tokenizer = None


def sampling_arguments(config: GenerateConfig) -> dict[str, Any]:
    """vLLM's sampling parameters for a generation config, as plain data."""
    arguments: dict[str, Any] = {"temperature": config.temperature, "top_p": config.top_p,
                                 "max_tokens": config.max_tokens}
    if config.seed is not None:
        arguments["seed"] = config.seed
    if config.stop:
        arguments["stop"] = list(config.stop)
    return arguments
