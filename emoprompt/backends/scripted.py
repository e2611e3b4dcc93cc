"""A scripted backend for tests of logic: replies come from a list, a mapping or a function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emoprompt.chat import Chat, Completion, GenerateConfig
from emoprompt.identity import callable_identity

Reply = str | Exception
ReplyFunction = Callable[[Chat, GenerateConfig], Reply]


@dataclass
class ScriptedBackend:
    """Answers from `replies` (cycled), or `reply(chat, config)`; every call is kept in `history`.

    A reply that is an exception is raised (a RequestError becomes an error record in a run).
    """

    replies: list[Reply] = field(default_factory=lambda: ["ok"])
    reply: ReplyFunction | None = None
    name: str = "scripted"
    default_concurrency: int = 8
    history: list[tuple[Chat, GenerateConfig]] = field(default_factory=list)

    def identity(self) -> dict[str, Any]:
        """The name and the script: the reply function's identity (its source's hash and captured data, so
        editing it invalidates cached answers) or the reply list."""
        reply = callable_identity(self.reply) if self.reply else None
        replies = None if self.reply else [r if isinstance(r, str) else repr(r) for r in self.replies]
        return {"backend": "scripted", "name": self.name, "reply": reply, "replies": replies}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def complete(self, chat: Chat, config: GenerateConfig) -> Completion:
        self.history.append((chat, config))
        answer = self.reply(chat, config) if self.reply else self.replies[(len(self.history) - 1) % len(self.replies)]
        if isinstance(answer, Exception):
            raise answer
        tokens_in = sum(len(m.content.split()) for m in chat)
        return Completion(answer, "stop", tokens_in, len(answer.split()))


def echo_last_word(chat: Chat, config: GenerateConfig) -> str:
    """A reply function that answers with the last word of the last user message."""
    words = chat[-1].content.split()
    return words[-1] if words else ""

