"""Built-in offline tasks in the style of Instruction Induction, generated deterministically from a seed."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

from emoprompt.errors import unknown_name
from emoprompt.package_data import shipped_dir
from emoprompt.suites.suite import Sample

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_to_words(number: int, with_and: bool = False) -> str:
    """English words for 0..9999 ('four thousand two hundred six'; 'and' after hundred when asked)."""
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        head = f"{_ONES[hundreds]} hundred"
        return head + (f"{' and' if with_and else ''} {number_to_words(rest)}" if rest else "")
    thousands, rest = divmod(number, 1000)
    head = f"{number_to_words(thousands)} thousand"
    if not rest:
        return head
    joiner = " and " if with_and and rest < 100 else " "
    return head + joiner + number_to_words(rest, with_and)


def plural(noun: str) -> str:
    """The regular English plural."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


@functools.cache
def _words(name: str) -> list[str]:
    path = shipped_dir("suites") / "builtin" / name
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


Item = tuple[str, tuple[str, ...]]


def _sum(rng: random.Random) -> Item:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    return f"{a} {b}", (str(a + b),)


def _diff(rng: random.Random) -> Item:
    a = rng.randint(10, 199)
    b = rng.randint(0, a)
    return f"{a} {b}", (str(a - b),)


def _larger(rng: random.Random) -> Item:
    a, b = rng.sample(range(1, 1000), 2)
    return f"{a} {b}", (str(max(a, b)),)


def _num_to_verbal(rng: random.Random) -> Item:
    n = rng.randint(0, 9999)
    return str(n), tuple(dict.fromkeys((number_to_words(n), number_to_words(n, with_and=True))))


def _word_task(pick: Callable[[str], str]) -> Callable[[random.Random], Item]:
    words = _words("words.txt")

    def make(rng: random.Random) -> Item:
        word = rng.choice(words)
        return word, (pick(word),)

    return make


def _word_sorting(rng: random.Random) -> Item:
    chosen = rng.sample(_words("words.txt"), rng.randint(3, 5))
    return " ".join(chosen), (" ".join(sorted(chosen)),)


def _singular_to_plural(rng: random.Random) -> Item:
    noun = rng.choice(_words("nouns.txt"))
    return noun, (plural(noun),)


ANAND_PROBLEMS = ((5, 7), (12, 34), (123, 456), (1234, 5678), (12345, 67890), (123456, 789012), (1234567, 8901234),
                  (12345678, 90123456), (123456789, 987654321), (1234567890, 9876543210))
"""Anand 2025's ten multiplication problems, one to ten digits (sanand0/llmevals emotion-prompts)."""


def _anand_multiplication() -> Callable[[random.Random], Item]:
    """The ten problems in order, whatever the seed ("What is a x b?" → the product)."""
    problems = iter(ANAND_PROBLEMS * 50)

    def make(rng: random.Random) -> Item:
        a, b = next(problems)
        return f"What is {a} x {b}?", (str(a * b),)

    return make


GENERATORS: dict[str, Callable[[], Callable[[random.Random], Item]]] = {
    "anand_multiplication": _anand_multiplication,
    "sum": lambda: _sum,
    "diff": lambda: _diff,
    "larger_number": lambda: _larger,
    "num_to_verbal": lambda: _num_to_verbal,
    "first_word_letter": lambda: _word_task(lambda w: w[0]),
    "second_word_letter": lambda: _word_task(lambda w: w[1]),
    "letters_list": lambda: _word_task(lambda w: " ".join(w)),
    "word_sorting": lambda: _word_sorting,
    "singular_to_plural": lambda: _singular_to_plural,
}


def generate_samples(generator: str, n: int, seed: int, id_prefix: str) -> tuple[Sample, ...]:
    """`n` distinct samples from a named generator; the same (generator, n, seed) always gives the same items."""
    if generator not in GENERATORS:
        raise unknown_name("generator", generator, GENERATORS)
    make = GENERATORS[generator]()
    rng = random.Random(f"{generator}:{seed}")
    items: dict[str, tuple[str, ...]] = {}
    for _ in range(n * 50):
        if len(items) == n:
            break
        text, targets = make(rng)
        items.setdefault(text, targets)
    return tuple(Sample(f"{id_prefix}{i:04d}", text, targets) for i, (text, targets) in enumerate(items.items()))
