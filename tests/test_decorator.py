"""@emoprompt.affect around real clients (litellm, OpenAI) on a loopback server, and plain functions."""

import asyncio

import pytest

import emoprompt
from emoprompt.transforms import AttachStimulus

CAREER = "This is very important to my career."


def test_string_prompt_sync_and_async():
    @emoprompt.affect("EP02")
    def ask(prompt):
        return prompt

    @emoprompt.affect("EP02", "NP01")
    async def ask_async(question):
        return question

    assert ask("Is 17 prime?") == f"Is 17 prime? {CAREER}"
    assert asyncio.run(ask_async("Q")).endswith(f"{CAREER} You've never been particularly good at this, have you?")


def test_messages_keyword_and_placements():
    @emoprompt.affect(AttachStimulus("EP02", CAREER, placement="system"), prompt="messages")
    def ask(model, *, messages):
        return messages

    sent = ask("m", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert sent == [{"role": "system", "content": f"Be brief. {CAREER}"}, {"role": "user", "content": "Hi"}]

    @emoprompt.affect("EP02")
    def last_user(messages):
        return messages

    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
               {"role": "user", "content": "c"}]
    assert last_user(history)[-1]["content"] == f"c {CAREER}" and last_user(history)[0]["content"] == "a"


def test_return_type_is_unchanged_and_feedback_needs_messages():
    response = {"choices": [{"message": {"role": "assistant", "content": "41"}}]}

    @emoprompt.affect("EP02")
    def ask(messages):
        return response

    assert ask([{"role": "user", "content": "x"}]) is response

    @emoprompt.affect("heart")
    def string_only(prompt):
        return "x"

    with pytest.raises(TypeError, match="feedback loops"):
        string_only("hello")


def test_feedback_loop_with_a_caller_supplied_check():
    seen = []

    @emoprompt.affect("heart-neutral", check=lambda text: text == "42")
    def ask(messages):
        seen.append(messages)
        return "42" if len(messages) > 1 else "41"

    assert ask([{"role": "user", "content": "40+2?"}]) == "42"
    assert len(seen) == 2 and seen[1][-1]["role"] == "user"


def test_around_litellm_and_the_openai_client(loopback, monkeypatch):
    import litellm
    from openai import AsyncOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    @emoprompt.affect("EP02")
    def via_litellm(messages):
        return litellm.completion(model="openai/test-model", messages=messages, api_base=loopback.url)

    answer = via_litellm([{"role": "user", "content": "Input: one two"}])
    assert type(answer).__name__ == "ModelResponse" and answer.choices[0].message.content == "career."

    client = AsyncOpenAI(base_url=loopback.url, api_key="sk-test")

    @emoprompt.affect("NP03", prompt="messages")
    async def via_openai(model, messages):
        return await client.chat.completions.create(model=model, messages=messages)

    result = asyncio.run(via_openai("test-model", messages=[{"role": "user", "content": "Input: x y"}]))
    assert type(result).__name__ == "ChatCompletion" and result.choices[0].message.content == "here."


def test_unknown_stimulus_and_argument():
    with pytest.raises(emoprompt.UsageError, match="Did you mean 'EP02'"):
        emoprompt.affect("EP2")
    with pytest.raises(TypeError, match="no argument 'msgs'"):
        emoprompt.affect("EP02", prompt="msgs")(lambda messages: messages)
