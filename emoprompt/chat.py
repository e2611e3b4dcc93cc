"""The lingua franca: chat messages, structured queries, generation settings and completions."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One OpenAI-style chat turn."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        """The OpenAI wire form."""
        return {"role": self.role, "content": self.content}


Chat = tuple[Message, ...]


def chat_to_dicts(chat: Chat) -> list[dict[str, str]]:
    """A chat as a list of OpenAI-style dicts."""
    return [message.to_dict() for message in chat]


@dataclass(frozen=True)
class Query:
    """A structured prompt before rendering.

    A suite's template renders `instruction`, `demos` and `input` into the first user message;
    `prefix`/`suffix` wrap that message, `system` becomes a system message, and `turns` (added by feedback
    loops) follow it. Transforms edit these fields, so a stimulus can go after the task instruction rather
    than after the whole prompt.
    """

    input: str = ""
    instruction: str = ""
    demos: tuple[tuple[str, str], ...] = ()
    system: str | None = None
    prefix: str = ""
    suffix: str = ""
    history: tuple[Message, ...] = ()
    """Earlier turns of a conversation, rendered before the main user message (a user's own message list)."""
    turns: tuple[Message, ...] = ()
    check: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)
    """The oracle: does an answer text score as correct? Set by the runner; never sent to the model."""

    def replace(self, **changes: Any) -> Query:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class GenerateConfig:
    """Decoding settings; part of an experiment's identity and of every cache key."""

    temperature: float = 0.0
    max_tokens: int = 32
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def identity(self) -> dict[str, Any]:
        """The fields that can change a model's output, as plain JSON data."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
        }


@dataclass
class Completion:
    """What a backend returns for one request."""

    text: str
    finish_reason: str = "stop"
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost_usd: float | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (for the cache and the records); `extra` is copied one level deep."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} | {"extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        """Inverse of `to_dict`, tolerant of missing optional fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


Generate = Callable[[Query, GenerateConfig], Awaitable[Completion]]
"""Render a query with the task's template and ask the model: the one call every transform uses."""
