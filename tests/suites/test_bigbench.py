"""BIG-Bench task files: prefixes, choices, target_scores as text, subtasks, normalized score."""

import json

import pytest

from emoprompt.errors import UsageError
from emoprompt.suites.bigbench import discover, load_bigbench_task, normalized_score
from emoprompt.suites.registry import get_template, scorers


@pytest.fixture
def bb_folder(tmp_path):
    mc = {"task_prefix": "Answer the question.\n", "example_input_prefix": "\nQ: ", "example_output_prefix": "\nA: ",
          "preferred_score": "multiple_choice_grade", "metrics": ["multiple_choice_grade"],
          "examples": [{"input": "Is fire hot?", "target_scores": {"yes": 1, "no": 0}},
                       {"input": "Is ice hot?", "target_scores": "{'yes': 0, 'no': 1, 'maybe': 0}"}]}
    exact = {"preferred_score": "exact_str_match", "metrics": ["exact_str_match"],
             "examples": [{"input": "2+2", "target": ["4", "four"]}, {"input": "Say hi.", "target": "Hi."}]}
    for name, data in (("yesno", mc), ("math/sub", exact)):
        path = tmp_path / name / "task.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(data))
    return tmp_path


def test_multiple_choice_rendering_and_scoring(bb_folder):
    task = load_bigbench_task(bb_folder, "yesno")
    assert task.instruction == "Answer the question.\n" and task.scorer == "choice_text"
    first, second = task.samples
    assert first.input == "\nQ: Is fire hot?\n  choice: yes\n  choice: no\nA: "
    assert first.targets == ("yes",) and second.choices == ("yes", "no", "maybe")
    assert task.random_baseline == pytest.approx((1 / 2 + 1 / 3) / 2)
    chat = get_template("bigbench").render(
        __import__("emoprompt").Query(input=first.input, instruction=task.instruction))
    assert chat[0].content.startswith("Answer the question.\n\nQ: Is fire hot?")
    scorer = scorers.get("choice_text")
    assert scorer("yes", first).correct and scorer("No.", second).correct
    assert not scorer("perhaps", second).parsed


def test_exact_match_and_subtasks(bb_folder):
    assert discover(bb_folder) == ["math/sub", "yesno"]
    task = load_bigbench_task(bb_folder, "math/sub")
    assert task.name == "math:sub" and task.scorer == "bigbench_exact" and task.random_baseline == 0
    scorer = scorers.get("bigbench_exact")
    assert scorer("four\nmore text", task.samples[0]).correct
    assert scorer("Hi", task.samples[1]).correct and not scorer("Hello.", task.samples[1]).correct


def test_normalized_score():
    assert normalized_score(0.5, 0.5) == 0 and normalized_score(1.0, 0.25) == 100
    assert normalized_score(0.25, 0.0) == 25


def test_unreadable_files(bb_folder):
    (bb_folder / "broken").mkdir()
    (bb_folder / "broken" / "task.json").write_text('{"examples": [{"input": "x", "target_scores": "__import__(1)"}]}')
    with pytest.raises(UsageError, match="unreadable target_scores"):
        load_bigbench_task(bb_folder, "broken")
    with pytest.raises(UsageError, match="no BIG-Bench task 'nothing'"):
        load_bigbench_task(bb_folder, "nothing")


def test_bigbench_suite_discovers_any_task_in_the_data_dir(bb_folder, monkeypatch):
    from emoprompt.suites.loader import load_suite

    root = bb_folder.parent / "data"
    (root).mkdir()
    bb_folder.rename(root / "bigbench")
    monkeypatch.setenv("EMOPROMPT_DATA_DIR", str(root))
    suite = load_suite("bigbench")
    assert {t.name for t in suite.tasks} == {"yesno", "math:sub"}
    assert suite.default_tasks == () and "causal_judgment" in suite.metadata["missing_default_tasks"]
    assert suite.select(["yesno"]).tasks[0].info == (("preferred_score", "multiple_choice_grade"),
                                                     ("random_baseline", pytest.approx(5 / 12)))
