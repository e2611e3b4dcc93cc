"""What a run will send and cost, before it runs: cells, worst-case calls, tokens and prices per model × condition."""

from __future__ import annotations

import pytest

from emoprompt.backends._api import token_prices
from emoprompt.runner.costing import ESTIMATE, cost_plan
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import build_plan
from emoprompt.schema import AnalysisPlan


def plan_of(**changes):
    values = dict(models=("openai/gpt-4o-mini",), tasks=("sum",), limit=4, conditions=("baseline", "EP02"),
                  api_base="http://127.0.0.1:9/v1")
    return build_plan(Experiment(**{**values, **changes}))


def test_every_cell_and_call_is_counted_with_known_prices():
    costs = cost_plan(plan_of())
    lines = {line.condition: line for line in costs.lines}
    assert list(lines) == ["baseline", "EP02", "all conditions"]
    assert (lines["baseline"].cells, lines["baseline"].calls, lines["baseline"].output_tokens) == (4, 4, 4 * 24)
    assert lines["EP02"].prompt_tokens > lines["baseline"].prompt_tokens  # the stimulus is in the prompt
    online, batch = token_prices("openai/gpt-4o-mini"), token_prices("openai/gpt-4o-mini", batch=True)
    assert online is not None and batch is not None
    total = lines["all conditions"]
    assert total.cells == 8 and total.prompt_tokens == lines["baseline"].prompt_tokens + lines["EP02"].prompt_tokens
    assert total.online_usd == pytest.approx(total.prompt_tokens * online[0] + total.output_tokens * online[1])
    assert total.batch_usd == pytest.approx(total.online_usd / 2)
    assert "litellm's tokenizer" in costs.counted["openai/gpt-4o-mini"]


def test_a_feedback_loop_counts_its_worst_case_and_the_answers_it_carries():
    experiment = plan_of(conditions=("baseline", "heart"), analysis=AnalysisPlan())
    lines = {line.condition: line for line in cost_plan(experiment).lines}
    attempts = experiment.experiment.heart.max_iters
    assert lines["heart"].calls == 4 * attempts and lines["baseline"].calls == 4
    assert lines["heart"].prompt_tokens > attempts * lines["baseline"].prompt_tokens  # later calls carry answers


def test_unknown_prices_are_unknown_and_counts_estimated():
    costs = cost_plan(plan_of(models=("openai/my-own-model",)))
    assert all(line.online_usd is None and line.batch_usd is None for line in costs.lines)
    assert costs.counted["openai/my-own-model"] == ESTIMATE
