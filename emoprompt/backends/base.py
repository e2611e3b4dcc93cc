"""The backend contract: `async complete(chat, config) -> Completion`, batching and retries inside."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from emoprompt.chat import Chat, Completion, GenerateConfig


@runtime_checkable
class Backend(Protocol):
    """A named model provider."""

    name: str
    """The model string the user gave (`hf/smollm2`, `openai/gpt-4o-mini`, ...)."""

    default_concurrency: int
    """How many requests the runner should keep in flight for this backend."""

    def identity(self) -> dict[str, Any]:
        """What identifies the model's weights/snapshot: part of cache keys and of the manifest."""
        ...

    async def start(self) -> None:
        """Load weights or open connections; called once before the first request."""
        ...

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        """Answer one rendered chat. Raises RequestError for a request that failed after retries."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...
