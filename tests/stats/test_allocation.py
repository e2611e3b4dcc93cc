"""The items × wordings × repeats planner: hand-checked variance and the wording floor that items cannot lower."""

import math

import pytest
from scipy import stats

from emoprompt.stats.allocation import PilotComponents, design_mde, recommend

PILOT = PilotComponents(item=0.04, wording=0.0025, cell=0.09, repeat=0.02, tasks=4, conditions=3, stimuli=2,
                        calls_per_cell=1.0, pilot_items=20, pilot_wordings=3, pilot_repeats=2)


def test_the_variance_of_a_design_by_hand():
    design = design_mde(PILOT, 50, 5, 2, 0.05, 0.8, 2)
    variance = (0.04 / 50 + 0.0025 / 5 + (0.09 + 0.02 / 2) / 250) / 4
    quantile = stats.t.ppf(1 - 0.05 / 4, design.df) + stats.t.ppf(0.8, design.df)
    assert design.mde == pytest.approx(quantile * math.sqrt(variance))
    assert design.calls == 4 * 50 * 5 * 2 * 3


def test_items_cannot_lower_the_wording_floor_but_wordings_can():
    one_wording = [design_mde(PILOT, n, 1, 1, 0.05, 0.8, 1).mde for n in (100, 800, 100_000)]
    floor = 2.8 * math.sqrt(0.0025 / 4)  # σ_wording/√T times roughly z₀.₉₇₅ + z₀.₈
    assert one_wording[-1] == pytest.approx(floor, rel=0.01)
    five = design_mde(PILOT, 800, 5, 1, 0.05, 0.8, 1).mde
    assert five < one_wording[1]


def test_recommend_picks_the_cheapest_design_meeting_the_target():
    best, alternatives = recommend(PILOT, 0.05, 0.05, 0.8, 2)
    assert best is not None and best.mde <= 0.05
    cheaper = [a for a in alternatives if a.calls < best.calls]
    assert all(a.mde > 0.05 for a in cheaper)
    assert [a.wordings for a in alternatives] == [1, 2, 3, 5, 8, 12]
    impossible, _ = recommend(PILOT, 0.001, 0.05, 0.8, 2)
    assert impossible is None
