"""The built-in backends, by model prefix: each factory takes the whole model string and the run's BackendOptions.

A model whose prefix is not registered goes to litellm, which knows every API provider.
"""

from __future__ import annotations

from typing import Any

from emoprompt.backends.base import Backend, BackendOptions
from emoprompt.errors import UsageError

DEFAULT_MODEL = "hf/smollm2"
OPENAI_COMPATIBLE = ("openai", "hosted_vllm")
"""Providers emoprompt posts to itself; `litellm/<provider>/<model>` sends them through litellm instead."""


def _rest(model: str, example: str) -> str:
    prefix, _, rest = model.partition("/")
    if not rest:
        raise UsageError(f"give a model after {prefix}/, e.g. {example}")
    return rest


def make_hf(model: str, options: BackendOptions) -> Backend:
    """`hf/<folder or hub id>`, `hf/smollm2` (the embedded model)."""
    from emoprompt.backends.hf import HFBackend

    return HFBackend(_rest(model, "hf/smollm2 or hf/path/to/model"))


def make_vllm(model: str, options: BackendOptions) -> Backend:
    """`vllm/<hub id or folder>`, `vllm/smollm2`: vLLM's engine in this process."""
    from emoprompt.backends.vllm_backend import VLLMBackend

    return VLLMBackend(_rest(model, "vllm/Qwen/Qwen2.5-1.5B-Instruct or vllm/smollm2"), options.engine_args,
                       options.concurrency or 256)


def make_scripted(model: str, options: BackendOptions) -> Backend:
    """`scripted/echo`: answers with the last word of the prompt (for trying the pipeline offline)."""
    from emoprompt.backends.scripted import ScriptedBackend, echo_last_word

    if model != "scripted/echo":
        raise UsageError(f"unknown scripted model {model!r}; the only one is scripted/echo")
    return ScriptedBackend(reply=echo_last_word, name=model)


def make_openai(model: str, options: BackendOptions) -> Backend:
    """`openai/<model>`, `hosted_vllm/<model>`: emoprompt's own lean OpenAI-compatible client; several API bases
    make an endpoint pool; `batch` sends requests through the Batch API."""
    from emoprompt.backends.openai_http import OpenAIHTTPBackend

    max_bytes = 4 * options.max_response_chars + 65_536
    bases = (options.api_base,) if isinstance(options.api_base, str) or options.api_base is None \
        else tuple(options.api_base)
    if options.batch:
        if len(bases) > 1:
            raise UsageError("--batch sends a batch to one endpoint; give one --api-base")
        from emoprompt.backends.batch import OpenAIBatchBackend

        return OpenAIBatchBackend(model, bases[0], options)
    if len(bases) > 1:
        from emoprompt.backends.pool import EndpointPool

        default = options.endpoint_concurrency or options.concurrency or 16
        limits = [options.endpoint_limits.get(base or "", default) for base in bases]
        return EndpointPool(model, [b for b in bases if b], limits, options.timeout_s, options.affinity, max_bytes,
                            options.patience_s)
    return OpenAIHTTPBackend(model, bases[0], options.timeout_s, options.concurrency or 16,
                             max_response_bytes=max_bytes)


def make_litellm(model: str, options: BackendOptions) -> Backend:
    """Any litellm `provider/model`; `litellm/<provider>/<model>` forces litellm for any provider;
    `anthropic/<model>` with `batch` goes to Anthropic's Message Batches API."""
    from emoprompt.backends.litellm_backend import LiteLLMBackend

    if options.api_base is not None and not isinstance(options.api_base, str):
        raise UsageError(f"an endpoint pool (several --api-base) serves openai/ or hosted_vllm/ models, not {model}")
    if options.batch:
        if model.startswith("anthropic/"):
            from emoprompt.backends.batch import AnthropicBatchBackend

            return AnthropicBatchBackend(model, options.api_base, options)
        raise UsageError(f"--batch works with openai/, hosted_vllm/ and anthropic/ models, not {model}")
    backend = LiteLLMBackend(model, options.api_base, options.timeout_s, options.concurrency or 16)
    backend.check_model()
    return backend


BUILTIN_BACKENDS: dict[str, Any] = {
    "hf": make_hf, "vllm": make_vllm, "scripted": make_scripted, "openai": make_openai, "hosted_vllm": make_openai,
    "litellm": make_litellm,
}
