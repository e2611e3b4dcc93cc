"""Model backends behind one `complete(chat, config)` call, chosen by a model string."""

from __future__ import annotations

from typing import Any

from emoprompt.backends.base import Backend
from emoprompt.backends.scripted import ScriptedBackend, echo_last_word
from emoprompt.errors import UsageError

DEFAULT_MODEL = "hf/smollm2"
OPENAI_COMPATIBLE = ("openai", "hosted_vllm")
"""Providers emoprompt posts to itself; `litellm/<provider>/<model>` sends them through litellm instead."""


def resolve_backend(model: str, api_base: str | None = None, timeout_s: float = 60.0,
                    max_retries: int = 5, concurrency: int | None = None, backoff_s: float = 1.0,
                    engine_args: dict[str, Any] | None = None) -> Backend:
    """The backend for a model string: `hf/...`, `vllm/...`, `scripted/echo`, `openai/...` and `hosted_vllm/...`
    (emoprompt's own lean HTTP client), `litellm/<provider>/<model>` or any other litellm `provider/model`.

    `engine_args` go to the vLLM engine (`vllm/...` only).
    """
    if not model or model.strip() != model:
        raise UsageError(f"model {model!r} is empty or padded with spaces; give e.g. {DEFAULT_MODEL}")
    prefix, _, rest = model.partition("/")
    if prefix == "hf":
        if not rest:
            raise UsageError("give a model after hf/, e.g. hf/smollm2 or hf/path/to/model")
        from emoprompt.backends.hf import HFBackend

        return HFBackend(rest)
    if engine_args and prefix != "vllm":
        raise UsageError(f"engine arguments are for vllm/<model> models, not {model}; drop --engine-arg")
    if prefix == "vllm":
        from emoprompt.backends.vllm_backend import VLLMBackend

        return VLLMBackend(rest, engine_args, concurrency or 256)
    if prefix == "scripted":
        if rest != "echo":
            raise UsageError(f"unknown scripted model {model!r}; the only one is scripted/echo")
        return ScriptedBackend(reply=echo_last_word, name=model)
    if "/" not in model:
        raise UsageError(f"model {model!r} needs a provider prefix: hf/{model}, openai/{model}, "
                         f"hosted_vllm/{model} ... (the embedded default is {DEFAULT_MODEL})")
    if prefix in OPENAI_COMPATIBLE:
        from emoprompt.backends.openai_http import OpenAIHTTPBackend

        return OpenAIHTTPBackend(model, api_base, timeout_s, max_retries, concurrency or 16, backoff_s)
    from emoprompt.backends.litellm_backend import LiteLLMBackend

    backend = LiteLLMBackend(model, api_base, timeout_s, max_retries, concurrency or 16, backoff_s)
    backend.check_model()
    return backend


__all__ = ["DEFAULT_MODEL", "Backend", "ScriptedBackend", "resolve_backend"]
