import asyncio

import pytest

from emoprompt.chat import Completion, GenerateConfig, Query
from emoprompt.errors import UsageError
from emoprompt.suites.registry import get_template
from emoprompt.transforms import AttachStimulus, Baseline, Chain, chain

QUERY = Query(input="cat", instruction="Write the plural.", system=None)
RENDER = get_template("instruction-induction").render


def run(transform, query=QUERY):
    seen = []

    async def generate(q, config):
        seen.append(q)
        return Completion("ok")

    asyncio.run(transform(query, GenerateConfig(), generate))
    return seen


def test_after_instruction_with_each_separator():
    for separator, joined in (("space", " "), ("newline", "\n"), ("none", "")):
        query = AttachStimulus("EP02", "Stim.", separator=separator).apply(QUERY)
        assert query.instruction == f"Write the plural.{joined}Stim."


def test_negativeprompt_faithful_rendering_has_no_space():
    query = AttachStimulus("NP01", "You've never been particularly good at this, have you?", separator="none")
    chat = RENDER(query.apply(Query(input="great film", instruction="Determine whether a movie review is "
                                                                     "positive or negative.")))
    assert chat[0].content == ("Instruction: Determine whether a movie review is positive or negative.You've never "
                               "been particularly good at this, have you?\n\n\nInput: great film\nAnswer: ")


def test_end_start_and_system_placements():
    end = RENDER(AttachStimulus("S", "Stim.", placement="end").apply(QUERY))
    assert end[-1].content.endswith("Answer:  Stim.")
    start = RENDER(AttachStimulus("S", "Stim.", placement="start", separator="newline").apply(QUERY))
    assert start[-1].content.startswith("Stim.\nInstruction:")
    system = RENDER(AttachStimulus("S", "Stim.", placement="system").apply(QUERY))
    assert system[0].role == "system" and system[0].content == "Stim."
    appended = AttachStimulus("S", "Stim.", placement="system").apply(QUERY.replace(system="Be brief."))
    assert appended.system == "Be brief. Stim."


def test_raw_prompt_without_instruction_gets_stimulus_at_end():
    query = AttachStimulus("S", "Stim.").apply(Query(input="What is 2+2?"))
    assert get_template("raw").render(query)[0].content == "What is 2+2? Stim."


def test_unknown_placement_is_a_usage_error():
    with pytest.raises(UsageError, match="Did you mean 'system'"):
        AttachStimulus("S", "x", placement="sytem")


def test_chain_order_first_sees_call_first():
    a, b = AttachStimulus("A", "a."), AttachStimulus("B", "b.")
    seen = run(chain(a, b))
    assert seen[-1].instruction == "Write the plural. a. b."
    assert chain(a, b).label == "A+B"
    assert chain(Baseline(), a) == a
    assert isinstance(chain(a, chain(b, a)), Chain) and len(chain(a, chain(b, a)).transforms) == 3


def test_identity_is_stable_and_distinguishes_fields():
    a = AttachStimulus("EP02", "text")
    assert a.identity() == AttachStimulus("EP02", "text").identity()
    assert a.identity() != AttachStimulus("EP02", "text", separator="none").identity()
    assert a == AttachStimulus("EP02", "text") and len({a, AttachStimulus("EP02", "text")}) == 1
    assert Baseline().identity() == {"type": "Baseline"} and run(Baseline())[0] == QUERY


def test_placeholders_inside_a_stimulus_or_an_input_are_sent_verbatim():
    """Templates substitute in one pass: text that arrives inside a value is never substituted again."""
    query = AttachStimulus("S", "Mind the {input} and {demos}.").apply(
        Query(input="literal {instruction} here", instruction="Repeat {output}.", demos=(("{input}", "{output}"),)))
    content = RENDER(query)[-1].content
    assert "Repeat {output}. Mind the {input} and {demos}." in content
    assert "Input: {input}\nOutput: {output}" in content and "Input: literal {instruction} here" in content
