"""The prompt-tweak studies' data sets read from files in their published layouts (stand-ins; the real files are
gated or licensed): GPQA's shuffled choices, MMLU-Pro's categories, Mind Your Tone's per-question tone rewrites."""

from __future__ import annotations

import csv

import pytest

from emoprompt.errors import UsageError
from emoprompt.suites.loader import load_suite
from emoprompt.suites.scorers import SCORERS
from emoprompt.suites.study_sets import ANSWER_FORMAT, MIND_YOUR_TONE_INSTRUCTION
from emoprompt.suites.suite import Sample
from tests.suites.study_data import write_gpqa, write_mind_your_tone, write_mmlu_pro


def test_gpqa_in_its_zero_shot_format_with_seeded_choice_order(tmp_path):
    write_gpqa(tmp_path, n=30)
    suite = load_suite("wharton", tmp_path, ["gpqa_diamond", "gpqa_diamond_unformatted"])
    task = suite.task("gpqa_diamond")
    assert task.system == "You are a very intelligent assistant, who follows instructions directly."
    first = task.samples[0]
    assert first.id == "gpqa_diamond-rec000" and first.targets == ("right0",)
    assert sorted(first.choices) == ["right0", "wrong0a", "wrong0b", "wrong0c"]
    letter = "ABCD"[first.choices.index("right0")]
    assert first.input.startswith("What is the correct answer to this question: Stand-in physics question 0")
    assert f"\n({letter}) right0\n" in first.input + "\n" and first.input.endswith(ANSWER_FORMAT)
    positions = {s.choices.index(s.targets[0]) for s in task.samples}
    assert positions == {0, 1, 2, 3}  # the right answer is not always in one place
    again = load_suite("wharton", tmp_path, ["gpqa_diamond"]).task("gpqa_diamond")
    assert [s.choices for s in again.samples] == [s.choices for s in task.samples]
    plain = suite.task("gpqa_diamond_unformatted").samples[0]
    assert plain.choices == first.choices and ANSWER_FORMAT not in plain.input
    score = SCORERS[task.scorer]
    assert score(f"The correct answer is ({letter})", first).correct
    assert not score("The correct answer is (Z)", first).parsed


def test_gpqa_keeps_multi_line_questions_whole(tmp_path):
    path = write_gpqa(tmp_path, n=1)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    rows[1][1] = "Line one\nline two, key: right0"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    sample = load_suite("wharton", tmp_path, ["gpqa_diamond"]).task("gpqa_diamond").samples[0]
    assert "Line one\nline two, key: right0\n\nChoices:" in sample.input


def test_a_file_that_is_not_gpqa_is_refused_in_one_line(tmp_path):
    (tmp_path / "gpqa").mkdir()
    (tmp_path / "gpqa" / "gpqa_diamond.csv").write_text("question,answer\nq,a\n")
    with pytest.raises(UsageError, match="no column 'Question'; this is not GPQA's CSV"):
        load_suite("wharton", tmp_path, ["gpqa_diamond"])


def test_mmlu_pro_one_category_first_n_by_question_id(tmp_path):
    pytest.importorskip("pyarrow")
    write_mmlu_pro(tmp_path, per_category=6)
    suite = load_suite("wharton", tmp_path, ["mmlu_pro_engineering", "mmlu_pro_law"])
    engineering = suite.task("mmlu_pro_engineering").samples
    assert [s.id for s in engineering] == [f"mmlu_pro_engineering-{1000 + i}" for i in range(1, 7)]
    first = engineering[0]
    assert len(first.choices) == 10 and "(J) " in first.input and first.targets[0] in first.choices
    assert "Stand-in engineering question" in first.input
    law = suite.task("mmlu_pro_law").samples
    assert all("law" in s.input for s in law)


def test_mmlu_pro_unknown_category_lists_the_real_ones(tmp_path):
    pytest.importorskip("pyarrow")
    write_mmlu_pro(tmp_path)
    suite = tmp_path / "suite.toml"
    suite.write_text('[[task]]\nname = "x"\nsource = { mmlu_pro = "enginering" }\n')
    with pytest.raises(UsageError, match="no category 'enginering'; its categories are chemistry, engineering, law"):
        load_suite(str(suite), tmp_path)


def test_mind_your_tone_items_carry_their_own_tone_rewrites(tmp_path):
    write_mind_your_tone(tmp_path, n=10)
    task = load_suite("mind-your-tone", tmp_path).tasks[0]
    assert task.instruction == MIND_YOUR_TONE_INSTRUCTION and task.template == "question"
    assert task.scorer == "first_letter" and len(task.samples) == 10
    sample = task.samples[0]
    assert sample.input.startswith("What is stand-in fact 1? key: B\nA) one")  # the Normal rewrite
    rewrites = dict(sample.rewrites)
    assert set(rewrites) == {"very-polite", "polite", "rude", "very-rude"}
    assert rewrites["very-rude"].startswith("Hey gofer, figure this out. What is stand-in fact 1?")
    assert sample.targets == ("B",)


@pytest.mark.parametrize("damage, message", [
    (lambda rows: [r for r in rows if not (r[0] == "3" and r[3] == "Rude")], "question 3 lacks the rude rewrite"),
    (lambda rows: [[*r[:5], "A"] if r[0] == "2" and r[3] == "Polite" else r for r in rows], "different answers"),
    (lambda rows: [[*r[:3], "Snarky", *r[4:]] if r[0] == "1" and r[3] == "Rude" else r for r in rows],
     "unknown Politeness Level 'Snarky'"),
])
def test_a_damaged_mind_your_tone_file_is_refused(tmp_path, damage, message):
    path = write_mind_your_tone(tmp_path, n=4)
    header, *rows = list(csv.reader(path.open(encoding="utf-8")))
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *damage(rows)])
    with pytest.raises(UsageError, match=message):
        load_suite("mind-your-tone", tmp_path)


def test_first_letter_is_the_notebooks_rule():
    score = SCORERS["first_letter"]
    sample = Sample("q", "?", ("B",))
    assert score("B", sample).correct and score("(B)", sample).correct
    assert score("The answer is B.", sample).correct
    quirk = score("A good guess is B", sample)  # upper-cased, the article 'a' is the first standalone letter
    assert quirk.parsed and quirk.answer == "A" and not quirk.correct
    assert not score("I don't know", sample).parsed
    assert score("a", sample).answer == "A"  # upper-cased first, as the notebook does
