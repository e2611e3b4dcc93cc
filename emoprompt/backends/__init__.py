"""Model backends behind one `complete(chat, config)` call, chosen by a model string."""

from __future__ import annotations

from emoprompt.backends.base import Backend
from emoprompt.backends.scripted import ScriptedBackend, echo_last_word
from emoprompt.errors import UsageError

DEFAULT_MODEL = "hf/smollm2"


def resolve_backend(model: str, api_base: str | None = None, timeout_s: float = 60.0,
                    max_retries: int = 5, concurrency: int | None = None, backoff_s: float = 1.0) -> Backend:
    """The backend for a model string: `hf/...`, `vllm/...`, `scripted/echo`, or any litellm `provider/model`."""
    if not model or model.strip() != model:
        raise UsageError(f"model {model!r} is empty or padded with spaces; give e.g. {DEFAULT_MODEL}")
    prefix, _, rest = model.partition("/")
    if prefix == "hf":
        if not rest:
            raise UsageError("give a model after hf/, e.g. hf/smollm2 or hf/path/to/model")
        from emoprompt.backends.hf import HFBackend

        return HFBackend(rest)
    if prefix == "vllm":
        raise UsageError("the vllm/ offline backend is not in this version yet; serve the model with "
                         "`vllm serve` and use hosted_vllm/<model> with --api-base")
    if prefix == "scripted":
        if rest != "echo":
            raise UsageError(f"unknown scripted model {model!r}; the only one is scripted/echo")
        return ScriptedBackend(reply=echo_last_word, name=model)
    if "/" not in model:
        raise UsageError(f"model {model!r} needs a provider prefix: hf/{model}, openai/{model}, "
                         f"hosted_vllm/{model} ... (the embedded default is {DEFAULT_MODEL})")
    from emoprompt.backends.litellm_backend import LiteLLMBackend

    backend = LiteLLMBackend(model, api_base, timeout_s, max_retries, concurrency or 16, backoff_s)
    backend.check_model()
    return backend


__all__ = ["DEFAULT_MODEL", "Backend", "ScriptedBackend", "resolve_backend"]
