"""Instruction Induction loading and the released code's scoring, on small fixture files written here."""

import json

import pytest

from emoprompt.errors import UsageError
from emoprompt.suites.instruction_induction import load_ii_samples
from emoprompt.suites.registry import scorers
from emoprompt.suites.suite import Sample


@pytest.fixture
def ii_folder(tmp_path):
    def write(split, task, examples):
        path = tmp_path / "raw" / split / f"{task}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"metadata": {"num_examples": len(examples)},
                                    "examples": {str(i + 1): e for i, e in enumerate(examples)}}))

    write("execute", "cause_and_effect", [{"cause": "It rained.", "effect": "The grass got wet."}] * 3)
    write("execute", "common_concept", [{"concept": "are round.", "items": ["ball", "coin", "plate"],
                                         "all_common_concepts": ["are round.", "are circular."]}])
    write("execute", "rhymes", [{"input": "cat", "output": "hat", "other_rhymes": ["bat", "hat", "mat"]}])
    write("induce", "rhymes", [{"input": "dog", "output": "log", "other_rhymes": ["fog"]}])
    return tmp_path


def test_task_specific_input_construction(ii_folder):
    cause = load_ii_samples(ii_folder, "cause_and_effect", "execute", "c-")[0]
    assert cause.targets == ("It rained.",)
    assert cause.input in ("Sentence 1: It rained. Sentence 2: The grass got wet.",
                           "Sentence 1: The grass got wet. Sentence 2: It rained.")
    assert load_ii_samples(ii_folder, "cause_and_effect", "execute", "c-") == \
        load_ii_samples(ii_folder, "cause_and_effect", "execute", "c-")
    concept = load_ii_samples(ii_folder, "common_concept", "execute", "k-")[0]
    assert concept.input == "ball, coin" and concept.targets == ("are round.", "are circular.")
    rhyme = load_ii_samples(ii_folder, "rhymes", "execute", "r-")[0]
    assert rhyme.targets == ("hat", "bat", "mat") and rhyme.id == "r-1"
    assert load_ii_samples(ii_folder, "rhymes", "induce", "d-")[0].input == "dog"


def test_missing_task_or_split(ii_folder):
    with pytest.raises(UsageError, match="no Instruction Induction file"):
        load_ii_samples(ii_folder, "antonyms", "execute", "a-")
    with pytest.raises(UsageError, match="split must be execute or induce"):
        load_ii_samples(ii_folder, "rhymes", "train", "a-")


def sample(*targets):
    return Sample("1", "x", tuple(targets))


@pytest.mark.parametrize("scorer, text, targets, correct", [
    ("ii_sentiment", "The review is positive.", ("positive",), True),
    ("ii_sentiment", "positive or negative", ("positive",), False),
    ("ii_first_digit", "I'd say 4 - almost perfectly", ("4 - almost perfectly",), True),
    ("ii_first_digit", "2", ("3 - probably",), False),
    ("ii_same", "No, the meaning differs.", ("not the same",), True),
    ("ii_same", "Yes", ("same",), True),
    ("ii_contains", "The sum is 47. Because...", ("47",), True),
    ("ii_contains", "147", ("47",), False),
    ("ii_substring", "The elephant is larger", ("elephant",), True),
    ("ii_word_match", "hat or something", ("bat", "hat"), True),
    ("ii_exact_set", "bear, beetle", ("beetle, bear",), True),
    ("ii_exact_set", "bear", ("beetle, bear",), False),
    ("ii_exact", "The book was read by him. Extra sentence.", ("The book was read by him.",), True),
])
def test_released_code_matchers(scorer, text, targets, correct):
    assert scorers.get(scorer)(text, sample(*targets)).correct is correct


def test_f1_scorer_gives_partial_credit():
    score = scorers.get("ii_f1")("things that are round", sample("are round.", "are circular."))
    assert 0 < score.value < 1 and not score.correct and score.parsed


def test_unparseable_is_not_parsed():
    assert not scorers.get("ii_sentiment")("I cannot tell.", sample("positive")).parsed
    assert not scorers.get("ii_first_digit")("similar", sample("3 - probably")).parsed
