"""Rewordings of task instructions written by a model (`paraphrase_source = "model:<model>"`).

One greedy request per task asks for the rewordings, one per line; they are kept verbatim in the experiment, so a
resumed run never asks again and the manifest shows exactly what was sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from emoprompt.errors import RequestError, UsageError

PROMPT = ("Rewrite the following task instruction in {count} different ways. Keep its meaning and every constraint "
          "it states (output format, scale, language). Write one rewording per line, with no numbering and nothing "
          "else.\n\nInstruction: {instruction}")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(\d+\))\s*")


def generate_paraphrases(model: str, tasks: Sequence[Any], count: int, options: Any) -> dict[str, list[str]]:
    """`count` rewordings of each task's instruction, written by `model` (greedy)."""
    from emoprompt.backends import ManagedBackend, resolve_backend
    from emoprompt.chat import GenerateConfig, Message
    from emoprompt.decorator import run_sync

    backend = ManagedBackend(model, resolve_backend(model, options), options.max_retries, options.backoff_s)
    config = GenerateConfig(temperature=0.0, max_tokens=80 * count)

    async def ask_all() -> dict[str, list[str]]:
        try:
            written = {}
            for task in tasks:
                if not task.instruction.strip():
                    raise UsageError(f"task {task.name!r} has no instruction to reword; use paraphrase_source = "
                                     "'format'")
                prompt = PROMPT.format(count=count, instruction=task.instruction)
                try:
                    completion = await backend.complete((Message("user", prompt),), config)
                except RequestError as error:
                    raise UsageError(f"{model} could not write paraphrases ({error}); check the model or use the "
                                     "bank") from None
                written[task.name] = parse_rewordings(completion.text, task.instruction)
                if len(written[task.name]) < count:
                    raise UsageError(f"{model} wrote {len(written[task.name])} usable rewordings of task "
                                     f"{task.name!r}, not {count}; ask for fewer paraphrases or use the bank")
            return {name: texts[:count] for name, texts in written.items()}
        finally:
            await backend.close()

    result: dict[str, list[str]] = run_sync(ask_all())
    return result


def parse_rewordings(text: str, original: str) -> list[str]:
    """The distinct rewordings in a model's answer: one per line, bullets and numbering removed, the original and
    repeats dropped."""
    seen = {original.strip().lower()}
    rewordings = []
    for line in text.splitlines():
        candidate = _BULLET.sub("", line).strip().strip('"').strip()
        if candidate and candidate.lower() not in seen:
            seen.add(candidate.lower())
            rewordings.append(candidate)
    return rewordings
