"""The pure-Python analysis of a run with one condition equals the full analysis of the same records."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from emoprompt.schema import ErrorInfo, Record
from emoprompt.stats.analysis import analyze
from emoprompt.stats.describe import describe
from emoprompt.stats.frame import records_frame
from emoprompt.stats.spec import AnalysisSpec
from tests.conftest import REPO


def records(condition="baseline", models=("m1", "m2"), tasks=("t1", "t2", "t3"), items=7, repeats=1, seed=0,
            scores=(0.0, 1.0), error_rate=0.15, **extra):
    rng = random.Random(seed)
    made = []
    for model in models:
        for task in tasks:
            for item in range(items):
                for repeat in range(repeats):
                    key = f"{model}/{task}/{item}/{condition}/{repeat}"
                    if rng.random() < error_rate:
                        made.append(Record(key=key, model=model, task=task, sample_id=str(item), condition=condition,
                                           repeat=repeat, error=ErrorInfo(rng.choice(["timeout", "rate_limit"]), "x")))
                        continue
                    made.append(Record(key=key, model=model, task=task, sample_id=str(item), condition=condition,
                                       repeat=repeat, score=rng.choice(scores),
                                       parsed=rng.choice([True, True, False, None]),
                                       tokens_out=rng.choice([None, 3, 5, 8]), tokens_in=12, cost_usd=0.001,
                                       cached=rng.random() < 0.3, **extra))
    return made


def assert_same(described, analysed, path="analysis"):
    if isinstance(analysed, dict):
        assert isinstance(described, dict) and set(described) == set(analysed), (path, described, analysed)
        for key in analysed:
            assert_same(described[key], analysed[key], f"{path}.{key}")
    elif isinstance(analysed, list):
        assert isinstance(described, list) and len(described) == len(analysed), (path, described, analysed)
        for index, (mine, theirs) in enumerate(zip(described, analysed, strict=True)):
            assert_same(mine, theirs, f"{path}[{index}]")
    elif isinstance(analysed, float) and not isinstance(described, bool):
        assert described == pytest.approx(analysed, rel=1e-12, abs=1e-15), path
    else:
        assert described == analysed and type(described) is type(analysed), (path, described, analysed)


CASES = {
    "baseline only, errors, two models": (records(), AnalysisSpec(conditions=("baseline",))),
    "repeats averaged within items": (records(repeats=3, seed=1), AnalysisSpec(conditions=("baseline",), repeats=3)),
    "repeats found, not declared": (records(repeats=2, seed=2), AnalysisSpec()),
    "scores in points": (records(scores=(0.0, 2.5, 7.0), seed=3), AnalysisSpec(conditions=("baseline",))),
    "fractional scores in 0-1": (records(scores=(0.0, 0.25, 0.5, 1.0), seed=4), AnalysisSpec()),
    "a stimulus without its control": (records("EP02", seed=5), AnalysisSpec(
        control="PL01", families={"EP02": "emotionprompt"}, conditions=("EP02",))),
    "the placebo alone (control, not baseline)": (records("PL01", seed=6), AnalysisSpec(
        control="PL01", families={"PL01": "placebo"}, conditions=("PL01",))),
    "BIG-Bench normalized scores": (records(seed=7), AnalysisSpec(task_info={
        "t1": {"random_baseline": 0.25, "preferred_score": "multiple_choice_grade"}, "t2": {"random_baseline": 1.0}})),
    "a model whose every cell failed": (records(seed=8) + records(models=("m3",), error_rate=1.0), AnalysisSpec()),
    "a task whose every cell failed for one model": (
        [r for r in records(seed=9) if not (r.model == "m1" and r.task == "t2")]
        + [r for r in records(seed=9, error_rate=1.0) if r.model == "m1" and r.task == "t2"], AnalysisSpec()),
    "one wording named": (records(seed=10, paraphrase="p0"), AnalysisSpec()),
    "a declared alpha": (records(seed=11), AnalysisSpec(alpha=0.1, sesoi=0.05)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_describe_equals_the_full_analysis(case):
    made, spec = CASES[case]
    described = describe(made, spec)
    assert described is not None
    assert_same(described, analyze(records_frame(made), spec))
    json.dumps(described, allow_nan=False)


def test_scores_that_are_missing_on_answered_cells_count_as_pandas_counts_them():
    made = records(seed=12, error_rate=0.0)
    made = [r.replace(score=None) if r.task == "t3" or (r.task == "t1" and r.sample_id == "0") else r for r in made]
    described = describe(made, AnalysisSpec())
    assert described is not None
    assert_same(described, analyze(records_frame(made), AnalysisSpec()))
    assert described["models"]["m1"]["heatmap"]["t3"] == {"baseline": None}
    assert "t3" not in described["models"]["m1"]["tasks_compared"]


def test_runs_that_compare_or_loop_take_the_full_analysis():
    one = records(models=("m",), tasks=("t",), error_rate=0.0)
    assert describe(one, AnalysisSpec()) is not None
    assert describe(one + records("PL01", models=("m",), tasks=("t",)), AnalysisSpec()) is None
    assert describe(one, AnalysisSpec(conditions=("baseline", "PL01"))) is None  # the run declared two
    assert describe([r.replace(paraphrase=f"p{i % 2}") for i, r in enumerate(one)], AnalysisSpec()) is None
    assert describe([r.replace(attempt_scores=[0.0, 1.0]) for r in one], AnalysisSpec()) is None
    assert describe(one + one[:1], AnalysisSpec()) is None  # a duplicate cell: the full analysis names it
    assert describe([], AnalysisSpec()) is None


def test_one_condition_is_reported_without_pandas_numpy_or_scipy(tmp_path):
    from emoprompt.report.render import write_report
    from emoprompt.report.runs import _analyze_run, spec_from_manifest
    from emoprompt.runner.store import RunStore, read_manifest
    from emoprompt.schema import ConditionInfo, Manifest

    run = tmp_path / "run"
    store = RunStore(run)
    store.open()
    store.write_manifest(Manifest(run_id="r", conditions=[ConditionInfo("baseline", "baseline")],
                                  experiment={"name": "light"}))
    made = records()
    for record in made:
        store.append(record)
    store.close()
    code = ("import sys\nfrom pathlib import Path\nfrom emoprompt.report.runs import report_run\n"
            f"report_run(Path({str(run)!r}))\n"
            "print(sorted(m for m in ('pandas', 'numpy', 'scipy', 'statsmodels') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=os.environ | {"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    manifest = read_manifest(run)
    full = _analyze_run(made, spec_from_manifest(manifest), manifest, None)
    write_report(tmp_path / "full", full, {"manifest": manifest.to_dict(), "title": "emoprompt report: light (run)"})
    light = json.loads((run / "analysis.json").read_text())
    assert_same({k: v for k, v in light.items() if k in full}, json.loads(json.dumps(full)))
    assert (run / "report.html").read_text() == (tmp_path / "full" / "report.html").read_text()
    assert (run / "report.md").read_text() == (tmp_path / "full" / "report.md").read_text()
    assert light["headline"][0].startswith("m1: baseline scored ") and "nothing to compare" in light["headline"][0]
