import pytest

from emoprompt.errors import UsageError
from emoprompt.suites.registry import scorers
from emoprompt.suites.scorers import extract_answer, parse_number, token_f1
from emoprompt.suites.suite import Sample


def sample(*targets, choices=()):
    return Sample("s1", "input", tuple(targets), tuple(choices))


@pytest.mark.parametrize("text, answer", [
    ("Answer: Paris", "Paris"),
    ('The first letter of the input word is "h".', "h"),
    ("The larger of the two numbers is 734.", "734"),
    ("\n\n  apples.\nmore text", "apples"),
    ("", None),
    ("   \n  ", None),
])
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_parse_failure_is_separate_from_wrong():
    exact = scorers.get("normalized_exact")
    wrong = exact("dogs", sample("cats"))
    assert (wrong.correct, wrong.parsed) == (False, True)
    empty = exact("", sample("cats"))
    assert (empty.correct, empty.parsed) == (False, False)


def test_numeric():
    numeric = scorers.get("numeric")
    assert numeric("17 + 25 = 42", sample("42")).correct
    assert numeric("The sum is 1,042.", sample("1042")).correct
    assert not numeric("The sum is 41", sample("42")).correct
    no_number = numeric("I cannot do that", sample("42"))
    assert not no_number.parsed and not no_number.correct
    assert parse_number("-3.5") == -3.5


def test_exact_and_normalized_and_contains():
    assert scorers.get("exact")("Paris", sample("Paris")).correct
    assert not scorers.get("exact")("paris", sample("Paris")).correct
    assert scorers.get("normalized_exact")("forty-two", sample("forty two")).correct
    assert scorers.get("contains")("I think the answer is Paris, France.", sample("paris")).correct
    assert not scorers.get("contains")("Parisian", sample("paris")).correct


def test_multiple_choice_by_letter_or_text():
    mc = scorers.get("multiple_choice")
    s = sample("Yes", choices=("Yes", "No"))
    assert mc("A", s).correct
    assert mc("(A) Yes", s).correct
    assert mc("The answer is B.", s).parsed and not mc("The answer is B.", s).correct
    assert mc("yes", s).correct
    ambiguous = mc("yes or no, hard to say", s)
    assert not ambiguous.parsed


def test_token_f1():
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("cat", "the cat") == pytest.approx(2 / 3)
    score = scorers.get("token_f1")("the cat", sample("the cat sat", "dog"))
    assert score.value == pytest.approx(0.8) and not score.correct and score.parsed


def test_unknown_scorer():
    with pytest.raises(UsageError, match="Did you mean 'numeric'"):
        scorers.get("numerc")
