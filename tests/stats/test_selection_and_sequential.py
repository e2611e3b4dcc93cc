"""Honest "best stimulus" claims and peeking-safe A/B: seeded simulations side by side with the naive answers,
routing as one treatment, a budgeted search on a scripted model, and `emoprompt ab status` on real A/B folders."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import emoprompt
from emoprompt.ab_status import ab_status
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.cli import cli
from emoprompt.runner.halving import successive_halving
from emoprompt.stats.selection import select_and_estimate
from emoprompt.stats.sequential import aipw, confidence_sequence, e_bh, e_value, sample_ratio_mismatch

STIMULI = [f"S{i}" for i in range(11)]


def null_study(rng, items=240, ability_sd=0.5):
    ability = rng.normal(0, ability_sd, items)
    chance = 1 / (1 + np.exp(-ability))
    columns = {name: (rng.random(items) < chance).astype(float) for name in [*STIMULI, "placebo"]}
    index = pd.MultiIndex.from_arrays([[f"t{i % 4}" for i in range(items)], [str(i) for i in range(items)]],
                                      names=["task", "item"])
    return pd.DataFrame(columns, index=index)


def test_with_eleven_null_stimuli_the_naive_winner_lies_and_the_honest_estimates_do_not():
    rng = np.random.default_rng(18)
    studies = 600
    excluded = {"naive": 0, "split": 0, "simultaneous": 0}
    for study in range(studies):
        result = select_and_estimate(null_study(rng), STIMULI, "placebo", draws=2000, seed=study)
        for key in excluded:
            estimate = getattr(result, key)
            excluded[key] += not (estimate.ci_low <= 0 <= estimate.ci_high)
    rates = {key: count / studies for key, count in excluded.items()}
    assert rates["naive"] >= 0.12, rates  # far above α = 0.05: the winner's curse
    assert rates["split"] <= 0.06 and rates["simultaneous"] <= 0.06, rates


def test_routing_per_task_is_one_treatment_learned_on_half_the_items():
    rng = np.random.default_rng(3)
    items = 400
    task = np.array(["arith" if i % 2 else "words" for i in range(items)])
    base = rng.random(items) < 0.4
    helps = {"S0": task == "arith", "S1": task == "words"}
    columns = {"placebo": base.astype(float)}
    for name, where in helps.items():
        columns[name] = np.where(where & (rng.random(items) < 0.5), 1.0, base.astype(float))
    index = pd.MultiIndex.from_arrays([task, [str(i) for i in range(items)]], names=["task", "item"])
    result = select_and_estimate(pd.DataFrame(columns, index=index), ["S0", "S1"], "placebo", policy="task")
    assert result.routing.chosen == {"arith": "S0", "words": "S1"}
    assert result.routing.diff > result.split.diff and result.routing.ci_low > 0
    assert result.routing.n_items == items // 2


def better_with_ep02(chat, config):
    content = chat[-1].content
    words = next(x for x in content.splitlines() if x.startswith("Input:")).split()[1:]
    right = str(sum(map(int, words)))
    return right if ("career" in content or int(words[0]) % 4 == 0) else "0"


def test_successive_halving_finds_the_helpful_stimulus_within_its_budget(tmp_path):
    experiment = emoprompt.Experiment(models=["scripted/s"], tasks=["sum"], limit=80,
                                      conditions=["PL01", "emotionprompt"])
    result = successive_halving(experiment, budget=600, out=tmp_path / "search",
                                backends={"scripted/s": ScriptedBackend(reply=better_with_ep02)})
    assert result["winner"] == "EP02" and result["cells_run"] <= 600
    assert [len(r["candidates"]) for r in result["rounds"]] == [11, 6, 3, 2]
    assert result["estimate"]["diff"] > 0.5 and result["held_out_items"] == 24
    records = [json.loads(line) for line in (tmp_path / "search" / "records.jsonl").read_text().splitlines()]
    assert len(records) == result["cells_run"]
    with pytest.raises(emoprompt.UsageError, match="give --budget"):
        successive_halving(experiment, budget=50, out=tmp_path / "small",
                           backends={"scripted/s": ScriptedBackend(reply=better_with_ep02)})


# --- peeking-safe A/B --------------------------------------------------------------------------------------------

def test_checking_an_aa_test_every_50_outcomes_is_safe_with_the_sequence_and_not_with_a_fixed_n_test():
    rng = np.random.default_rng(2024)
    streams, n = 300, 10_000
    checks = np.arange(50, n + 1, 50)
    sequence_stops = fixed_stops = 0
    for _ in range(streams):
        treated = rng.random(n) < 0.5
        outcome = (rng.random(n) < 0.3).astype(float)
        mean, radius = confidence_sequence(aipw(outcome, treated, 0.5)[1:], 0.05, 10_000)
        sequence_stops += bool(np.any(np.abs(mean[checks - 2]) > radius[checks - 2]))  # ψ starts at call 2
        arm, rest = np.cumsum(treated)[checks - 1], np.cumsum(~treated)[checks - 1]
        rate_arm = np.cumsum(outcome * treated)[checks - 1] / arm
        rate_rest = np.cumsum(outcome * ~treated)[checks - 1] / rest
        se = np.sqrt(rate_arm * (1 - rate_arm) / arm + rate_rest * (1 - rate_rest) / rest)
        with np.errstate(divide="ignore", invalid="ignore"):
            fixed_stops += bool(np.any(np.abs(rate_arm - rate_rest) / se > 1.96))
    assert sequence_stops / streams <= 0.05
    assert fixed_stops / streams > 0.20  # the same peeking with a fixed-n test


def test_the_sequence_depends_on_the_outcomes_spread_not_their_level():
    rng = np.random.default_rng(30)
    treated = rng.random(10_000) < 0.5
    outcome = rng.normal(0.5, 0.2, 10_000) + 0.02 * treated
    widths = []
    for shift in (0, 1, 3, 6, 10):
        mean, radius = confidence_sequence(aipw(outcome + shift, treated, 0.5)[1:], 0.05, 10_000)
        widths.append(radius[-1])
        assert mean[-1] == pytest.approx(np.mean(outcome[treated]) - np.mean(outcome[~treated]), abs=0.01)
    assert max(widths) / min(widths) < 1.01, widths


def test_centring_by_earlier_means_keeps_the_estimate_unbiased_and_the_e_value_matches_the_interval():
    rng = np.random.default_rng(31)
    estimates = []
    for _ in range(400):
        treated = rng.random(200) < 0.3
        outcome = rng.normal(5.0 + 0.5 * treated, 1.0)
        estimates.append(np.mean(aipw(outcome, treated, 0.3)[1:]))
    assert np.mean(estimates) == pytest.approx(0.5, abs=0.03)  # E[ψ | past] = the difference, whatever the centre
    for size in (60, 600, 6_000):
        psi = rng.normal(0.05, 1.0, size)
        mean, radius = confidence_sequence(psi, 0.05, 10_000)
        assert (abs(mean[-1]) > radius[-1]) == (e_value(psi, 0.05, 10_000) >= 20)


def test_e_bh_and_sample_ratio_by_hand():
    assert e_bh([100.0, 30.0, 1.0], alpha=0.05) == [True, True, False]  # 100 ≥ 3/0.05, 30 ≥ 3/0.1
    assert e_bh([50.0, 1.0, 1.0], alpha=0.05) == [False, False, False]  # 50 < 60
    assert sample_ratio_mismatch({"a": 500, "b": 500}, {"a": 1, "b": 1}) > 0.9
    assert sample_ratio_mismatch({"a": 600, "b": 400}, {"a": 1, "b": 1}) < 1e-9


def live_test(folder, arms, calls, seed=0, weights=None, outcome=None, error=None, assignment=None):
    rng = np.random.default_rng(seed)
    options = {"assignment": "weighted", "weights": weights} if weights else {}
    test = emoprompt.ab(arms, folder, seed=seed, **options)

    @test
    def reply(prompt):
        condition = "EP02" if "career" in prompt else "baseline"
        if error and rng.random() < error.get(condition, 0):
            raise RuntimeError("upstream failure")
        return condition

    for _ in range(calls):
        try:
            answer = reply("Help me.")
        except RuntimeError:
            continue
        emoprompt.record_outcome(emoprompt.current_call_id(), float(rng.random() < (outcome or {}).get(answer, 0.5)))
    test.close()
    return folder


def test_status_says_stop_when_an_arm_is_better_and_continue_on_an_aa_test(tmp_path):
    better = live_test(tmp_path / "better", ["baseline", "EP02"], 1200, outcome={"baseline": 0.4, "EP02": 0.6})
    status = ab_status(better)
    assert status.decision == "stop: EP02 better" and status.srm_p > 0.001
    same = live_test(tmp_path / "same", ["baseline", "EP02"], 400, seed=1)
    assert ab_status(same).decision == "continue"
    printed = CliRunner().invoke(cli, ["ab", "status", str(better)])
    assert printed.exit_code == 0 and printed.output.startswith("stop: EP02 better")
    report = CliRunner().invoke(cli, ["report", str(better)])
    assert report.exit_code == 0 and (better / "sequence-ep02.svg").is_file()
    assert "Anytime-valid status: stop: EP02 better" in (better / "report.md").read_text()


def test_status_checks_guardrails_and_the_assignment(tmp_path):
    failing = live_test(tmp_path / "failing", ["baseline", "EP02"], 1500, error={"EP02": 0.15})
    assert ab_status(failing).decision == "stop: guardrail"
    skewed = live_test(tmp_path / "skewed", ["baseline", "EP02"], 800, weights=[0.8, 0.2])
    manifest = json.loads((skewed / "manifest.json").read_text())
    manifest["metadata"]["sequential"]["weights"] = {"baseline": 1, "EP02": 1}  # the design said 50/50
    (skewed / "manifest.json").write_text(json.dumps(manifest))
    assert ab_status(skewed).decision == "check assignment"


def test_status_says_equivalent_when_every_interval_is_inside_the_margin(tmp_path):
    equal = live_test(tmp_path / "equal", ["baseline", "EP02"], 6000, seed=4)
    assert ab_status(equal, delta=0.1).decision == "stop: equivalent"
    assert ab_status(equal, delta=0.001).decision == "continue"


def test_guardrails_are_their_own_family_and_continue_names_an_interval_that_excludes_zero(tmp_path):
    three = live_test(tmp_path / "three", ["baseline", "EP02", "NP01"], 900, seed=5,
                      outcome={"baseline": 0.4, "EP02": 0.5, "NP01": 0.4})
    status = ab_status(three)
    sizes = {(row["arm"], row["metric"]): row["family_size"] for row in status.contrasts}
    assert sizes[("EP02", "score")] == 2 and sizes[("EP02", "error")] == sizes[("EP02", "latency_s")] == 4
    from emoprompt.ab_status import _decide

    rows = [{**row, "discovery": False} for row in status.contrasts if row["metric"] == "score"]
    rows[0].update(ci_low=0.0013, ci_high=0.072)
    decision, reason = _decide(rows, status.arms, 0.5, 0.02)
    assert decision == "continue" and "excludes 0, but not after correcting for 2 arms (e-BH)" in reason


def test_probability_best_follows_the_evidence_and_sums_to_one():
    from emoprompt.stats.selection import probability_best

    rng = np.random.default_rng(40)
    items = 300
    tied = (rng.random(items) < 0.2).astype(float) - (rng.random(items) < 0.2)
    differences = pd.DataFrame({"clear": (rng.random(items) < 0.3).astype(float) - (rng.random(items) < 0.1),
                                "tied_a": tied, "tied_b": rng.permutation(tied)})  # equal means, other items
    best = probability_best(differences, seed=1)
    assert sum(best.values()) == pytest.approx(1.0) and best["clear"] > 0.99
    close = probability_best(differences[["tied_a", "tied_b"]], seed=1)
    assert 0.1 < close["tied_a"] < 0.9 and close["tied_a"] + close["tied_b"] == pytest.approx(1.0)
    same = probability_best(pd.DataFrame({"a": np.zeros(10), "b": np.zeros(10)}))
    assert same == {"a": 0.5, "b": 0.5}  # ties shared
