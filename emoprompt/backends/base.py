"""The backend contract: one required async method, `complete(chat, config) -> Completion`, plus `identity()`.

Everything else is optional and has a default: `preflight()` (checks that need no network, such as a missing key,
run before a run folder is created), `start()` (load weights, open connections; called once before the first
request), `close()`, `name` and `default_concurrency`. Retries, concurrency and starting once are wrapped
around every backend by `emoprompt.backends.managed.ManagedBackend`; batching wraps a backend that implements
`generate_batch` (see `emoprompt.backends.batching.BatchedBackend`). A backend raises `RequestError` for one
failed request (a transient kind is retried by the wrapper) and `BackendError` when it cannot work at all.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from emoprompt.chat import Chat, Completion, GenerateConfig


@runtime_checkable
class Backend(Protocol):
    """A model provider: `identity()` and `async complete(chat, config)`."""

    def identity(self) -> dict[str, Any]:
        """What identifies the model's output: weights or snapshot, endpoint, settings that change answers. Part of
        every cache key and of the manifest."""
        ...

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        """Answer one rendered chat. Raises RequestError for a request that failed."""
        ...


@dataclass(frozen=True)
class BackendOptions:
    """How a run reaches its models; none of it changes an answer except `api_base` (part of the identity)."""

    api_base: str | tuple[str, ...] | None = None
    """One endpoint, or several replicas of one model (an endpoint pool, `emoprompt.backends.pool`)."""
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    concurrency: int | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)
    """vLLM engine arguments (`vllm/<model>` only)."""
    max_response_chars: int = 1_000_000
    """Longer answers become `response_too_large` error cells (HTTP bodies are capped accordingly)."""
    endpoint_limits: dict[str, int] = field(default_factory=dict)
    """Pools: the most requests in flight at one endpoint, by API base (from a pool file)."""
    endpoint_concurrency: int | None = None
    """Pools: the limit of endpoints without one of their own (default: the backend's concurrency)."""
    affinity: bool = False
    """Pools: send every condition of an item to one replica, so its prefix cache is reused."""
    batch: bool = False
    """Send requests through the provider's Batch API (`emoprompt.backends.batch`) instead of one by one."""
    batch_poll_s: float = 30.0
    """Batch API: the longest wait between two status checks of a batch (the first come sooner)."""
    resubmit_unknown: bool = False
    """Batch API, on resume: send again a batch whose creation a kill interrupted when the server cannot list its
    batches to find it (it may then be paid twice)."""
    batch_max_requests: int | None = None
    """Batch API: the most requests per batch (default, and capped at, the provider's limit)."""
    executor: str = "local"
    """`local` (this process) or `ray` (Ray Data's LLM processors, `emoprompt.backends.ray_executor`)."""
    ray_address: str | None = None
    """`--executor ray`: the cluster to join (default: RAY_ADDRESS, else a Ray started here on 127.0.0.1)."""
    ray_workers: int = 2
    """`--executor ray`: processor workers (HTTP request actors, or vLLM engine replicas)."""
    rpm: float | None = None
    """Requests per minute at most, per model (the user's API tier); the provider's own limit is also learned from
    its rate-limit headers and its 429s."""
    tpm: float | None = None
    """Tokens per minute at most, per model (prompt tokens plus max_tokens per request, as providers count them)."""
    patience_s: float = 600.0
    """How long a rate-limited model may answer nothing before the run stops (resumable)."""
    max_cost: float | None = None
    """The most dollars the run may spend (requests that could pass it are not sent; the run stops there)."""
    stop_grace_s: float = 5.0
    """After a first SIGTERM or Ctrl-C, how long the requests in flight may take to finish before they are
    cancelled (their cells stay unrun for --resume)."""


RECORD_SETTINGS = ("timeout_s", "max_retries", "backoff_s", "max_response_chars")
"""The options that change what a cell records (an answer or an error): they belong to the run, kept in its manifest
and restored on --resume."""


def record_settings(options: BackendOptions) -> dict[str, Any]:
    """`options`' settings that belong to the run (`RECORD_SETTINGS`)."""
    return {name: getattr(options, name) for name in RECORD_SETTINGS}


async def call_optional(target: Any, name: str) -> None:
    """Call `target.<name>()` when it exists (a backend's optional `start` or `close`), awaiting what it returns
    when that is awaitable."""
    method = getattr(target, name, None)
    if callable(method):
        result = method()
        if inspect.isawaitable(result):
            await result


BackendFactory = Any
"""`factory(model: str, options: BackendOptions) -> Backend`, registered under a model prefix."""
