"""Instruction Induction scoring as NegativePrompt's released code does it (utility.py, REFERENCE.md §2.4).

Predictions are normalised (first line, first sentence, lower-case, punctuation stripped), then matched
leniently per task: keyword search for sentiment, first digit for sentence_similarity, containment for
arithmetic, antonyms, plurals, translations and synonyms, any word for rhymes, "same"/"not the same" for
word_in_context, an exact set for taxonomy_animal, token F1 for common_concept and informal_to_formal.
"""

from __future__ import annotations

import re
import string

from emoprompt.suites.scorers import Score, token_f1
from emoprompt.suites.suite import Sample

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def ii_normalize(text: str) -> str:
    """First non-empty line, its first sentence, lower-case, without punctuation, single spaces."""
    line = next((x.strip() for x in text.strip().splitlines() if x.strip()), "")
    line = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return " ".join(line.lower().translate(_PUNCTUATION).split())


def _score(correct: bool, parsed: bool, answer: str | None) -> Score:
    return Score(1.0 if correct else 0.0, correct, parsed, answer)


def ii_exact(text: str, sample: Sample) -> Score:
    """Normalised exact match against any gold."""
    answer = ii_normalize(text)
    return _score(answer in {ii_normalize(t) for t in sample.targets}, bool(answer), answer or None)


def ii_contains(text: str, sample: Sample) -> Score:
    """A normalised gold appears as whole words in the normalised prediction."""
    answer = ii_normalize(text)
    hit = any(f" {ii_normalize(t)} " in f" {answer} " for t in sample.targets if ii_normalize(t))
    return _score(hit, bool(answer), answer or None)


def ii_substring(text: str, sample: Sample) -> Score:
    """A normalised gold is a substring of the normalised prediction (larger_animal)."""
    answer = ii_normalize(text)
    return _score(any(ii_normalize(t) in answer for t in sample.targets if ii_normalize(t)), bool(answer),
                  answer or None)


def ii_word_match(text: str, sample: Sample) -> Score:
    """Any word of the prediction is a gold (rhymes)."""
    answer = ii_normalize(text)
    golds = {ii_normalize(t) for t in sample.targets}
    return _score(any(word in golds for word in answer.split()), bool(answer), answer or None)


def ii_sentiment(text: str, sample: Sample) -> Score:
    """The prediction names exactly one of positive/negative, and it is the gold one."""
    answer = ii_normalize(text)
    found = [label for label in ("positive", "negative") if label in answer]
    label = found[0] if len(found) == 1 else None
    return _score(label is not None and label == ii_normalize(sample.targets[0]), label is not None, label)


def ii_first_digit(text: str, sample: Sample) -> Score:
    """The first digit of the prediction equals the gold's (sentence_similarity '3 - probably')."""
    digits = re.findall(r"\d", text)
    gold = re.findall(r"\d", sample.targets[0])
    answer = digits[0] if digits else None
    return _score(answer is not None and bool(gold) and answer == gold[0], answer is not None, answer)


def ii_same(text: str, sample: Sample) -> Score:
    """word_in_context: 'not the same'/'no'/'false' vs 'same'/'yes'/'true'."""
    answer = ii_normalize(text)
    if re.search(r"\b(not the same|different|no|false)\b", answer):
        label = "not the same"
    elif re.search(r"\b(same|yes|true)\b", answer):
        label = "same"
    else:
        return _score(False, False, None)
    return _score(label == ii_normalize(sample.targets[0]), True, label)


def ii_exact_set(text: str, sample: Sample) -> Score:
    """The comma-separated items of the prediction equal the gold's as a set (taxonomy_animal)."""
    line = next((x for x in text.strip().splitlines() if x.strip()), "")
    predicted = {ii_normalize(item) for item in line.split(",") if ii_normalize(item)}
    gold = {ii_normalize(item) for item in sample.targets[0].split(",") if ii_normalize(item)}
    return _score(predicted == gold, bool(predicted), ", ".join(sorted(predicted)) or None)


def ii_f1(text: str, sample: Sample) -> Score:
    """Best token F1 against any gold (common_concept, informal_to_formal); the score is the F1 itself."""
    answer = ii_normalize(text)
    if not answer:
        return Score(0.0, False, False, None)
    value = max(token_f1(answer, ii_normalize(t)) for t in sample.targets)
    return Score(value, value == 1.0, True, answer)


II_SCORERS = {
    "ii_exact": ii_exact, "ii_contains": ii_contains, "ii_substring": ii_substring, "ii_word_match": ii_word_match,
    "ii_sentiment": ii_sentiment, "ii_first_digit": ii_first_digit, "ii_same": ii_same,
    "ii_exact_set": ii_exact_set, "ii_f1": ii_f1,
}
