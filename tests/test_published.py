"""`emoprompt replicate PROTOCOL --published`: the studies' own numbers re-analysed (hand-checked values)."""

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.published import holm_feasibility, null_extremes, published_reanalysis
from emoprompt.replication import reported


def test_anand_per_model_rows_sum_to_the_published_pooled_table():
    paper = reported("anand-multiplication")
    variants = list(paper["per_model"]["variants"])
    models = [m for m in paper["per_model"] if m != "variants"]
    assert len(models) == 40
    for name, (better, worse, same, _, _) in paper["pooled"].items():
        column = variants.index(name)
        totals = [sum(paper["per_model"][m][column][k] for m in models) for k in range(3)]
        assert totals == [better, worse, same], name


def test_anand_reanalysis_reproduces_the_sign_test_then_uses_models_as_the_unit():
    rows = {r["variant"]: r for r in published_reanalysis("anand-multiplication",
                                                          reported("anand-multiplication"))["rows"]}
    emotion = rows["Emotion"]
    assert (emotion["better"], emotion["worse"]) == (7, 21)
    assert emotion["sign_test_p"] == pytest.approx(0.0125, abs=0.0005)  # two-sided binomial 7 of 28
    assert emotion["by_model"]["diff"] == pytest.approx(-0.035)
    assert emotion["by_model"]["ci_low"] < -0.035 < emotion["by_model"]["ci_high"] < 0
    assert emotion["mde_models"] > emotion["mde_independent_pairs"]


def test_holm_over_every_contrast_the_report_tested():
    # m = 80, k = 15 significant: Holm's largest threshold is 0.05 / 66 = 0.000758
    paper = {"contrasts_tested": 80, "significant_reported": 15, "contrasts": [
        {"p": "0.031"}, {"p": "0.002"}, {"p": "0.001"}, {"p": "<0.001"}]}
    assert [r["holm"] for r in holm_feasibility(paper, 0.05)] == ["fails", "fails", "undetermined", "undetermined"]
    unknown = holm_feasibility({**paper, "significant_reported": 80}, 0.05)
    assert {r["holm"] for r in unknown} == {"undetermined"}


def test_single_question_extremes_under_no_effect():
    # 198 questions at accuracy 0.5, 25 runs each: a difference has SD sqrt(2 * .25 / 25) = 14.1 pp, and the
    # largest of 198 such differences lies near 2.6 SD, about +36 pp; the published +36 / -35 pp sit inside it
    result = null_extremes(198, 25, draws=1000, seed=1)
    low, median, high = result["half"]["gain"]
    assert 32 <= median <= 40 and low >= 20 and high <= 60
    assert result["half"]["loss"][1] == pytest.approx(-median, abs=4)
    assert 24 <= result["uniform"]["gain"][1] <= 36


@pytest.mark.parametrize("protocol, expected", [
    ("wharton-psr3", ["Holm over 80 contrasts", "leaves 4 of these 10", "+36 / -28 pp",
                      "what repeat noise gives the most extreme question"]),
    ("wharton-psr4", ["Holm over 96 contrasts", "does not say how many were significant"]),
    ("mind-your-tone", ["a net 2 of 50 questions", "decoding noise"]),
])
def test_replicate_published_explains_each_study(protocol, expected):
    result = CliRunner().invoke(cli, ["replicate", protocol, "--published"])
    assert result.exit_code == 0, result.output
    for phrase in expected:
        assert phrase in result.output, phrase
