import json
from collections import Counter

import pytest

from emoprompt.backends import BackendOptions
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.errors import RequestError, UsageError
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import build_plan
from emoprompt.runner.run import run
from emoprompt.runner.store import iter_records


def experiment(**changes):
    values = dict(models=("scripted/test",), tasks=("sum", "first_word_letter"), limit=5,
                  conditions=("baseline", "PL01", "EP02", "NP01"))
    return Experiment(**{**values, **changes})


def plan_with(backend, **changes):
    return build_plan(experiment(**changes), backends={"scripted/test": backend},
                      options=BackendOptions(max_retries=1, backoff_s=0.001))


def sum_solver(chat, config):
    line = next(x for x in chat[-1].content.splitlines() if x.startswith("Input:"))
    words = line.split()[1:]
    return str(sum(map(int, words))) if words[0].isdigit() else words[0][0]


def test_every_cell_once_with_full_record(tmp_path):
    backend = ScriptedBackend(reply=sum_solver)
    result = run(plan_with(backend), tmp_path / "r", progress=False)
    records = list(iter_records(tmp_path / "r"))
    assert len(records) == 2 * 5 * 4 == len(result.plan.cells)
    assert len({r.key for r in records}) == len(records)
    raw = json.loads((tmp_path / "r" / "records.jsonl").read_text().splitlines()[0])
    for field in ("schema_version", "model", "task", "sample_id", "condition", "repeat", "messages", "response",
                  "answer", "score", "correct", "parsed", "error", "tokens_in", "tokens_out", "latency_s", "cached"):
        assert field in raw
    assert raw["schema_version"] == 2
    assert all(r.correct for r in records)
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["control"] == "PL01" and manifest["schema_version"] == 2
    assert manifest["versions"]["emoprompt"]
    ep02 = next(r for r in records if r.condition == "EP02")
    assert "This is very important to my career." in ep02.messages[0].content


def test_conditions_interleave_item_by_item(tmp_path):
    plan = plan_with(ScriptedBackend())
    first_item = plan.cells[:4]
    assert {c.condition.name for c in first_item} == {"baseline", "PL01", "EP02", "NP01"}
    assert len({(c.task.name, c.sample.id) for c in first_item}) == 1
    orders = {tuple(c.condition.name for c in plan.cells[i:i + 4]) for i in range(0, 40, 4)}
    assert len(orders) > 1


def test_resume_runs_only_missing_cells(tmp_path):
    backend = ScriptedBackend(reply=sum_solver)
    plan = plan_with(backend)
    run(plan, tmp_path / "r", progress=False)
    lines = (tmp_path / "r" / "records.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "r" / "records.jsonl").write_text("".join(lines[:13]) + lines[13][:20])
    calls_before = len(backend.history)
    again = run(plan_with(backend), tmp_path / "r", progress=False, use_cache=False)
    assert again.counters.already_done == 13 and again.counters.ran == 27
    assert len(backend.history) - calls_before == 27
    keys = Counter(r.key for r in iter_records(tmp_path / "r"))
    assert len(keys) == 40 and set(keys.values()) == {1}


def test_cache_serves_a_rerun(tmp_path):
    backend = ScriptedBackend(reply=sum_solver)
    run(plan_with(backend), tmp_path / "a", progress=False)
    calls = len(backend.history)
    result = run(plan_with(backend), tmp_path / "b", progress=False)
    assert len(backend.history) == calls
    assert result.counters.cache_hits == 40 and result.counters.model_calls == 0
    assert all(r.cached for r in iter_records(tmp_path / "b"))


def test_repeats_are_distinct_cells_and_cache_entries(tmp_path):
    backend = ScriptedBackend(reply=sum_solver)
    result = run(plan_with(backend, repeats=3), tmp_path / "r", progress=False)
    assert len(result.plan.cells) == 120 and result.counters.model_calls == 120


OUTAGE = {"on": True}
"""Module state, not a captured variable: the backend's identity (and so the experiment) stays the same while the
outage ends, as a real server's does."""


def flaky(chat, config):
    if OUTAGE["on"] and "career" in chat[-1].content:
        return RequestError("server_error", "boom")
    return sum_solver(chat, config)


def test_failures_become_error_records_not_wrong_answers(tmp_path):
    OUTAGE["on"] = True
    result = run(plan_with(ScriptedBackend(reply=flaky)), tmp_path / "r", progress=False)
    errors = [r for r in iter_records(tmp_path / "r") if r.error]
    assert len(errors) == 10 and all(r.condition == "EP02" for r in errors)
    assert len(result.plan.backends["scripted/test"].backend.history) == 40 + 10  # each failure retried once
    assert all(r.score is None and r.correct is None for r in errors)
    from emoprompt.report.summary import summary_of_cells

    summary = summary_of_cells([(model, cell) for model, cell, _ in result.digests], ["baseline", "EP02"])
    ep02 = next(s for s in summary if s.condition == "EP02")
    assert ep02.errors == 10 and ep02.accuracy != ep02.accuracy  # NaN: no valid cells
    assert result.manifest.errors == 10
    OUTAGE["on"] = False
    rerun = run(plan_with(ScriptedBackend(reply=flaky)), tmp_path / "r", progress=False, retry_errors=True)
    assert rerun.counters.ran == 10
    records = list(iter_records(tmp_path / "r"))
    assert len(records) == 40 and not any(r.error for r in records)


def test_folder_with_another_experiment_is_refused(tmp_path):
    run(plan_with(ScriptedBackend()), tmp_path / "r", progress=False)
    with pytest.raises(UsageError, match="holds a different experiment"):
        run(plan_with(ScriptedBackend(), limit=6), tmp_path / "r", progress=False)


def test_experiment_roundtrip_and_validation():
    original = experiment(repeats=2)
    assert Experiment.from_dict(original.to_dict()) == original
    with pytest.raises(UsageError, match="repeats must be 1 or more"):
        experiment(repeats=0)
    with pytest.raises(UsageError, match="Did you mean 'conditions'"):
        Experiment.from_dict({"conditons": ["EP02"]})
    with pytest.raises(UsageError, match="`repeats` must be int"):
        Experiment.from_dict({"repeats": "3"})
    with pytest.raises(UsageError, match="Did you mean 'temperature'"):
        Experiment.from_dict({"generation": {"temprature": 0.5}})


def test_family_names_expand_and_control_defaults_to_placebo():
    conditions = experiment(conditions=("baseline", "placebo", "emotionprompt", "EP02")).resolve_conditions()
    names = [c.name for c in conditions]
    assert names[:4] == ["baseline", "PL01", "PL02", "PL03"] and names.count("EP02") == 1 and len(names) == 15
    assert experiment().control_condition(experiment().resolve_conditions()) == "PL01"
    no_placebo = experiment(conditions=("baseline", "EP02"))
    assert no_placebo.control_condition(no_placebo.resolve_conditions()) == "baseline"
    with_placement = experiment(conditions=("EP02@system",)).resolve_conditions()
    assert with_placement[0].name == "EP02@system" and with_placement[0].transform.placement == "system"
