import json
import re
import zlib

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.cli import cli
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import build_plan
from emoprompt.runner.run import run


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def solver(chat, config):
    content = chat[-1].content
    words = next(x for x in content.splitlines() if x.startswith("Input:")).split()[1:]
    right = str(sum(map(int, words))) if words[0].isdigit() else words[0][0]
    helped = "career" in content or "never been" in content
    return right if (helped or zlib.crc32(content.encode()) % 3) else "wrong"


@pytest.fixture
def finished_run(tmp_path):
    experiment = Experiment(models=("scripted/test",), tasks=("sum", "first_word_letter"), limit=30,
                            conditions=("baseline", "PL01", "EP02", "NP01"))
    plan = build_plan(experiment, backends={"scripted/test": ScriptedBackend(reply=solver)})
    run(plan, tmp_path / "run", progress=False)
    return tmp_path / "run"


def test_report_writes_every_file_and_is_self_contained(finished_run):
    result = invoke("report", finished_run)
    assert result.exit_code == 0, result.output
    for name in ("analysis.json", "report.md", "report.html", "forest-scripted-test.svg", "heatmap-scripted-test.svg"):
        assert (finished_run / name).is_file(), name
    html = (finished_run / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the report must not load anything"
    assert "<svg" in html and "Methods" in html and "Per task" in html and "Flips" in html
    analysis = json.loads((finished_run / "analysis.json").read_text())
    model = analysis["models"]["scripted/test"]
    ep02 = next(r for r in model["pooled"] if r["condition"] == "EP02")
    assert ep02["fixed"]["diff"] > 0.2 and ep02["confirmed"]
    assert analysis["headline"] and "EP02" in analysis["headline"][0]
    assert "experiment hash" in analysis["methods"]
    markdown = (finished_run / "report.md").read_text()
    assert "| condition |" in markdown and "Holm" in markdown


def test_records_from_another_harness(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for item in range(80):
        skill = rng.random()
        for condition, bonus in (("baseline", 0), ("placebo", 0.02), ("polite", 0.25)):
            for epoch in range(2):
                rows.append({"question": f"q{item}", "variant": condition, "acc": float(rng.random() < skill + bonus),
                             "epoch": epoch, "subject": "math" if item % 2 else "law"})
    path = tmp_path / "other.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = invoke("report", "--records", path, "--item-column", "question", "--condition-column", "variant",
                    "--score-column", "acc", "--repeat-column", "epoch", "--task-column", "subject")
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["spec"]["control"] == "placebo" and analysis["data"]["K"] == 2
    model = analysis["models"]["model"]
    polite = next(r for r in model["pooled"] if r["condition"] == "polite")
    assert polite["n_items"] == 80 and polite["fixed"]["diff"] > 0.1
    jsonl = tmp_path / "other.jsonl"
    pd.DataFrame(rows).to_json(jsonl, orient="records", lines=True)
    parquet = tmp_path / "other.parquet"
    pd.DataFrame(rows).to_parquet(parquet)
    for source in (jsonl, parquet):
        again = invoke("report", "--records", source, "--item-column", "question", "--condition-column", "variant",
                       "--score-column", "acc", "--out", tmp_path / source.suffix.strip("."))
        assert again.exit_code == 0, again.output


@pytest.mark.parametrize("args, message", [
    (["report"], "give a run folder or --records FILE"),
    (["report", "--records", "missing.csv"], "not found"),
    (["report", "/nonexistent"], "is not an emoprompt run folder"),
])
def test_report_bad_input(args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output


def test_records_with_blank_parse_cells_and_no_repeat_column(tmp_path):
    rows = [{"item": f"q{i}", "condition": c, "score": float((i + (c == "polite")) % 3 == 0),
             "parsed": "" if (i, c) == (3, "placebo") else "true"}
            for i in range(30) for c in ("baseline", "placebo", "polite")]
    path = tmp_path / "blank.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = invoke("report", "--records", path, "--parsed-column", "parsed")
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["data"]["K"] == 1
    assert any("1 rows have a blank 'parsed' cell (data rows" in w for w in analysis["warnings"])
    doubled = pd.concat([pd.DataFrame(rows), pd.DataFrame(rows[:1])])  # no repeat column: a second row is a duplicate
    doubled.to_csv(path, index=False)
    refused = invoke("report", "--records", path)
    assert refused.exit_code == 2 and "--dedupe" in refused.output


def test_select_reads_a_records_report_and_takes_a_seed(tmp_path, finished_run):
    rows = [{"item": f"q{i}", "condition": c, "score": float((i * 7 + len(c)) % 4 < 2)}
            for i in range(40) for c in ("baseline", "placebo", "kind", "stern", "warm")]
    path = tmp_path / "many.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert invoke("report", "--records", path).exit_code == 0
    assert "P(best), the share of item-bootstrap resamples" in (tmp_path / "report.md").read_text()
    chosen = invoke("select", tmp_path, "--json")
    assert chosen.exit_code == 0, chosen.output
    assert json.loads(chosen.output)["model"]["naive"]["chosen"] in {"kind", "stern", "warm"}
    other = invoke("select", tmp_path, "--seed", "3")
    assert other.exit_code == 2 and "run emoprompt select on a run folder" in other.output
    splits = {seed: json.loads(invoke("select", finished_run, "--seed", seed, "--json").output) for seed in (0, 1)}
    assert json.loads((finished_run / "analysis.json").read_text())["spec"]["select_seed"] == 1
    assert splits[0]["scripted/test"]["split"] != splits[1]["scripted/test"]["split"]


def test_records_with_a_wrong_column_names_the_flag(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,cond,score\n1,a,1\n")
    result = invoke("report", "--records", path)
    assert result.exit_code == 2 and "--item-column" in result.output


def test_compare_two_runs_and_refusal(finished_run, tmp_path):
    experiment = Experiment(models=("scripted/other",), tasks=("sum", "first_word_letter"), limit=30,
                            conditions=("baseline", "PL01", "EP02", "NP01"))
    plan = build_plan(experiment, backends={"scripted/other": ScriptedBackend(reply=lambda chat, config: "0")})
    run(plan, tmp_path / "other", progress=False)
    result = invoke("compare", finished_run, tmp_path / "other")
    assert result.exit_code == 0, result.output
    assert "240 shared cells" in result.output and "EP02" in result.output
    as_json = json.loads(invoke("compare", finished_run, tmp_path / "other", "--json").output)
    assert as_json["overall"]["diff"] < 0
    unrelated = Experiment(models=("scripted/x",), tasks=("diff",), limit=5, conditions=("baseline",))
    run(build_plan(unrelated, backends={"scripted/x": ScriptedBackend()}), tmp_path / "unrelated", progress=False)
    refused = invoke("compare", finished_run, tmp_path / "unrelated")
    assert refused.exit_code == 2 and "share no cells" in refused.output


def test_plan_before_a_run(tmp_path):
    result = invoke("plan", "--items", 200, "--family", 40, "--discordance", 0.2)
    assert result.exit_code == 0
    assert "minimum detectable effect at 80% power: 13.0 pp" in result.output  # noncentral t; normal: 12.9
    assert "design: exploratory" in result.output
    experiment = tmp_path / "e.toml"
    experiment.write_text('models = ["scripted/echo"]\nconditions = ["baseline", "PL01", "EP02"]\nlimit = 50\n')
    from_file = invoke("plan", experiment)
    assert from_file.exit_code == 0 and "50 items per contrast, family of 9" in from_file.output


def test_plan_says_when_the_discordance_caps_the_effect_and_counts_items_by_its_own_mde():
    capped = invoke("plan", "--items", 50, "--discordance", 0.1)
    assert "minimum detectable effect at 80% power: none — 12.8 pp would be needed" in capped.output
    assert "the largest effect possible is 10.0 pp" in capped.output and "design: exploratory" in capped.output
    beyond = invoke("plan", "--discordance", 0.02, "--sesoi", 0.05)
    assert "none suffice" in beyond.output and "design: exploratory" in beyond.output
    counted = invoke("plan", "--discordance", 0.2, "--sesoi", 0.05)
    needed = int(re.search(r"smallest effect of interest \(5.0 pp\): (\d+)", counted.output).group(1))
    from emoprompt.stats.power import mde_paired

    assert mde_paired(0.2, needed) <= 0.05 < mde_paired(0.2, needed - 1)
