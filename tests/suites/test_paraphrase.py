"""Wordings of a task: the shipped paraphrase bank, format variants, users' files and their errors."""

import pytest

from emoprompt.chat import Query
from emoprompt.errors import UsageError
from emoprompt.mapping_files import read_mapping
from emoprompt.package_data import shipped_dir
from emoprompt.suites.formats import format_variant, split_spec, variant_spec
from emoprompt.suites.loader import load_suite
from emoprompt.suites.paraphrase import bank, check_source, read_paraphrase_file, task_wordings
from emoprompt.suites.registry import get_template


def _instructions(suite_file: str) -> dict[str, str]:
    data = read_mapping(shipped_dir("suites") / suite_file)
    return {task["name"]: task["instruction"] for task in data["task"]}


def test_the_bank_covers_the_builtin_suite_and_the_24_instruction_induction_tasks_word_for_word():
    shipped = bank()
    wanted = {**_instructions("builtin.toml"), **_instructions("instruction-induction.toml")}
    assert len(_instructions("instruction-induction.toml")) == 24
    for name, instruction in wanted.items():
        original, paraphrases = shipped[name]
        assert original == instruction, name
        assert len(paraphrases) >= 5 and len(set(paraphrases)) == len(paraphrases), name
        assert instruction not in paraphrases, name


def test_the_bank_keeps_every_constraint_of_its_instructions():
    shipped = bank()
    assert all("0 - definitely not to 5 - perfectly" in p for p in shipped["sentence_similarity"][1])
    assert all("space" in p for p in shipped["letters_list"][1])
    for language, code in (("German", "de"), ("Spanish", "es"), ("French", "fr")):
        assert all(language in p for p in shipped[f"translation_en-{code}"][1])


def test_format_variants_are_deterministic_and_keep_the_placeholders():
    base = get_template("instruction-induction")
    assert format_variant(base, 0, 0) is base
    variants = [format_variant(base, 0, k) for k in range(1, 8)]
    assert variants == [format_variant(base, 0, k) for k in range(1, 8)]
    assert len({v.body for v in variants}) >= 5
    for variant in variants:
        assert "{instruction}" in variant.body and "{input}" in variant.body and "{output}" in variant.demo
    assert format_variant(base, 1, 3) != format_variant(base, 0, 3)
    spec = variant_spec("instruction-induction", 0, 3)
    assert split_spec(spec) == ("instruction-induction", (0, 3)) and get_template(spec) == variants[2]
    rendered = get_template(spec).render(Query(input="cat", instruction="Write the plural."))[0].content
    assert "cat" in rendered and "Write the plural." in rendered and "Input:" not in rendered


def test_task_wordings_from_each_source():
    task = load_suite("builtin").task("sum")
    both = task_wordings(task, 4, "bank+format", 0)
    assert [w.id for w in both] == ["p0", "p1", "p2", "p3"]
    assert both[0].instruction == task.instruction and both[0].template == task.template
    assert both[1].instruction == bank()["sum"][1][0] and "~format:0-1" in both[1].template
    bank_only = task_wordings(task, 3, "bank", 0)
    assert {w.template for w in bank_only} == {task.template}
    format_only = task_wordings(task, 3, "format", 0)
    assert {w.instruction for w in format_only} == {task.instruction}
    assert len({w.template for w in format_only}) == 3
    assert task_wordings(task, 1, "bank+format", 0)[0].id == "p0"
    many = task_wordings(task, 12, "bank+format", 0)  # more wordings than rewordings: texts recycle, formats differ
    assert len({(w.instruction, w.template) for w in many}) == 12


def test_users_files_and_errors(tmp_path):
    task = load_suite("builtin").task("sum")
    path = tmp_path / "mine.yaml"
    path.write_text("sum:\n  - Add them up.\n  - What is the total?\n")
    texts = read_paraphrase_file(path)
    wordings = task_wordings(task, 3, str(path), 0, texts)
    assert [w.instruction for w in wordings[1:]] == ["Add them up.", "What is the total?"]
    with pytest.raises(UsageError, match="has 2 rewordings for 3 paraphrases"):
        task_wordings(task, 4, str(path), 0, texts)
    with pytest.raises(UsageError, match="no paraphrases in"):
        task_wordings(load_suite("builtin").task("diff"), 2, str(path), 0, texts)
    path.write_text("sum: Add them up.\n")
    with pytest.raises(UsageError, match="maps each task name to a list"):
        read_paraphrase_file(path)
    with pytest.raises(UsageError, match="is not one of bank"):
        check_source("thesaurus")
    other = load_suite("builtin").task("sum").__class__(name="sum", instruction="Add.", samples=task.samples)
    with pytest.raises(UsageError, match="the shipped bank has no paraphrases"):
        task_wordings(other, 2, "bank", 0)
    notes: list[str] = []
    assert len(task_wordings(other, 2, "bank+format", 0, notes=notes)) == 2 and "format only" in notes[0]
    raw = other.__class__(name="raw", instruction="", samples=task.samples, template="raw")
    with pytest.raises(UsageError, match="no field labels"):
        task_wordings(raw, 2, "format", 0)
