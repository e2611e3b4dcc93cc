"""Every real Instruction Induction and BIG-Bench task in ../shared/data loads, renders, and scores its own
gold answers as correct for at least 99% of items. Skipped (with the reason) where that folder is absent."""

import pytest

from emoprompt.runner.experiment import load_experiment, protocol_names, protocol_path
from emoprompt.runner.plan import build_plan
from emoprompt.suites.loader import load_suite
from emoprompt.suites.registry import get_template, scorers
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "instruction_induction").is_dir(),
                                reason=f"real benchmark data not found at {SHARED_DATA}")


@pytest.fixture(autouse=True)
def shared_data(monkeypatch):
    monkeypatch.setenv("EMOPROMPT_DATA_DIR", str(SHARED_DATA))


@pytest.mark.parametrize("suite_name", ["instruction-induction", "instruction-induction-strict", "bigbench"])
def test_gold_answers_score_as_correct(suite_name):
    suite = load_suite(suite_name)
    expected = 24 if suite_name.startswith("instruction") else len(list(SHARED_DATA.glob("bigbench/*/task.json")))
    assert len(suite.tasks) == expected
    for task in suite.tasks:
        scorer, template = scorers.get(task.scorer), get_template(task.template)
        correct = 0
        for sample in task.samples:
            chat = template.render(task.query(sample))
            assert sample.input in chat[-1].content
            correct += scorer(sample.targets[0], sample).correct
        assert correct / len(task.samples) >= 0.99, (task.name, correct, len(task.samples))


def test_instruction_induction_counts_match_the_reference():
    suite = load_suite("instruction-induction")
    counts = {t.name: (len(t.samples), len(t.demo_pool)) for t in suite.tasks}
    assert counts["cause_and_effect"] == (25, 26) and counts["common_concept"] == (16, 17)
    assert counts["informal_to_formal"] == (15, 15) and counts["antonyms"] == (100, 2592)


def test_bigbench_default_is_the_papers_tasks_present():
    suite = load_suite("bigbench")
    assert "winowhy" in suite.default_tasks and "causal_judgment" in suite.metadata["missing_default_tasks"]
    assert suite.select([]).tasks == tuple(suite.task(n) for n in suite.default_tasks)


def test_negativeprompt_protocol_renders_the_released_code_query():
    plan = build_plan(load_experiment(protocol_path("negativeprompt-ii")).__class__(
        **{**load_experiment(protocol_path("negativeprompt-ii")).__dict__, "models": ("scripted/echo",),
           "tasks": ("sentiment",), "limit": 3}))
    names = [c.name for c in plan.conditions]
    assert names[:1] == ["baseline"] and [f"NP{i:02d}" for i in range(1, 11)] == [n for n in names if n[:2] == "NP"]
    cell = next(c for c in plan.cells if c.condition.name == "NP01")
    chat = get_template(cell.task.template).render(cell.condition.transform.apply(cell.task.query(cell.sample)))
    assert chat[0].content == ("Instruction: Determine whether a movie review is positive or negative.You've never "
                               f"been particularly good at this, have you?\n\n\nInput: {cell.sample.input}\nAnswer: ")


def test_fewshot_protocol_draws_five_demonstrations_from_induce():
    base = load_experiment(protocol_path("emotionprompt-ii-fewshot"))
    plan = build_plan(base.__class__(**{**base.__dict__, "models": ("scripted/echo",), "tasks": ("antonyms",),
                                        "limit": 2}))
    cell = plan.cells[0]
    assert len(cell.demos) == 5 and all(d.id.startswith("antonyms-demo-") for d in cell.demos)
    content = get_template(cell.task.template).render(cell.task.query(cell.sample, cell.demos))[0].content
    assert content.count("\nOutput: ") == 5 and content.endswith(f"Input: {cell.sample.input}\nAnswer: ")


STUDY_SUITES = ("wharton", "mind-your-tone")
"""Suites whose data is gated or licensed: never in ../shared/data, so built here on stand-ins of its layout."""


@pytest.mark.parametrize("name", protocol_names())
def test_every_protocol_builds(name, tmp_path, monkeypatch):
    experiment = load_experiment(protocol_path(name))
    if experiment.suite in STUDY_SUITES:
        from tests.suites.study_data import write_gpqa, write_mind_your_tone, write_mmlu_pro

        pytest.importorskip("pyarrow")
        write_gpqa(tmp_path), write_mmlu_pro(tmp_path), write_mind_your_tone(tmp_path)
        monkeypatch.setenv("EMOPROMPT_DATA_DIR", str(tmp_path))
    plan = build_plan(experiment.__class__(**{**experiment.__dict__, "models": ("scripted/echo",), "limit": 2}))
    assert plan.cells and plan.control == experiment.analysis.control
