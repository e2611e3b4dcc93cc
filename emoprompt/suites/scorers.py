"""Scorers: `(completion text, sample) -> Score`. Parse failure is its own field, never just "wrong"."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from emoprompt.suites.suite import Sample

_LABEL = re.compile(r"^\s*(?:final\s+)?(?:answer|output|result)\s*(?:is)?\s*[:：]\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_LETTER = re.compile(r"^\(?([A-Z])\)?(?:[.:)\]]|\s|$)")
_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”')
_IS_TAIL = re.compile(r"\b(?:is|are)\s+(.+?)\.?$", re.IGNORECASE)
OPTION_LETTERS = "ABCDEFGHIJKLMNOP"
"""The letters of a multiple-choice item's options, in order."""
_ANSWER_IS_LETTER = re.compile(r"answer\s+is\s*:?\s*\(?([A-Z])\)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Score:
    """A scored answer: value in [0, 1], whether it counts as correct, whether any answer could be parsed."""

    value: float
    correct: bool
    parsed: bool
    answer: str | None


def answer_line(text: str) -> str | None:
    """The first non-empty line without an 'Answer:' label, surrounding quotes or a final period."""
    for line in text.strip().splitlines():
        line = _LABEL.sub("", line.strip()).strip().strip("\"'`*").strip()
        if line:
            return line[:-1].rstrip() if line.endswith(".") and not _NUMBER.fullmatch(line) else line
    return None


def _candidates(text: str) -> list[str]:
    """The whole answer line and the short answer extracted from it (they differ for sentences)."""
    return [c for c in dict.fromkeys((answer_line(text), extract_answer(text))) if c]


def extract_answer(text: str) -> str | None:
    """The answer of a completion, from its first non-empty line.

    An 'Answer:' label is dropped; a sentence that quotes its answer ('The first letter is "h".') gives
    the last quoted span; a sentence ending in 'is X' with X of at most three words gives X.
    """
    for line in text.strip().splitlines():
        line = _LABEL.sub("", line.strip()).strip()
        if not line:
            continue
        quoted = [a or b for a, b in _QUOTED.findall(line)]
        if quoted and quoted[-1].strip() and quoted[-1].strip() != line.strip("\"'"):
            line = quoted[-1]
        else:
            tail = _IS_TAIL.search(line)
            if tail and len(tail.group(1).split()) <= 3:
                line = tail.group(1)
        line = line.strip().strip("\"'`*").strip()
        if line.endswith(".") and not _NUMBER.fullmatch(line):
            line = line[:-1].rstrip()
        return line or None
    return None


def normalize(text: str) -> str:
    """Lower-case, hyphens as spaces, no punctuation, single spaces."""
    text = text.lower().replace("-", " ")
    text = text.translate(str.maketrans("", "", string.punctuation))
    return " ".join(text.split())


def _binary(correct: bool, parsed: bool, answer: str | None) -> Score:
    return Score(1.0 if correct else 0.0, correct, parsed, answer)


def score_exact(text: str, sample: Sample) -> Score:
    """The answer (whole line or short answer) equals a target exactly (surrounding whitespace ignored)."""
    candidates = _candidates(text)
    hit = next((c for c in candidates if c in sample.targets), None)
    return _binary(hit is not None, bool(candidates), hit or extract_answer(text))


def score_normalized_exact(text: str, sample: Sample) -> Score:
    """The answer (whole line or short answer) equals a target after `normalize`."""
    candidates = _candidates(text)
    if not candidates:
        return _binary(False, False, None)
    targets = {normalize(target) for target in sample.targets}
    hit = next((c for c in candidates if normalize(c) in targets), None)
    return _binary(hit is not None, True, hit or extract_answer(text))


def score_contains(text: str, sample: Sample) -> Score:
    """A normalized target appears anywhere in the normalized completion."""
    body = normalize(text)
    if not body:
        return _binary(False, False, None)
    hit = any(f" {normalize(t)} " in f" {body} " for t in sample.targets if normalize(t))
    return _binary(hit, True, extract_answer(text))


def parse_number(answer: str) -> float | None:
    """The number an answer line gives: the last number after the last '=', commas ignored."""
    tail = answer.rsplit("=", 1)[-1].replace(",", "")
    numbers = _NUMBER.findall(tail) or _NUMBER.findall(answer.replace(",", ""))
    return float(numbers[-1]) if numbers else None


def score_numeric(text: str, sample: Sample) -> Score:
    """The number in the answer line equals a numeric target."""
    answer = extract_answer(text)
    value = parse_number(answer) if answer else None
    if value is None:
        return _binary(False, False, answer)
    targets = {float(t.replace(",", "")) for t in sample.targets}
    return _binary(value in targets, True, f"{value:g}")


def score_multiple_choice(text: str, sample: Sample) -> Score:
    """A choice picked by letter (A, (B), 'answer is C') or by its exact text; ambiguity counts as unparsed."""
    answer = extract_answer(text)
    if not sample.choices:
        raise ValueError(f"sample {sample.id} has no choices for the multiple_choice scorer")
    chosen = _choice_by_letter(text, answer, len(sample.choices))
    picked = sample.choices[chosen] if chosen is not None else _choice_by_text(text, sample.choices)
    if picked is None:
        return _binary(False, False, answer)
    return _binary(picked in sample.targets, True, picked)


def _choice_by_letter(text: str, answer: str | None, n_choices: int) -> int | None:
    for match in (_LETTER.match(answer or ""), _ANSWER_IS_LETTER.search(text)):
        if match and ord(match.group(1)) - ord("A") < n_choices:
            return ord(match.group(1)) - ord("A")
    return None


def _choice_by_text(text: str, choices: tuple[str, ...]) -> str | None:
    answer = extract_answer(text)
    if answer is not None:
        exact = [c for c in choices if normalize(c) == normalize(answer)]
        if len(exact) == 1:
            return exact[0]
    body = f" {normalize(text)} "
    found = [c for c in choices if f" {normalize(c)} " in body]
    return found[0] if len(found) == 1 else None


def score_first_letter(text: str, sample: Sample) -> Score:
    """Mind Your Tone's rule (its notebook's regex `\\b([A-D])\\b` on the upper-cased answer): the first standalone
    option letter anywhere in the answer is the choice (A–D, or as many letters as the sample has choices)."""
    letters = OPTION_LETTERS[:len(sample.choices) or 4]
    found = re.search(rf"\b([{letters}])\b", text.strip().upper())
    if found is None:
        return _binary(False, False, None)
    letter = found.group(1)
    return _binary(letter in {t.strip().upper() for t in sample.targets}, True, letter)


def token_f1(prediction: str, target: str) -> float:
    """SQuAD-style token F1 between two strings after `normalize`."""
    predicted, gold = normalize(prediction).split(), normalize(target).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if not predicted or not gold or common == 0:
        return float(predicted == gold)
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def score_token_f1(text: str, sample: Sample) -> Score:
    """Best token F1 of the answer line against any target; correct only at F1 = 1."""
    candidates = _candidates(text)
    if not candidates:
        return Score(0.0, False, False, None)
    value, answer = max((token_f1(c, target), c) for c in candidates for target in sample.targets)
    return Score(value, value == 1.0, True, answer)


Scorer = Callable[[str, Sample], Score]



def score_choice_text(text: str, sample: Sample) -> Score:
    """A choice named by its text (choices shown without letters, as BIG-Bench presents them)."""
    line = next((x.strip() for x in text.strip().splitlines() if x.strip()), "")
    candidates = [line, line.rstrip("."), extract_answer(text) or ""]
    for candidate in candidates:
        exact = [c for c in sample.choices if c.strip().lower() == candidate.strip().lower()]
        if len(exact) == 1:
            return _binary(exact[0] in sample.targets, True, exact[0])
    picked = _choice_by_text(text, sample.choices)
    if picked is None:
        return _binary(False, False, line or None)
    return _binary(picked in sample.targets, True, picked)


def score_bigbench_exact(text: str, sample: Sample) -> Score:
    """BIG-Bench exact_str_match on the first line: equal to a target after stripping (a final '.' ignored)."""
    line = next((x.strip() for x in text.strip().splitlines() if x.strip()), "")
    if not line:
        return _binary(False, False, None)
    hit = any(line == t.strip() or line.rstrip(".") == t.strip().rstrip(".") for t in sample.targets)
    return _binary(hit, True, line)


SCORERS: dict[str, Scorer] = {
    "exact": score_exact,
    "normalized_exact": score_normalized_exact,
    "contains": score_contains,
    "numeric": score_numeric,
    "multiple_choice": score_multiple_choice,
    "first_letter": score_first_letter,
    "token_f1": score_token_f1,
    "choice_text": score_choice_text,
    "bigbench_exact": score_bigbench_exact,
}
"""The general built-in scorers (Instruction Induction's are in ii_scorers); look any scorer up with
`emoprompt.registry.scorers.get`."""

