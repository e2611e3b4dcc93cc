"""Registration points: in code (register_*) and through entry points of a separately installed plugin
distribution, used from the real command line, including --resume."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import emoprompt
from emoprompt import registry
from emoprompt.chat import Completion
from emoprompt.cli import cli
from emoprompt.errors import UsageError
from emoprompt.suites.loader import load_suite
from tests.conftest import REPO

PLUGIN = textwrap.dedent('''
    """A tiny emoprompt plugin: a backend, a transform, a scorer and a suite source."""
    from dataclasses import dataclass

    import emoprompt


    class AdderBackend:
        """Answers sums correctly, but only when the prompt is shouted."""

        def __init__(self, model):
            self.model = model

        def identity(self):
            return {"backend": "adder", "model": self.model}

        async def complete(self, chat, config):
            content = chat[-1].content
            numbers = [int(word) for word in content.replace(":", " ").split() if word.isdigit()]
            answer = str(sum(numbers[-2:])) if "ADD THE TWO NUMBERS" in content else "0"
            return emoprompt.Completion(f"The answer is {answer}.", tokens_in=len(content.split()), tokens_out=4)


    def make_backend(model, options):
        return AdderBackend(model)


    @dataclass(frozen=True)
    class Shout(emoprompt.Transform):
        async def __call__(self, query, config, generate):
            return await generate(query.replace(input=query.input.upper(), instruction=query.instruction.upper()),
                                  config)


    def make_shout(spec):
        return Shout()


    def last_number(text, sample):
        words = [w.strip(".") for w in text.split()]
        numbers = [w for w in words if w.isdigit()]
        answer = numbers[-1] if numbers else None
        return emoprompt.Score(float(answer in sample.targets), answer in sample.targets, answer is not None, answer)


    def pairs(spec, context):
        return tuple(emoprompt.Sample(f"{context.id_prefix}{i}", f"{i} {i + 1}", (str(2 * i + 1),))
                     for i in range(spec["pairs"]))
''')

ENTRY_POINTS = textwrap.dedent('''
    [emoprompt.backends]
    adder = emoprompt_adder:make_backend

    [emoprompt.transforms]
    shout = emoprompt_adder:make_shout

    [emoprompt.scorers]
    last_number = emoprompt_adder:last_number

    [emoprompt.suite_sources]
    pairs = emoprompt_adder:pairs
''')

SUITE = textwrap.dedent('''
    name = "adder"
    [[task]]
    name = "add"
    instruction = "Add the two numbers."
    scorer = "last_number"
    source = { pairs = 6 }
''')


def build_wheel(folder: Path) -> Path:
    """A real wheel of the plugin distribution, built by hand (no build backend or network needed)."""
    dist_info = "emoprompt_adder-0.1.dist-info"
    files = {
        "emoprompt_adder.py": PLUGIN,
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\nName: emoprompt-adder\nVersion: 0.1\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: emoprompt-tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": ENTRY_POINTS,
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    wheel = folder / "emoprompt_adder-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    site = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target",
                    str(site), str(build_wheel(folder))], check=True, capture_output=True)
    assert (site / "emoprompt_adder-0.1.dist-info" / "entry_points.txt").is_file()
    return site


def emoprompt_cli(site, *args, cwd):
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "emoprompt", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_an_installed_plugin_adds_a_model_prefix_a_condition_a_scorer_and_a_source(plugin_site, tmp_path):
    (tmp_path / "adder.toml").write_text(SUITE)
    out = tmp_path / "run"
    arguments = ["run", "--model", "adder/v1", "--suite", tmp_path / "adder.toml", "--condition", "baseline",
                 "--condition", "shout", "--condition", "shout+EP02", "--no-progress", "--out", out]
    first = emoprompt_cli(plugin_site, *arguments, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 18
    by_condition = {c: [r for r in records if r["condition"] == c] for c in ("baseline", "shout", "shout+EP02")}
    assert not any(r["correct"] for r in by_condition["baseline"])
    assert all(r["correct"] for r in by_condition["shout"] + by_condition["shout+EP02"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identity"]["models"]["adder/v1"] == {"backend": "adder", "model": "adder/v1"}

    (out / "records.jsonl").write_text("".join(f"{json.dumps(r)}\n" for r in records[:7]))
    resumed = emoprompt_cli(plugin_site, "run", "--resume", out, "--no-progress", "--no-cache", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    again = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(again) == 18 and len({r["key"] for r in again}) == 18
    assert {r["key"]: r["correct"] for r in again} == {r["key"]: r["correct"] for r in records}

    listing = emoprompt_cli(plugin_site, "plugins", cwd=tmp_path)
    assert "adder [emoprompt-adder]" in listing.stdout and "shout [emoprompt-adder]" in listing.stdout


def test_without_the_plugin_the_prefix_is_an_ordinary_unknown_model(tmp_path):
    result = CliRunner().invoke(cli, ["run", "--model", "adderr/v1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown model 'adderr/v1'" in result.output


class Constant:
    def __init__(self, text):
        self.text = text

    def identity(self):
        return {"backend": "constant", "text": self.text}

    async def complete(self, chat, config):
        return Completion(self.text)


def test_register_backend_scorer_template_and_source_in_code(tmp_path):
    emoprompt.register_backend("constant", lambda model, options: Constant(model.split("/", 1)[1]))
    emoprompt.register_scorer("always", lambda text, sample: emoprompt.Score(1.0, True, True, text))
    emoprompt.register_template("shouty", emoprompt.Template("SAY: {input}"))
    emoprompt.register_suite_source("fixed", lambda spec, context: (
        emoprompt.Sample(f"{context.id_prefix}0", spec["fixed"], ("x",)),))
    try:
        suite = tmp_path / "s.toml"
        suite.write_text('[[task]]\nname = "t"\nscorer = "always"\ntemplate = "shouty"\nsource = { fixed = "hi" }\n')
        assert load_suite(str(suite)).tasks[0].samples[0].input == "hi"
        result = emoprompt.run(emoprompt.Experiment(models=["constant/7"], suite=str(suite), limit=None,
                                                    conditions=["baseline"]), out=tmp_path / "run", report=False)
        assert result.records["response"].tolist() == ["7"] and result.records["score"].tolist() == [1.0]
        assert result.records["messages"][0][0]["content"] == "SAY: hi"
        with pytest.raises(UsageError, match="exists already"):
            emoprompt.register_backend("hf", lambda model, options: Constant("x"))
        with pytest.raises(UsageError, match="cannot register"):
            emoprompt.register_scorer("a/b", lambda text, sample: None)
    finally:
        for kind, name in ((registry.backends, "constant"), (registry.scorers, "always"),
                           (registry.templates, "shouty"), (registry.suite_sources, "fixed")):
            kind.unregister(name)


def test_a_backend_without_the_contract_is_refused():
    emoprompt.register_backend("broken", lambda model, options: object())
    try:
        with pytest.raises(UsageError, match="lacks complete"):
            emoprompt.run(emoprompt.Experiment(models=["broken/x"], tasks=["sum"], limit=2, conditions=["baseline"]))
    finally:
        registry.backends.unregister("broken")
