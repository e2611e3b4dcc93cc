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
class Oracle:
    """Judges an answer text against the gold answer: the runner builds it from the task's scorer and the sample;
    `emoprompt.affect(check=...)` from the caller's own function."""

    is_correct: Callable[[str], bool]

    def __call__(self, text: str) -> bool:
        return bool(self.is_correct(text))


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
    rewrites: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """The item's own rewordings of `input` by name (never rendered; `rewrite:NAME` puts one in `input`)."""
    oracle: Oracle | None = field(default=None, compare=False, repr=False)
    """The task's gold answer as a judge of answer texts, for verifiers (HEART's oracle); never rendered or sent."""

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


@dataclass(frozen=True)
class LoopTrace:
    """What a feedback loop did for one item: every attempt's text, the feedback given after each wrong one,
    and the verifier's verdicts."""

    attempts: tuple[str, ...]
    feedback: tuple[str, ...] = ()
    verdicts: tuple[bool, ...] = ()
    verifier: str = "none"


@dataclass(frozen=True)
class Completion:
    """What a backend returns for one request (immutable: change it with `replace`).

    Token counts are None when the provider did not say (or said something impossible); `cost_usd` is None when
    the price is unknown; `loop` is set by feedback loops.
    """

    text: str
    finish_reason: str = "stop"
    tokens_in: int | None = 0
    tokens_out: int | None = 0
    latency_s: float = 0.0
    cost_usd: float | None = None
    cached: bool = False
    served_model: str | None = None
    """The model name the provider reported serving, when it did."""
    loop: LoopTrace | None = None
    rate_limits: Any = field(default=None, compare=False, repr=False)
    """The provider's rate-limit headers on this answer (`emoprompt.backends.pacing.RateLimits`), for the pacing of
    later requests; never cached or recorded."""

    def replace(self, **changes: Any) -> Completion:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for the response cache (without `loop`, which belongs to a cell, not a request)."""
        return {"text": self.text, "finish_reason": self.finish_reason, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "latency_s": self.latency_s, "cost_usd": self.cost_usd,
                "served_model": self.served_model}

    @classmethod
    def from_dict(cls, data: dict[str, Any], cached: bool = False) -> Completion:
        """Inverse of `to_dict`; raises ValueError when `data` is not a completion."""
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise ValueError("not a completion (no text)")
        return cls(text, str(data.get("finish_reason") or "stop"), token_count(data.get("tokens_in")),
                   token_count(data.get("tokens_out")), float(data.get("latency_s") or 0.0),
                   _cost(data.get("cost_usd")), cached,
                   data.get("served_model") if isinstance(data.get("served_model"), str) else None)


MAX_TOKEN_COUNT = 100_000_000
"""Token counts above this are impossible for one request and are stored as unknown."""


def token_count(value: Any) -> int | None:
    """A provider's token count as an int, or None when absent, not a whole number, negative or absurd."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value < 0 or value > MAX_TOKEN_COUNT or int(value) != value:
        return None
    return int(value)


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return None
    return float(value)


Generate = Callable[[Query, GenerateConfig], Awaitable[Completion]]
"""Render a query with the task's template and ask the model: the one call every transform uses."""
