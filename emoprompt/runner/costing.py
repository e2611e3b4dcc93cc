"""What a run will send and cost, before it runs (`emoprompt plan EXPERIMENT`, `emoprompt run --dry-run`).

Every cell's condition is played through with a stand-in model that answers nothing (an empty answer is wrong, so
a feedback loop makes every attempt it may): that gives each cell's worst-case model calls and the exact prompts
the model would be sent, rendered by the task's template. Prompt tokens are counted with the model's own tokenizer
where it is known (a local model's; litellm's for the API models its price map knows), else estimated; a later
call of a loop also carries the earlier answers, each counted at `max_tokens`. Output tokens are bounded by
`max_tokens` per call. Prices come from litellm's price map, online and Batch API; unknown prices are unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from emoprompt.chat import Chat, Completion, GenerateConfig, Query
from emoprompt.runner.plan import Cell, RunPlan, repeat_config
from emoprompt.suites.registry import get_template

ESTIMATE = "estimated at 4 characters a token"


@dataclass
class CostLine:
    """One model × condition (or a model's total, condition "all conditions")."""

    model: str
    condition: str
    cells: int = 0
    calls: int = 0
    """Model calls at most (a feedback loop's every attempt)."""
    prompt_tokens: int = 0
    output_tokens: int = 0
    """At most: max_tokens per call."""
    online_usd: float | None = None
    batch_usd: float | None = None


@dataclass
class CostPlan:
    """Per model and condition what a run sends, and how its prompt tokens were counted."""

    lines: list[CostLine] = field(default_factory=list)
    counted: dict[str, str] = field(default_factory=dict)
    """Per model: the tokenizer, or that the count is an estimate."""
    cached_note: str = ""


def cost_plan(plan: RunPlan) -> CostPlan:
    """The cost plan of every cell of `plan` (cache hits are not predicted: every cell is counted as sent)."""
    from emoprompt.backends._api import token_prices

    result = CostPlan(cached_note="Cells already in the response cache would cost nothing; they are counted here.")
    calls = asyncio.run(_all_calls(plan.cells, plan.experiment.generation))
    for model in dict.fromkeys(cell.model for cell in plan.cells):
        cells = [cell for cell in plan.cells if cell.model == model]
        chats = [chat for cell in cells for chat, _ in calls[cell.key]]
        counts, result.counted[model] = _counter(plan, model)(chats)
        online, batch = token_prices(model), token_prices(model, batch=True)
        lines = {condition.name: CostLine(model, condition.name) for condition in plan.conditions}
        position = 0
        for cell in cells:
            line = lines[cell.condition.name]
            line.cells += 1
            for chat, max_tokens in calls[cell.key]:
                earlier_answers = sum(1 for message in chat if message.role == "assistant")
                line.calls += 1
                line.prompt_tokens += counts[position] + earlier_answers * max_tokens
                line.output_tokens += max_tokens
                position += 1
        total = CostLine(model, "all conditions")
        for line in lines.values():
            line.online_usd = _price(online, line)
            line.batch_usd = _price(batch, line)
            for name in ("cells", "calls", "prompt_tokens", "output_tokens"):
                setattr(total, name, getattr(total, name) + getattr(line, name))
        total.online_usd, total.batch_usd = _price(online, total), _price(batch, total)
        result.lines += [*lines.values(), total]
    return result


def _price(prices: tuple[float, float] | None, line: CostLine) -> float | None:
    return None if prices is None else line.prompt_tokens * prices[0] + line.output_tokens * prices[1]


async def _all_calls(cells: Sequence[Cell], generation: GenerateConfig) -> dict[str, list[tuple[Chat, int]]]:
    """Per cell, every call its condition makes when the model answers nothing: (chat, max_tokens)."""
    return {cell.key: await _calls(cell, repeat_config(generation, cell.repeat)) for cell in cells}


async def _calls(cell: Cell, config: GenerateConfig) -> list[tuple[Chat, int]]:
    from emoprompt.chat import Oracle
    from emoprompt.suites.registry import scorers

    template = get_template(cell.task.template)
    made: list[tuple[Chat, int]] = []

    async def silent_model(query: Query, call_config: GenerateConfig) -> Completion:
        made.append((template.render(query), call_config.max_tokens))
        return Completion("", tokens_in=None, tokens_out=None)

    scorer = scorers.get(cell.task.scorer)
    sample = cell.sample
    query = cell.task.query(sample, cell.demos).replace(oracle=Oracle(lambda text: scorer(text, sample).correct))
    with contextlib.suppress(Exception):  # a transform that cannot take an empty answer still made its calls
        await cell.condition.transform(query, config, silent_model)
    return made


def _counter(plan: RunPlan, model: str) -> Callable[[list[Chat]], tuple[list[int], str]]:
    """How to count a model's prompt tokens, and what to call the count."""
    backend = plan.backends[model].backend
    own = getattr(backend, "count_tokens", None)

    def count(chats: list[Chat]) -> tuple[list[int], str]:
        if callable(own):
            try:
                return list(own(chats)), "the model's own tokenizer and chat template"
            except Exception:  # a tokenizer that cannot load here: estimate instead
                pass
        known = _litellm_counter(model)
        if known is not None:
            return [known([m.to_dict() for m in chat]) for chat in chats], f"litellm's tokenizer for {model}"
        return [sum(len(m.content) for m in chat) // 4 + 4 * len(chat) for chat in chats], ESTIMATE

    return count


def _litellm_counter(model: str) -> Callable[[list[dict[str, str]]], int] | None:
    """litellm's token counter for an API model its price map knows (an unknown name gets no guess from it)."""
    from emoprompt.backends._api import token_prices

    if token_prices(model) is None:
        return None
    from emoprompt.backends.litellm_backend import _litellm

    litellm = _litellm()
    name = model.removeprefix("litellm/")

    def count(messages: list[dict[str, str]]) -> int:
        return int(litellm.token_counter(model=name, messages=messages))

    return count
