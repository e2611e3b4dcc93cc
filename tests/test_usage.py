"""Tokens and cost per condition and per run: from records, through a real run, into the summary and report."""

import json
import math

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.schema import ErrorInfo, Record
from emoprompt.stats.frame import records_frame
from emoprompt.usage import TOTAL, cost_text, format_usage, usage


def record(condition, item, tokens_in, tokens_out, cost, calls=1, cached=False, error=None):
    return Record(key=f"{condition}{item}", model="m", task="t", sample_id=str(item), condition=condition,
                  score=None if error else 1.0, parsed=True, error=ErrorInfo(error, "") if error else None,
                  tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost, n_calls=calls, cached=cached)


def test_usage_sums_tokens_calls_and_cost_per_condition_and_in_total():
    records = [record("baseline", 1, 100, 5, 0.001), record("baseline", 2, 110, 6, 0.002, cached=True),
               record("heart", 1, 400, 40, 0.010, calls=4), record("heart", 2, 0, 0, None, error="timeout")]
    rows = usage(records_frame(records), ["baseline", "heart"])
    by_name = {r.condition: r for r in rows}
    assert by_name["baseline"].tokens_in == 210 and by_name["baseline"].tokens_out == 11
    assert by_name["baseline"].cost_usd == pytest.approx(0.003) and by_name["baseline"].cached_calls_cells == 1
    assert by_name["heart"].calls == 5 and by_name["heart"].priced_cells == 1
    total = by_name[TOTAL]
    assert (total.cells, total.calls, total.tokens_in, total.tokens_out) == (4, 7, 610, 51)
    assert total.cost_usd == pytest.approx(0.013)
    assert [r.condition for r in rows] == ["baseline", "heart", TOTAL]


def test_unknown_prices_stay_unknown_rather_than_zero():
    rows = usage(records_frame([record("baseline", 1, 10, 1, None)]))
    assert rows[0].cost_usd is None and cost_text(None) == "—"
    assert cost_text(0.00123) == "$0.0012" and cost_text(12.5) == "$12.50"
    assert "—" in format_usage(rows)


def test_run_prints_usage_and_writes_it_to_manifest_and_report(tmp_path, loopback, monkeypatch):
    monkeypatch.setenv("EMOPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--model", "openai/test-model", "--api-base", loopback.url,
                                      "--limit", "3", "--task", "sum", "--condition", "baseline",
                                      "--condition", "EP02", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "tokens in" in result.output and TOTAL in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    records = [json.loads(line) for line in (out / "records.jsonl").open()]
    usage_rows = {row["condition"]: row for row in manifest["usage"]}
    assert usage_rows[TOTAL]["tokens_in"] == sum(r["tokens_in"] for r in records) > 0
    assert usage_rows["EP02"]["tokens_in"] > usage_rows["baseline"]["tokens_in"]  # the stimulus costs tokens
    assert usage_rows[TOTAL]["cost_usd"] is None  # a local server has no price
    assert manifest["invocations"][-1]["model_calls"] == 6
    report = (out / "report.md").read_text()
    assert "Tokens and cost" in report
    analysis = json.loads((out / "analysis.json").read_text())
    assert not math.isnan(analysis["models"]["openai/test-model"]["usage"][0]["tokens_out"])


def test_records_and_their_frame_give_one_usage_table_in_any_order():
    records = [record(c, i, 10 * i, i, 0.001 * i if i % 3 else None, calls=1 + i % 2, cached=i % 4 == 0,
                      error="timeout" if i == 5 else None)
               for i in range(12) for c in ("heart", "baseline", "PL01")]
    records += [Record(**{**r.__dict__, "model": "m2", "key": r.key + "b"}) for r in records[:9]]
    assert usage(records) == usage(records_frame(records))
    assert usage(records, ["baseline", "PL01"]) == usage(records_frame(records), ["baseline", "PL01"])
    rows = usage(records)
    assert [r.model for r in rows] == ["m"] * 4 + ["m2"] * 4
    assert [r.condition for r in rows[:4]] == ["heart", "baseline", "PL01", TOTAL]
    assert rows[3].cells == 36 and rows[3].calls == sum(r.n_calls for r in records[:36])


def test_tokens_no_cell_recorded_are_unknown_not_zero():
    rows = usage([record("baseline", 1, None, None, None), record("baseline", 2, None, None, None)], ["baseline"])
    assert rows[0].tokens_in is None and rows[0].tokens_out is None and rows[0].calls == 2
    assert "—" in format_usage(rows)
    mixed = usage([record("baseline", 1, 7, None, None), record("baseline", 2, None, 3, None)], ["baseline"])
    assert (mixed[0].tokens_in, mixed[0].tokens_out) == (7, 3)
