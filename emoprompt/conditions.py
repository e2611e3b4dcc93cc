"""One condition grammar and its one parser, used by the CLI, experiment files, `affect`, `ab` and DSPy.

    condition := term ("+" term)*            terms chain: the first sees the call first (EP02+heart)
    term      := word [":" argument] ["@" placement]
    word      := baseline | heart | heart-neutral | heart-neutral-length | rewrite:NAME (the item's own rewording)
               | a family (emotionprompt, negativeprompt, anand, tone, threat, tip, persona, placebo, control, user:
                 every stimulus in it; a transform registered under the same name wins)
               | a registered transform (emoprompt.register_transform or a plugin)
               | a stimulus id (EP02, NP01, PL01, CTRL01, your own), with ":" naming a published variant

Every condition has a canonical name: keywords in lower case, stimulus ids as the library spells them, `@placement`
only where it differs from the experiment's placement, baselines dropped from chains. Two spellings of one
condition (`EP02`, `ep02`, `EP02@after_instruction`) are one condition; `parse_conditions` keeps the first and
says so in a note. A Transform object is a condition too, named by its `label`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from emoprompt.errors import UsageError, unknown_name
from emoprompt.stimuli import FAMILIES, Stimulus, StimulusLibrary, load_library
from emoprompt.transforms.base import Baseline, Chain, Transform, as_transform, chain, identity_hash
from emoprompt.transforms.feedback import HEART_CONDITIONS, FeedbackLoop, HeartSettings, heart_condition
from emoprompt.transforms.rewrite import REWRITE, ItemRewrite
from emoprompt.transforms.stimulus import AttachStimulus, check_placement, check_separator

BASELINE = "baseline"


@dataclass(frozen=True)
class ConditionDefaults:
    """What a condition name means where it does not say: the placement and separator of stimuli, the settings
    of feedback loops, the seed, whether a gold answer exists for an oracle verifier, and the stimulus library."""

    placement: str = "after_instruction"
    separator: str = "space"
    heart: HeartSettings = field(default_factory=HeartSettings)
    seed: int = 0
    has_oracle: bool = True
    library: StimulusLibrary | None = None

    def __post_init__(self) -> None:
        check_placement(self.placement)
        check_separator(self.separator)

    def stimuli(self) -> StimulusLibrary:
        """The stimulus library in use (the shipped one unless given)."""
        return self.library if self.library is not None else load_library()


@dataclass(frozen=True)
class ConditionSpec:
    """One term of a condition as written, as a registered transform factory receives it."""

    name: str
    argument: str | None
    """The text after `:` (`persona:pirate` → `pirate`), if any."""
    placement: str | None
    """The placement after `@`, if any."""
    defaults: ConditionDefaults


@dataclass(frozen=True)
class Condition:
    """A parsed condition: its canonical name, the transform that implements it and its family."""

    name: str
    transform: Transform
    family: str
    spellings: tuple[str, ...] = field(default=(), compare=False)
    """How the condition was written (several when duplicates were merged)."""


def parse_condition(spec: Any, defaults: ConditionDefaults | None = None) -> Condition:
    """Exactly one condition from a name, a Transform, a transform function, or a sequence of these (chained).
    A family name is refused here: it stands for several conditions."""
    defaults = defaults or ConditionDefaults()
    if isinstance(spec, str):
        conditions = _parse_text(spec, defaults)
        if len(conditions) != 1:
            raise UsageError(f"condition {spec!r} is a family of {len(conditions)} conditions; name one of them "
                             f"(e.g. {conditions[0].name})")
        return conditions[0]
    if isinstance(spec, Sequence):
        parts = [parse_condition(part, defaults) for part in spec]
        return _chained(parts, " + ".join(str(p) for p in spec)) if parts else _baseline("[]")
    transform = as_transform(spec)
    if isinstance(transform, Baseline):
        return _baseline(transform.label)
    return Condition(transform.label, transform, _family_of(transform), (transform.label,))


def parse_conditions(specs: Iterable[Any], defaults: ConditionDefaults | None = None
                     ) -> tuple[list[Condition], list[str]]:
    """Every condition of an experiment, families expanded, in order; duplicates (the same transform, however
    spelled) merged. Returns the conditions and notes on what was merged."""
    defaults = defaults or ConditionDefaults()
    by_identity: dict[str, int] = {}
    conditions: list[Condition] = []
    notes: list[str] = []
    for spec in specs:
        expanded = _parse_text(spec, defaults) if isinstance(spec, str) else [parse_condition(spec, defaults)]
        for condition in expanded:
            key = identity_hash(condition.transform)
            if key in by_identity:
                kept = conditions[by_identity[key]]
                conditions[by_identity[key]] = dataclasses.replace(
                    kept, spellings=(*kept.spellings, *condition.spellings))
                notes.append(f"condition {condition.spellings[0]!r} is {kept.name!r}; it runs once")
                continue
            clash = next((c for c in conditions if c.name == condition.name), None)
            if clash is not None:
                raise UsageError(f"two different conditions are both named {condition.name!r}; give one of them "
                                 "another label (a `label` field or property on the transform)")
            by_identity[key] = len(conditions)
            conditions.append(condition)
    if not conditions:
        raise UsageError("no condition given; pass e.g. --condition baseline --condition EP02")
    return conditions, notes


def wording_notes(conditions: Iterable[Condition], defaults: ConditionDefaults | None = None) -> list[str]:
    """One note per condition whose stimulus wording is not verified against its study (REFERENCE.md's grades), so
    that a run or report never passes a recalled or third-party wording off as the paper's."""
    library = (defaults or ConditionDefaults()).stimuli()
    notes = []
    for condition in conditions:
        parts = condition.transform.transforms if isinstance(condition.transform, Chain) else (condition.transform,)
        for part in parts:
            stimulus = library.stimuli.get(part.stimulus_id.split(":")[0]) if isinstance(part, AttachStimulus) \
                else None
            if stimulus is not None and stimulus.status != "verified":
                grade = ("verbatim in third-party copies only, not checked against the study" if
                         stimulus.status == "secondary" else "not found verbatim in any source; do not cite it as "
                         "the study's")
                notes.append(f"condition {condition.name}: the wording of {stimulus.id} is {stimulus.status} "
                             f"({grade}); `emoprompt stimuli show {stimulus.id}` says why")
    return notes


def canonical_name(spec: str, defaults: ConditionDefaults | None = None) -> str:
    """The canonical name of one condition written as text."""
    return parse_condition(spec, defaults).name


def condition_words(defaults: ConditionDefaults | None = None) -> list[str]:
    """Every word the grammar knows: keywords, families, registered transforms and stimulus ids."""
    from emoprompt.transforms.registry import transforms

    defaults = defaults or ConditionDefaults()
    return [BASELINE, *HEART_CONDITIONS, REWRITE, *FAMILIES, *transforms.names(), *(s.id for s in defaults.stimuli())]


def _parse_text(text: str, defaults: ConditionDefaults) -> list[Condition]:
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"condition {text!r} is empty; write e.g. baseline, EP02 or EP02+heart")
    terms = [term.strip() for term in text.split("+")]
    if any(not term for term in terms):
        raise UsageError(f"condition {text!r} has an empty part; write parts joined by +, e.g. EP02+heart")
    expanded = [_term(term, defaults) for term in terms]
    if len(expanded) == 1:
        return [dataclasses.replace(c, spellings=(text,)) for c in expanded[0]]
    if any(len(piece) != 1 for piece in expanded):
        raise UsageError(f"condition {text!r}: a family cannot be chained; chain single conditions")
    return [_chained([piece[0] for piece in expanded], text)]


def _term(term: str, defaults: ConditionDefaults) -> list[Condition]:
    from emoprompt.transforms.registry import transforms

    head, at, where = term.rpartition("@") if "@" in term else (term, "", "")
    word, colon, argument = head.partition(":")
    word, argument, where = word.strip(), argument.strip(), where.strip()
    if at and not where:
        raise UsageError(f"condition {term!r}: name a placement after @ (after_instruction, end, start, system)")
    placement = check_placement(where) if at else None
    lowered = word.lower()
    if lowered == BASELINE or lowered in HEART_CONDITIONS:
        if colon or at:
            raise UsageError(f"condition {term!r}: {lowered} takes no :variant or @placement")
        if lowered == BASELINE:
            return [_baseline(term)]
        loop = heart_condition(lowered, defaults.heart, defaults.seed, defaults.has_oracle)
        return [Condition(lowered, loop, "heart" if lowered == "heart" else "control", (term,))]
    if lowered == REWRITE:
        if not argument or at:
            raise UsageError(f"condition {term!r}: write rewrite:NAME, naming one of the items' own rewrites "
                             "(e.g. rewrite:very-rude); it takes no @placement")
        return [Condition(f"{REWRITE}:{argument}", ItemRewrite(argument), REWRITE, (term,))]
    registered = transforms.find(word)
    if registered is not None:
        if isinstance(registered, Transform) or _is_transform_function(registered):
            if colon or at:
                raise UsageError(f"condition {term!r}: the transform {word!r} takes no :argument or @placement")
            transform = as_transform(registered)
        else:
            transform = as_transform(registered(ConditionSpec(word, argument if colon else None, placement,
                                                              defaults)))
        name = word + (f":{argument}" if colon else "") + _placement_suffix(placement, defaults)
        return [Condition(name, transform, _family_of(transform), (term,))]
    if lowered in FAMILIES:  # after registered transforms: a name the user registered is theirs
        if colon:
            raise UsageError(f"condition {term!r}: a family takes no :variant; name one stimulus")
        members = defaults.stimuli().family(lowered)
        if not members:
            raise UsageError(f"stimulus family {lowered!r} is empty; add stimuli to it or pick another")
        return [_stimulus(s, placement, defaults, term) for s in members]
    library = defaults.stimuli()
    if word.split(":")[0] not in library.stimuli and word.upper() not in library.stimuli:
        raise unknown_name("condition", word, condition_words(defaults),
                           hint="Conditions are baseline, a stimulus id, a family, heart conditions or a registered "
                                "transform; run `emoprompt stimuli list`.")
    stimulus = library.get(f"{word}:{argument}" if colon else word)
    return [_stimulus(stimulus, placement, defaults, term)]


def _is_transform_function(value: Any) -> bool:
    """A registered plain `async def f(query, config, generate)` is the transform itself, not a factory."""
    import inspect

    return inspect.iscoroutinefunction(value)


def _stimulus(stimulus: Stimulus, placement: str | None, defaults: ConditionDefaults, term: str) -> Condition:
    transform = AttachStimulus.of(stimulus, placement or defaults.placement, defaults.separator)
    return Condition(stimulus.label + _placement_suffix(placement, defaults), transform, stimulus.family, (term,))


def _placement_suffix(placement: str | None, defaults: ConditionDefaults) -> str:
    return f"@{placement}" if placement and placement != defaults.placement else ""


def _baseline(written: str) -> Condition:
    return Condition(BASELINE, Baseline(), BASELINE, (written,))


def _chained(parts: list[Condition], written: str) -> Condition:
    transform = chain(*(part.transform for part in parts))
    real = [part for part in parts if not isinstance(part.transform, Baseline)]
    if not real:
        return _baseline(written)
    families = [part.family for part in real]
    family = "heart" if "heart" in families else families[0]
    return Condition("+".join(part.name for part in real), transform, family, (written,))


def _family_of(transform: Transform) -> str:
    if isinstance(transform, Chain):
        families = [_family_of(t) for t in transform.transforms]
        return "heart" if "heart" in families else families[0]
    if isinstance(transform, FeedbackLoop):
        return "heart" if transform.name == "heart" else "control"
    return str(getattr(transform, "family", "user"))
