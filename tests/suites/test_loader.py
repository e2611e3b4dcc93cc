import pytest

from emoprompt.errors import UsageError
from emoprompt.suites.generators import generate_samples, number_to_words, plural
from emoprompt.suites.loader import load_suite, pick_demos
from emoprompt.suites.registry import get_template


def test_builtin_suite_has_enough_tasks_and_items():
    suite = load_suite("builtin")
    assert len(suite.tasks) >= 8
    assert all(len(t.samples) >= 100 for t in suite.tasks)
    assert all(t.instruction.endswith(".") for t in suite.tasks)


def test_generation_is_deterministic_and_correct():
    assert generate_samples("sum", 50, 0, "s-") == generate_samples("sum", 50, 0, "s-")
    assert generate_samples("sum", 50, 0, "s-") != generate_samples("sum", 50, 1, "s-")
    for s in generate_samples("sum", 50, 0, "s-"):
        a, b = map(int, s.input.split())
        assert s.targets == (str(a + b),)
    for s in generate_samples("word_sorting", 20, 0, "w-"):
        assert s.targets[0].split() == sorted(s.input.split())


def test_number_words_and_plurals():
    assert number_to_words(4206) == "four thousand two hundred six"
    assert number_to_words(115, with_and=True) == "one hundred and fifteen"
    assert number_to_words(21) == "twenty-one"
    assert [plural(w) for w in ("box", "city", "day", "church", "cat")] == [
        "boxes", "cities", "days", "churches", "cats"]


def test_negativeprompt_zero_shot_template_is_exact():
    task = load_suite("builtin").task("sum")
    chat = get_template(task.template).render(task.query(task.samples[0]))
    assert chat[0].content == f"Instruction: Sum the two given numbers.\n\n\nInput: {task.samples[0].input}\nAnswer: "


def _write(tmp_path, text, name="suite.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_file_source_with_field_mapping_and_shots(tmp_path):
    rows = "\n".join(f'{{"q": "word{i}", "a": ["W{i}"]}}' for i in range(10))
    (tmp_path / "items.jsonl").write_text(rows)
    suite = load_suite(_write(tmp_path, '[[task]]\nname = "upper"\ninstruction = "Upper-case it."\nshots = 2\n'
                                        'source = { file = "items.jsonl", fields = { input = "q", target = "a" } }\n'))
    task = suite.task("upper")
    assert task.samples[3].input == "word3" and task.samples[3].targets == ("W3",)
    demos = pick_demos(task, task.samples[0].id, seed=0)
    assert len(demos) == 2 and task.samples[0] not in demos
    chat = get_template(task.template).render(task.query(task.samples[0], demos))
    assert chat[0].content.count("Output:") == 2 and chat[0].content.endswith("Input: word0\nAnswer: ")


@pytest.mark.parametrize("text, message", [
    ('name = "x"\n', "no \\[\\[task\\]\\] entries"),
    ('[[task]]\nname = "t"\nsource = { generator = "sum" }\nscorr = "exact"\n', "Did you mean 'scorer'"),
    ('[[task]]\nname = "t"\nsource = { generator = "summ" }\n', "Did you mean 'sum'"),
    ('[[task]]\nname = "t"\nshots = "two"\nsource = { generator = "sum" }\n', "`shots` must be int"),
    ('[[task]]\nname = "t"\nsource = { file = "../../etc/passwd" }\n', "leaves the suite's folder"),
    ('[[task]]\nname = "t"\nsource = { generator = "sum", n = 0 }\n', "must be between 1 and 100,000"),
    ('[[task\nname = "t"', "malformed TOML"),
])
def test_bad_suite_files(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        load_suite(_write(tmp_path, text))


def test_duplicate_sample_ids_and_empty_files(tmp_path):
    rows = '{"id": 1, "input": "a", "target": "b"}\n{"id": 1, "input": "c", "target": "d"}\n'
    (tmp_path / "d.jsonl").write_text(rows)
    with pytest.raises(UsageError, match="duplicate sample id '1'"):
        load_suite(_write(tmp_path, '[[task]]\nname = "t"\nsource = { file = "d.jsonl" }\n'))
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(UsageError, match="has no samples"):
        load_suite(_write(tmp_path, '[[task]]\nname = "t"\nsource = { file = "e.jsonl" }\n'))


def test_yaml_suite_is_safe_and_reports_line(tmp_path):
    path = _write(tmp_path, "task:\n  - name: t\n    source: !!python/object/apply:os.system ['echo hi']\n",
                  "suite.yaml")
    with pytest.raises(UsageError, match="malformed YAML at line 3"):
        load_suite(path)


def test_unknown_suite_and_task():
    with pytest.raises(UsageError, match="Did you mean 'builtin'"):
        load_suite("builtn")
    with pytest.raises(UsageError, match="Did you mean 'sum'"):
        load_suite("builtin").task("summ")
