"""No hidden global state: importing emoprompt changes no environment variable or third-party setting, and the data
folder travels as an argument. (Import cycles and layers are import-linter's contracts in .importlinter, run in
CI.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from tests.conftest import REPO, SHARED_DATA

IMPORTS = """
import json, os, sys
before = dict(os.environ)
import emoprompt, emoprompt.cli, emoprompt.api
from emoprompt.backends import resolve_backend
from emoprompt.backends import openai_http, litellm_backend, hf, vllm_backend, factories, managed
backend = resolve_backend("litellm/openai/test-model", api_base="http://127.0.0.1:9/v1")
backend.identity()
import litellm
print(json.dumps({"environment_changed": sorted(set(os.environ.items()) ^ set(before.items())),
                  "suppress_debug_info": litellm.suppress_debug_info, "litellm_loaded": "litellm" in sys.modules}))
"""


def test_importing_emoprompt_and_its_backends_changes_no_environment_or_library_setting():
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"} | {"PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"environment_changed": [], "suppress_debug_info": False, "litellm_loaded": True}


def test_import_emoprompt_loads_no_heavy_library():
    code = ("import sys, emoprompt; print(sorted(m for m in ('pandas', 'scipy', 'statsmodels', 'torch', 'litellm', "
            "'transformers', 'aiohttp') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.skipif(not (SHARED_DATA / "instruction_induction").is_dir(), reason="needs ../shared/data")
def test_the_data_folder_is_passed_not_put_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("EMOPROMPT_DATA_DIR", raising=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--suite", "instruction-induction", "--task", "antonyms", "--limit", "3",
                                      "--model", "scripted/echo", "--condition", "baseline", "--data-dir",
                                      str(SHARED_DATA), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "EMOPROMPT_DATA_DIR" not in os.environ
    assert json.loads((out / "manifest.json").read_text())["data_dir"] == str(SHARED_DATA.resolve())
    lines = (out / "records.jsonl").read_text().splitlines(keepends=True)
    (out / "records.jsonl").write_text(lines[0])
    resumed = CliRunner().invoke(cli, ["run", "--resume", str(out), "--no-progress"])  # data folder from the manifest
    assert resumed.exit_code == 0, resumed.output
    assert len((out / "records.jsonl").read_text().splitlines()) == 3


def test_files_say_what_they_hold():
    package = REPO / "emoprompt"
    assert not (package / "datafile.py").exists() and not (package / "data_files.py").exists()
    assert not (package / "utils.py").exists()
    assert "def cache_dir" not in (package / "backends" / "hf.py").read_text()
    assert Path(package / "paths.py").is_file()
