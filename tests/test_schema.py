"""One record and manifest schema: every writer's output validates against the published JSON Schema files,
readers name the file and line of a violation, and runs written before the schema still read."""

import contextlib
import json

import jsonschema
import pytest
from click.testing import CliRunner

import emoprompt
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.runner.store import iter_records, read_manifest
from emoprompt.schema import SCHEMA_DIR, SCHEMA_FILES, SCHEMA_VERSION, Manifest, Record, json_schema


def validators():
    return {name: jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / name).read_text()))
            for name in SCHEMA_FILES}


def check_folder(folder):
    checks = validators()
    checks["manifest.schema.json"].validate(json.loads((folder / "manifest.json").read_text()))
    lines = (folder / "records.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        checks["record.schema.json"].validate(json.loads(line))


def test_published_schema_files_match_the_dataclasses():
    for name, cls in SCHEMA_FILES.items():
        assert json.loads((SCHEMA_DIR / name).read_text()) == json_schema(cls), f"regenerate {name}"
        jsonschema.Draft202012Validator.check_schema(json_schema(cls))


def test_every_writer_writes_the_schema(tmp_path):
    backend = ScriptedBackend(reply=lambda chat, config: "7" if len(chat) > 2 else "3")
    emoprompt.run(emoprompt.Experiment(models=["scripted/t"], tasks=["sum"], limit=3,
                                       conditions=["baseline", "EP02", "heart"]),
                  out=tmp_path / "runner", backends={"scripted/t": backend}, report=False)
    check_folder(tmp_path / "runner")

    with emoprompt.ab(["baseline", "EP02"], tmp_path / "ab") as test:
        @test
        def answer(prompt):
            if "career" in prompt:
                raise ValueError("model down")
            return "fine"

        for _ in range(4):
            with contextlib.suppress(ValueError):
                answer("q")
    check_folder(tmp_path / "ab")

    (tmp_path / "t.csv").write_text("item,condition,score\n1,baseline,1\n1,EP02,0\n2,baseline,0\n2,EP02,1\n")
    result = CliRunner().invoke(cli, ["report", "--from", "table", str(tmp_path / "t.csv"), "--out",
                                      str(tmp_path / "imported")])
    assert result.exit_code == 0, result.output
    check_folder(tmp_path / "imported")
    assert read_manifest(tmp_path / "imported").kind == "import"


def test_dspy_writer(tmp_path):
    dspy = pytest.importorskip("dspy")
    from emoprompt.integrations.dspy import run_program_experiment

    backend = ScriptedBackend(reply=lambda chat, config: "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]")
    examples = [dspy.Example(question=f"q{i}", answer="42").with_inputs("question") for i in range(3)]
    run_program_experiment(dspy.Predict("question -> answer"), examples, lambda e, p, trace=None: True, backend,
                           {"baseline": [], "EP02": "EP02"}, tmp_path / "dspy")
    check_folder(tmp_path / "dspy")


@pytest.mark.parametrize("line, message", [
    ("garbage", "records.jsonl:2: not a JSON record"),
    ("[1, 2]", "records.jsonl:2: a record is a JSON object, not list"),
    ('{"key": "k"}', "records.jsonl:2: model is missing"),
    ('{"key": "k", "model": "m", "task": "t", "sample_id": "s", "condition": "c", "score": "high"}',
     "records.jsonl:2: score must be a number or null, not str ('high')"),
    ('{"key": "k", "model": "m", "task": "t", "sample_id": "s", "condition": "c", "colour": 1}',
     "records.jsonl:2: colour is not a field of Record"),
    ("", "records.jsonl:2: blank line"),
])
def test_a_bad_record_is_one_line_naming_file_and_line(tmp_path, line, message):
    good = json.dumps(Record(key="a", model="m", task="t", sample_id="s", condition="c").to_dict())
    (tmp_path / "records.jsonl").write_text(f"{good}\n{line}\n{good}\n")
    with pytest.raises(UsageError) as error:
        list(iter_records(tmp_path))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert f"emoprompt run --resume {tmp_path}" in str(error.value)


def test_a_newer_schema_is_refused(tmp_path):
    newer = {**Record(key="a", model="m", task="t", sample_id="s", condition="c").to_dict(), "schema_version": 99}
    (tmp_path / "records.jsonl").write_text(json.dumps(newer) + "\n")
    with pytest.raises(UsageError, match="written by a newer emoprompt"):
        list(iter_records(tmp_path))


def write_version_1(folder):
    """Rewrite a run folder as wave 1 wrote it: `format: 1`, no schema_version, none of the v2-only fields."""
    manifest = json.loads((folder / "manifest.json").read_text())
    v2_only = ("schema_version", "kind", "data_dir", "notes", "source", "metadata", "assignment", "seed")
    manifest = {"format": 1, **{k: v for k, v in manifest.items() if k not in v2_only}}
    for condition in manifest["conditions"]:
        condition.pop("spellings")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    lines = []
    for line in (folder / "records.jsonl").read_text().splitlines():
        record = {k: v for k, v in json.loads(line).items()
                  if k not in ("schema_version", "verdicts", "call_id", "input_hash", "metadata") and v is not None}
        lines.append(json.dumps(record) + "\n")
    (folder / "records.jsonl").write_text("".join(lines))
    return len(lines)


def test_a_run_written_before_the_schema_still_reads_reports_and_resumes(tmp_path):
    old = tmp_path / "old"
    experiment = emoprompt.Experiment(models=["scripted/echo"], tasks=["sum", "diff"], limit=5,
                                      conditions=["baseline", "PL01", "EP02"])
    emoprompt.run(experiment, out=old, report=False)
    assert write_version_1(old) == 30
    (old / "records.jsonl").write_text("".join((old / "records.jsonl").read_text().splitlines(True)[:22]))
    manifest = read_manifest(old)
    assert isinstance(manifest, Manifest) and manifest.schema_version == 1 and manifest.control == "PL01"
    records = list(iter_records(old))
    assert len(records) == 22 and records[0].schema_version == 1 and records[0].error is None
    reported = CliRunner().invoke(cli, ["report", str(old), "--out", str(tmp_path / "report")])
    assert reported.exit_code == 0, reported.output
    resumed = CliRunner().invoke(cli, ["run", "--resume", str(old), "--no-progress"])
    assert resumed.exit_code == 0, resumed.output
    assert "8 cells run" in resumed.output and "22 were done before" in resumed.output
    assert read_manifest(old).schema_version == SCHEMA_VERSION
    assert [r.schema_version for r in iter_records(old)] == [1] * 22 + [SCHEMA_VERSION] * 8
