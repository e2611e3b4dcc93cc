"""The gate's statistics: verdict semantics, and seeded simulations of its error rates and power — against the
naive threshold gates CI pipelines use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoprompt.stats.gate import (
    ALLOW,
    INCONCLUSIVE,
    REJECT,
    GateRule,
    design_power,
    fixed_gate,
    fixed_items,
    items_to_decide,
    sequential_gate,
    sequential_items,
)

MARGIN, DISCORDANCE, ACCURACY = 0.05, 0.2, 0.7


def paired_items(rng: np.random.Generator, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """n items right/wrong under the reference and the candidate: 20% discordant, candidate − reference = delta."""
    u = rng.random(n)
    worse, better = DISCORDANCE / 2 - delta / 2, DISCORDANCE / 2 + delta / 2
    reference = (rng.random(n) < ACCURACY).astype(float)
    candidate = reference.copy()
    candidate[u < worse] = 0.0
    reference[u < worse] = 1.0
    candidate[(u >= worse) & (u < worse + better)] = 1.0
    reference[(u >= worse) & (u < worse + better)] = 0.0
    return candidate, reference


def test_verdicts_follow_the_zone_of_each_question():
    inferiority = GateRule(0.02)
    assert inferiority.zone == (-0.02, 0.0)
    assert inferiority.verdict(-0.01, 0.03) == ALLOW
    assert inferiority.verdict(-0.015, -0.001) == ALLOW  # worse, but by less than the margin: no worse than it
    assert inferiority.verdict(-0.08, -0.001) == REJECT
    assert inferiority.verdict(-0.03, 0.01) == INCONCLUSIVE
    superiority = GateRule(0.02, superiority=True)
    assert superiority.zone == (0.0, 0.02)
    assert superiority.verdict(0.001, 0.05) == ALLOW
    assert superiority.verdict(-0.03, 0.015) == REJECT  # cannot be better by the margin
    assert superiority.verdict(-0.01, 0.05) == INCONCLUSIVE


def test_the_fixed_gate_uses_the_contrasts_own_test_at_two_alpha():
    candidate = np.array([1.0] * 40 + [0.0] * 10 + [1.0] * 2 + [0.0] * 48)
    reference = np.array([1.0] * 40 + [1.0] * 10 + [0.0] * 2 + [0.0] * 48)
    decision = fixed_gate(candidate, reference, 1, GateRule(0.02))
    assert decision.method == "mcnemar-midp/dirichlet" and decision.verdict == REJECT
    assert decision.estimate == pytest.approx(-0.08)
    repeated = fixed_gate(candidate * 0.5 + 0.25, reference * 0.5 + 0.25, 2, GateRule(0.02))
    assert repeated.method == "paired-t"


def test_inconclusive_says_about_how_many_items_decide_it_and_that_many_usually_do():
    rule = GateRule(MARGIN)
    rng = np.random.default_rng(3)
    candidate, reference = paired_items(rng, 60, 0.0)
    decision = fixed_gate(candidate, reference, 1, rule)
    assert decision.verdict == INCONCLUSIVE
    needed = decision.items_to_decide
    assert needed is not None and needed > 60
    decided = sum(fixed_gate(*paired_items(rng, needed, 0.0), 1, rule).verdict != INCONCLUSIVE for _ in range(300))
    assert decided / 300 > 0.6
    assert items_to_decide(0.0, 0.2, GateRule(0.0, superiority=True)) is None  # on the boundary: nothing decides


def test_fixed_gate_error_rates_and_power_at_its_design_size():
    rule = GateRule(MARGIN)
    n = int(fixed_items(DISCORDANCE, rule))
    assert design_power(DISCORDANCE, n, rule) == pytest.approx(0.8, abs=0.01)
    rng = np.random.default_rng(11)
    a_a = [fixed_gate(*paired_items(rng, n, 0.0), 1, rule).verdict for _ in range(400)]
    regression = [fixed_gate(*paired_items(rng, n, -MARGIN), 1, rule).verdict for _ in range(400)]
    noise = 2 * math.sqrt(0.05 * 0.95 / 400)  # the interval is approximate: α within simulation noise
    assert a_a.count(REJECT) / 400 <= 0.05 + noise
    assert regression.count(ALLOW) / 400 <= 0.05 + noise
    assert regression.count(REJECT) / 400 >= 0.75  # stated power 0.80; 400 draws (se 0.02)


def test_sequential_gate_false_reject_at_most_alpha_at_every_number_of_looks():
    rule, most, step = GateRule(MARGIN), 600, 20
    looks = list(range(step, most + 1, step))
    rng = np.random.default_rng(7)
    first_reject = []
    for _ in range(500):
        candidate, reference = paired_items(rng, most, 0.0)
        decision = sequential_gate(candidate - reference, looks, rule, most, 0.7, 0.7)
        first_reject.append(decision.n_items if decision.verdict == REJECT else math.inf)
    by_look = [np.mean(np.array(first_reject) <= look) for look in looks]
    assert max(by_look) <= 0.05


def test_sequential_gate_meets_its_stated_power_and_saves_calls_when_the_truth_is_clear():
    rule, step = GateRule(MARGIN), 20
    most = sequential_items(DISCORDANCE, rule)
    assert most is not None and design_power(DISCORDANCE, most, rule, sequential_plan=most) >= 0.8
    looks = list(range(step, most + 1, step))
    rng = np.random.default_rng(5)
    regression = [sequential_gate(np.subtract(*paired_items(rng, most, -MARGIN)), looks, rule, most, 0.7, 0.65)
                  for _ in range(300)]
    assert sum(d.verdict == REJECT for d in regression) / 300 >= 0.8
    assert sum(d.verdict == ALLOW for d in regression) / 300 <= 0.05
    clear = [sequential_gate(np.subtract(*paired_items(rng, most, -2 * MARGIN)), looks, rule, most, 0.7, 0.6)
             for _ in range(300)]
    fixed_n = fixed_items(DISCORDANCE, rule)
    assert np.median([d.n_items for d in clear]) < 0.6 * fixed_n


def test_naive_threshold_gates_fail_harmless_changes_far_more_often_than_alpha():
    rng = np.random.default_rng(2)
    n, rule, draws = 200, GateRule(MARGIN), 2000
    naive_drop, naive_margin, ours = 0, 0, 0
    for _ in range(draws):
        candidate, reference = paired_items(rng, n, 0.0)
        naive_drop += candidate.mean() < reference.mean()
        naive_margin += candidate.mean() < reference.mean() - MARGIN / 2
        ours += fixed_gate(candidate, reference, 1, rule).verdict == REJECT
    assert naive_drop / draws > 0.35 and naive_margin / draws > 0.15
    assert ours / draws <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / draws)  # an approximate interval: α within noise
