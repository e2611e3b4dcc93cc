"""Prompt-format perturbations in the spirit of FormatSpread (Sclar et al., ICLR 2024): the same template with other
field labels, label casing, label separators and spacing, drawn deterministically from a seed.

A format variant is written as a template spec with a suffix, `instruction-induction~format:0-3` (seed 0, variant
3), so it is part of a task's fingerprint and of every cache key; variant 0 is the template unchanged.
"""

from __future__ import annotations

import dataclasses
import random
import re

from emoprompt.suites.templates import Template

SUFFIX = re.compile(r"~format:(\d+)-(\d+)$")
LABELS = {
    "instruction": ("Instruction", "Task", "Directions"),
    "input": ("Input", "Question", "Query", "Q"),
    "answer": ("Answer", "Response", "A"),
    "output": ("Output", "Answer", "Response", "A"),
}
CASES = (str, str.upper, str.lower)
SEPARATORS = (": ", " - ", ":: ", ":\n")
SPACINGS = ("\n", "\n\n", " ")
_LABEL = re.compile(r"\b(Instruction|Input|Answer|Output): ?")


def variant_spec(template: str, seed: int, index: int) -> str:
    """The template spec of format variant `index` (0: the template itself)."""
    return template if index == 0 else f"{template}~format:{seed}-{index}"


def split_spec(spec: str) -> tuple[str, tuple[int, int] | None]:
    """A template spec as (base spec, (seed, variant)) — None when it names no format variant."""
    match = SUFFIX.search(spec)
    if not match:
        return spec, None
    return spec[:match.start()], (int(match.group(1)), int(match.group(2)))


def has_labels(template: Template) -> bool:
    """Whether the template's body has field labels (`Input:`, ...) for a format variant to change (the demo
    format alone is not enough: without shots it is never shown)."""
    return bool(_LABEL.search(template.body))


def format_variant(template: Template, seed: int, index: int) -> Template:
    """The template with variant `index`'s labels, casing, separator and spacing (variant 0: unchanged)."""
    if index == 0:
        return template
    rng = random.Random(f"format:{seed}-{index}")
    labels = {field: rng.choice(choices) for field, choices in LABELS.items()}
    case = rng.choice(CASES)
    separator = rng.choice(SEPARATORS)
    spacing = rng.choice(SPACINGS)

    def relabel(text: str) -> str:
        # a single line break between fields is the spacing that varies; blank lines around the demonstrations
        # stay, so that fields remain apart
        text = re.sub(r"(?<=[^\n])\n(?=[^\n])", spacing, text)
        return _LABEL.sub(lambda m: case(labels[m.group(1).lower()]) + separator, text)

    return dataclasses.replace(template, body=relabel(template.body), demo=relabel(template.demo))
