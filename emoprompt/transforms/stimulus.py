"""Attach a stimulus sentence to a query at a named placement with a chosen separator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emoprompt.chat import Completion, Generate, GenerateConfig, Query
from emoprompt.errors import unknown_name
from emoprompt.stimuli import Stimulus
from emoprompt.transforms.base import Transform, dataclass_identity

PLACEMENTS = ("after_instruction", "end", "start", "system")
"""after_instruction: right after the task instruction (EmotionPrompt/NegativePrompt papers; the default);
end: end of the first user message; start: start of it; system: in the system message."""

SEPARATORS = {"space": " ", "newline": "\n", "none": ""}
"""`none` reproduces NegativePrompt's released code, which concatenates with no separator."""


def check_placement(placement: str) -> str:
    """Return `placement` if known, else raise a UsageError with a suggestion."""
    if placement not in PLACEMENTS:
        raise unknown_name("placement", placement, PLACEMENTS)
    return placement


def check_separator(separator: str) -> str:
    """Return `separator` if known, else raise a UsageError with a suggestion."""
    if separator not in SEPARATORS:
        raise unknown_name("separator", separator, SEPARATORS)
    return separator


@dataclass(frozen=True)
class AttachStimulus(Transform):
    """A static stimulus transform: one edit of the query, one call to `generate`."""

    stimulus_id: str
    text: str
    placement: str = "after_instruction"
    separator: str = "space"

    def __post_init__(self) -> None:
        check_placement(self.placement)
        check_separator(self.separator)

    @classmethod
    def of(cls, stimulus: Stimulus, placement: str = "after_instruction", separator: str = "space"
           ) -> AttachStimulus:
        """Build from a library stimulus."""
        return cls(stimulus.label, stimulus.text, placement, separator)

    @property
    def label(self) -> str:
        return self.stimulus_id

    def identity(self) -> dict[str, Any]:
        return dataclass_identity(self)

    def apply(self, query: Query) -> Query:
        """The edited query."""
        sep = SEPARATORS[self.separator]
        if self.placement == "after_instruction":
            if not query.instruction.strip():
                return query.replace(suffix=query.suffix + sep + self.text)
            text = query.instruction.rstrip()
            trailing = query.instruction[len(text):]  # keep a prefix's closing newline after the stimulus
            return query.replace(instruction=text + sep + self.text + trailing)
        if self.placement == "end":
            return query.replace(suffix=query.suffix + sep + self.text)
        if self.placement == "start":
            return query.replace(prefix=self.text + sep + query.prefix)
        system = f"{query.system}{sep}{self.text}" if query.system else self.text
        return query.replace(system=system)

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        return await generate(self.apply(query), config)
