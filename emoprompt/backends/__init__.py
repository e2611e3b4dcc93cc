"""Model backends behind one `complete(chat, config)` call, chosen by a model string's prefix."""

from __future__ import annotations

from emoprompt.backends.base import Backend, BackendOptions
from emoprompt.backends.factories import DEFAULT_MODEL, make_litellm
from emoprompt.backends.managed import ManagedBackend
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.errors import UsageError


def resolve_backend(model: str, options: BackendOptions | None = None, **option_values: object) -> Backend:
    """The backend for a model string, by its prefix: `hf/`, `vllm/`, `scripted/echo`, `openai/` and
    `hosted_vllm/` (emoprompt's lean HTTP client), `litellm/<provider>/<model>`, a prefix registered with
    `emoprompt.register_backend` or by a plugin, and any other litellm `provider/model`.

    Options come as a BackendOptions or as its fields (`api_base=...`, `engine_args=...`).
    """
    from emoprompt.backends.registry import backends

    options = options or BackendOptions(**option_values)  # type: ignore[arg-type]
    if not isinstance(model, str) or not model or model.strip() != model:
        raise UsageError(f"model {model!r} is empty or padded with spaces; give e.g. {DEFAULT_MODEL}")
    prefix, slash, _ = model.partition("/")
    if options.engine_args and prefix != "vllm":
        raise UsageError(f"engine arguments are for vllm/<model> models, not {model}; drop --engine-arg")
    factory = backends.find(prefix) if slash else None
    from emoprompt.backends.factories import make_openai

    if (options.batch or not isinstance(options.api_base, str | None)) and factory not in (None, make_openai,
                                                                                           make_litellm):
        what = "--batch" if options.batch else "an endpoint pool (several --api-base)"
        raise UsageError(f"{what} is for API models (openai/, hosted_vllm/, anthropic/), not {model}")
    if factory is None and not slash:
        raise UsageError(f"model {model!r} needs a provider prefix: hf/{model}, openai/{model}, "
                         f"hosted_vllm/{model} ... (the embedded default is {DEFAULT_MODEL})")
    if options.executor not in ("local", "ray"):
        raise UsageError(f"executor {options.executor!r} is not one of local, ray")
    if options.executor == "ray" and options.batch:
        raise UsageError("--batch and --executor ray are two ways to send a run; choose one")
    backend = (factory or make_litellm)(model, options)
    if options.executor == "ray":
        from emoprompt.backends.ray_executor import RayDataBackend

        backend = RayDataBackend(backend, options)
    if not callable(getattr(backend, "complete", None)) or not callable(getattr(backend, "identity", None)):
        raise UsageError(f"the backend for {model!r} ({type(backend).__name__}) lacks complete() or identity(); "
                         "see emoprompt.backends.base.Backend")
    return backend


__all__ = ["DEFAULT_MODEL", "Backend", "BackendOptions", "ManagedBackend", "ScriptedBackend", "resolve_backend"]
