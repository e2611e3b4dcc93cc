"""The one condition grammar: canonical names, merged spellings, chains, families, registered transforms, errors;
the same parser behind experiments, the CLI, `affect`, `ab` and DSPy."""

import asyncio
from dataclasses import dataclass

import pytest

import emoprompt
from emoprompt.backends.scripted import ScriptedBackend
from emoprompt.conditions import ConditionDefaults, canonical_name, parse_condition, parse_conditions
from emoprompt.errors import UsageError
from emoprompt.runner.experiment import Experiment
from emoprompt.runner.plan import build_plan
from emoprompt.transforms import AttachStimulus, Baseline, Chain
from emoprompt.transforms.feedback import FeedbackLoop
from emoprompt.transforms.registry import transforms


def names(*specs, **defaults):
    conditions, notes = parse_conditions(specs, ConditionDefaults(**defaults))
    return [c.name for c in conditions], notes


@pytest.mark.parametrize("written, canonical", [
    ("EP02", "EP02"), ("ep02", "EP02"), (" EP02 ", "EP02"), ("EP02@after_instruction", "EP02"),
    ("EP02@system", "EP02@system"), ("EP06:figure", "EP06:figure"), ("EP06:figure@end", "EP06:figure@end"),
    ("Baseline", "baseline"), ("HEART", "heart"), ("heart-neutral", "heart-neutral"),
    ("EP02+heart", "EP02+heart"), ("heart+EP02", "heart+EP02"), ("baseline+EP02", "EP02"),
    ("EP02 + NP01@system", "EP02+NP01@system"), ("baseline+baseline", "baseline"),
])
def test_canonical_names(written, canonical):
    assert canonical_name(written) == canonical


def test_two_spellings_of_one_condition_are_one_condition_with_a_note():
    found, notes = names("baseline", "EP02", "EP02@after_instruction", "ep02", "baseline+EP02", "EP02@system")
    assert found == ["baseline", "EP02", "EP02@system"]
    assert len(notes) == 3 and all("is 'EP02'; it runs once" in note for note in notes)


def test_the_default_placement_decides_what_is_canonical():
    assert names("EP02@system", "EP02", placement="system")[0] == ["EP02"]
    assert canonical_name("EP02@system", ConditionDefaults(placement="system")) == "EP02"


def test_families_expand_and_keep_their_placement():
    found, _ = names("placebo@system", "control")
    assert found == ["PL01@system", "PL02@system", "PL03@system", "CTRL01"]
    conditions, _ = parse_conditions(["negativeprompt"])
    assert len(conditions) == 10 and {c.family for c in conditions} == {"negativeprompt"}


def test_transforms_behind_the_names():
    assert isinstance(parse_condition("baseline").transform, Baseline)
    stimulus = parse_condition("EP02@system", ConditionDefaults(separator="none")).transform
    assert isinstance(stimulus, AttachStimulus) and stimulus.placement == "system" and stimulus.separator == "none"
    chained = parse_condition("EP02+heart")
    assert isinstance(chained.transform, Chain) and chained.family == "heart"
    assert isinstance(chained.transform.transforms[1], FeedbackLoop)
    assert parse_condition("heart", ConditionDefaults(has_oracle=False)).transform.verifier == "self"
    assert parse_condition("heart").transform.verifier == "oracle"
    assert parse_condition(["EP02", "NP01"]).name == "EP02+NP01"
    assert parse_condition([]).name == "baseline"


@pytest.mark.parametrize("written, message", [
    ("EP2", "unknown condition 'EP2'. Did you mean 'EP02'?"),
    ("", "is empty"),
    ("EP02+", "has an empty part"),
    ("emotionprompt+heart", "a family cannot be chained"),
    ("baseline@system", "baseline takes no :variant or @placement"),
    ("EP02@", "name a placement after @"),
    ("EP02@middle", "unknown placement 'middle'"),
    ("EP06:poster", "unknown variant of EP06 'poster'"),
    ("emotionprompt:figure", "a family takes no :variant"),
])
def test_bad_conditions_are_one_clear_error(written, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_conditions([written])


def test_a_family_is_refused_where_one_condition_is_needed():
    with pytest.raises(UsageError, match="is a family of 11 conditions"):
        parse_condition("emotionprompt")


def test_duplicate_spellings_never_give_two_cells_one_key():
    experiment = Experiment(models=("scripted/t",), tasks=("sum",), limit=3,
                            conditions=("EP02", "EP02@after_instruction", "ep02", "PL01", "pl01"))
    plan = build_plan(experiment, backends={"scripted/t": ScriptedBackend()})
    assert [c.name for c in plan.conditions] == ["EP02", "PL01"]
    assert len({cell.key for cell in plan.cells}) == len(plan.cells) == 6
    assert any("runs once" in note for note in plan.notes)


def test_the_control_is_canonicalised_too():
    experiment = Experiment(conditions=("baseline", "pl01", "EP02"), analysis=emoprompt.AnalysisPlan(control="PL01"))
    assert experiment.control_condition(experiment.resolve_conditions()) == "PL01"
    lower = Experiment(conditions=("baseline", "PL01", "EP02"), analysis=emoprompt.AnalysisPlan(control="pl01"))
    assert lower.control_condition(lower.resolve_conditions()) == "PL01"


@dataclass(frozen=True)
class Shout(emoprompt.Transform):
    """Upper-cases the input."""

    async def __call__(self, query, config, generate):
        return await generate(query.replace(input=query.input.upper()), config)


@dataclass(frozen=True)
class Persona(emoprompt.Transform):
    persona: str = "You are a careful expert."

    async def __call__(self, query, config, generate):
        return await generate(query.replace(system=self.persona), config)


def test_registered_transforms_are_names_of_the_grammar():
    transforms.register("shout", Shout())
    transforms.register("persona", lambda spec: Persona(f"You are a {spec.argument or 'careful expert'}."))
    try:
        found, _ = names("shout", "persona", "persona:pirate", "shout+EP02")
        assert found == ["shout", "persona", "persona:pirate", "shout+EP02"]
        assert parse_condition("persona:pirate").transform == Persona("You are a pirate.")
        with pytest.raises(UsageError, match="takes no :argument"):
            parse_condition("shout:x")
        with pytest.raises(UsageError, match="exists already"):
            emoprompt.register_transform("shout", Shout)
    finally:
        transforms.unregister("shout")
        transforms.unregister("persona")


def test_transform_objects_and_functions_are_conditions():
    async def polite(query, config, generate):
        return await generate(query.replace(input=query.input + " Please."), config)

    conditions, _ = parse_conditions(["baseline", Persona(), polite, Persona()])
    assert [c.name for c in conditions] == ["baseline", "Persona", "polite"]
    assert conditions[1].family == "user"
    with pytest.raises(UsageError, match="both named 'Persona'"):
        parse_conditions([Persona("a"), Persona("b")])


def test_affect_ab_and_dspy_speak_the_same_grammar(tmp_path):
    @emoprompt.affect("baseline")
    def same(prompt):
        return prompt

    @emoprompt.affect("EP02@system", prompt="messages")
    def system(messages):
        return messages

    @emoprompt.affect("ep02+NP01")
    def chained(prompt):
        return prompt

    assert same("Is 17 prime?") == "Is 17 prime?"
    assert system([{"role": "user", "content": "Hi"}])[0] == {"role": "system",
                                                             "content": "This is very important to my career."}
    assert chained("Q").endswith("career. You've never been particularly good at this, have you?")
    with emoprompt.ab({"plain": "baseline", "both": "EP02@system+NP01"}, tmp_path / "ab") as test:
        assert test.conditions["both"].name == "EP02@system+NP01" and test.conditions["plain"].family == "baseline"


def test_the_decorator_places_stimuli_as_experiments_do():
    """A plain prompt has no instruction, so after_instruction (the CLI's default) puts the stimulus at its end."""
    @emoprompt.affect("EP02")
    def ask(prompt):
        return prompt

    assert ask("Is 17 prime?") == "Is 17 prime? This is very important to my career."
    query = emoprompt.Query(input="x", instruction="Do it.")
    placed = parse_condition("EP02").transform.apply(query)  # type: ignore[attr-defined]
    assert placed.instruction == "Do it. This is very important to my career."


def test_heart_through_the_decorator_uses_the_oracle_only_with_a_check():
    seen = []

    @emoprompt.affect("heart", check=lambda text: text == "42")
    def with_check(messages):
        seen.append(messages)
        return "42" if len(messages) > 1 else "41"

    assert with_check([{"role": "user", "content": "40+2?"}]) == "42" and len(seen) == 2

    @emoprompt.affect("heart")
    def self_checked(messages):
        return "yes" if "yes or no" in messages[-1]["content"] else "42"

    assert asyncio.run(asyncio.to_thread(self_checked, [{"role": "user", "content": "40+2?"}])) == "42"
