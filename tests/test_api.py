"""The public Python API: Experiment with user transforms, emoprompt.run, emoprompt.load_run."""

import json
from dataclasses import dataclass

import pandas as pd
import pytest
from click.testing import CliRunner

import emoprompt
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.cli import cli


@dataclass(frozen=True)
class Persona(emoprompt.Transform):
    """Speak to the model as a persona, in the system message."""

    persona: str = "You are a careful, world-class expert."

    async def __call__(self, query, config, generate):
        return await generate(query.replace(system=self.persona), config)


def answer_when_expert(chat, config):
    """Right only with the persona in the system message (the scripted model 'believes' it)."""
    words = next(line for line in chat[-1].content.splitlines() if line.startswith("Input:")).split()[1:]
    right = str(sum(map(int, words)))
    return right if chat[0].role == "system" and "expert" in chat[0].content else "0"


def experiment(**changes):
    values = dict(models=["scripted/expert"], tasks=["sum"], limit=12, conditions=["baseline", "PL01", Persona()])
    return emoprompt.Experiment(**{**values, **changes})


def test_run_returns_records_summary_manifest_and_report(tmp_path):
    backend = ScriptedBackend(reply=answer_when_expert, name="scripted/expert")
    result = emoprompt.run(experiment(), out=tmp_path / "run", backends={"scripted/expert": backend})
    assert isinstance(result.records, pd.DataFrame) and len(result.records) == 36
    assert set(result.records["condition"]) == {"baseline", "PL01", "Persona"}
    persona_rows = result.records[result.records["condition"] == "Persona"]
    baseline_rows = result.records[result.records["condition"] == "baseline"]
    assert persona_rows["correct"].all() and not baseline_rows["correct"].any()
    summary = result.summary.set_index("condition")
    assert summary.loc["Persona", "accuracy"] == 1.0 and summary.loc["Persona", "vs_control_diff"] == 1.0
    assert result.report["html"].is_file() and result.counters.ran == 36
    condition = next(c for c in result.manifest.conditions if c.name == "Persona")
    assert condition.family == "user" and condition.transform["settings"] == {"persona": Persona.persona}
    assert condition.transform["source"]  # the class's source is hashed into its identity
    loaded = emoprompt.load_run(tmp_path / "run")
    assert loaded.manifest == result.manifest and loaded.records.equals(result.records)
    assert loaded.report["analysis"].is_file()
    analysis = json.loads(loaded.report["analysis"].read_text())
    assert any(row["condition"] == "Persona" for row in analysis["models"]["scripted/expert"]["pooled"])


def test_a_user_transform_enters_the_experiment_hash_and_the_cache(tmp_path):
    backend = ScriptedBackend(reply=answer_when_expert, name="scripted/expert")
    first = emoprompt.run(experiment(), out=tmp_path / "a", backends={"scripted/expert": backend}, report=False)
    again = emoprompt.run(experiment(), out=tmp_path / "b", backends={"scripted/expert": backend}, report=False)
    assert again.counters.cache_hits == 36 and again.counters.model_calls == 0
    other = emoprompt.run(experiment(conditions=["baseline", Persona("You are a pirate.")]), out=tmp_path / "c",
                          backends={"scripted/expert": backend}, report=False)
    assert other.manifest.experiment_hash != first.manifest.experiment_hash
    assert other.counters.model_calls == 12  # the baseline came from the cache, the new persona did not


def test_a_transform_without_readable_source_is_not_cached(tmp_path):
    namespace: dict = {}
    exec("import emoprompt\n"
         "class Whisper(emoprompt.Transform):\n"
         "    async def __call__(self, query, config, generate):\n"
         "        return await generate(query.replace(input=query.input.lower()), config)\n", namespace)
    whisper = namespace["Whisper"]()
    assert not whisper.cacheable
    backend = ScriptedBackend(reply=answer_when_expert, name="scripted/expert")
    first = emoprompt.run(experiment(conditions=["baseline", whisper]), out=tmp_path / "a", report=False,
                          backends={"scripted/expert": backend})
    assert any("not cached" in note for note in first.manifest.notes)
    again = emoprompt.run(experiment(conditions=["baseline", whisper]), out=tmp_path / "b", report=False,
                          backends={"scripted/expert": backend})
    assert again.counters.model_calls == 12 and again.counters.cache_hits == 12


def test_continuing_a_folder_runs_only_missing_cells(tmp_path):
    backend = ScriptedBackend(reply=answer_when_expert, name="scripted/expert")
    emoprompt.run(experiment(), out=tmp_path / "run", backends={"scripted/expert": backend}, report=False,
                  cache=False)
    lines = (tmp_path / "run" / "records.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "run" / "records.jsonl").write_text("".join(lines[:20]))
    continued = emoprompt.run(experiment(), out=tmp_path / "run", backends={"scripted/expert": backend},
                              cache=False)
    assert continued.counters.already_done == 20 and continued.counters.ran == 16 and len(continued.records) == 36


def test_an_experiment_with_python_transforms_resumes_from_python_not_the_cli(tmp_path):
    backend = ScriptedBackend(reply=answer_when_expert, name="scripted/expert")
    emoprompt.run(experiment(), out=tmp_path / "run", backends={"scripted/expert": backend}, report=False)
    result = CliRunner().invoke(cli, ["run", "--resume", str(tmp_path / "run")])
    assert result.exit_code == 2 and "is a Python transform object" in result.output
    assert "emoprompt.run" in result.output


def test_run_reads_an_experiment_file(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('models = ["scripted/echo"]\ntasks = ["sum"]\nlimit = 4\nconditions = ["baseline", "EP02"]\n')
    result = emoprompt.run(path, out=tmp_path / "run", report=False)
    assert len(result.records) == 8 and result.report == {}


def test_public_vocabulary_is_exported():
    for name in ("Experiment", "run", "load_run", "Run", "Transform", "Query", "GenerateConfig", "Completion",
                 "Record", "Manifest", "register_backend", "register_scorer", "register_transform",
                 "register_template", "register_suite_source", "register_importer", "parse_condition", "affect", "ab"):
        assert hasattr(emoprompt, name), name


def test_bad_experiment_arguments_are_usage_errors():
    with pytest.raises(emoprompt.UsageError, match="repeats must be 1 or more"):
        emoprompt.Experiment(repeats=0)
    with pytest.raises(TypeError, match="cannot use 42 as a transform"):
        emoprompt.Experiment(conditions=["baseline", 42])
