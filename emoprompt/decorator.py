"""`@emoprompt.affect(...)`: apply a transform to a user's own function that calls an LLM."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from emoprompt.chat import Completion, GenerateConfig, Message, Oracle, Query
from emoprompt.conditions import ConditionDefaults, parse_condition
from emoprompt.stimuli import load_library
from emoprompt.suites.registry import get_template
from emoprompt.transforms import Chain, Transform
from emoprompt.transforms.feedback import FeedbackLoop, HeartSettings

ConditionLike = Transform | str | Sequence[Any]
"""A condition name (the one grammar: 'baseline', 'EP02', 'EP02@system', 'EP02+heart', ...), a Transform, an async
transform function, or a sequence of these (chained in order)."""
_RAW = get_template("raw")


def resolve_transform(spec: ConditionLike, defaults: ConditionDefaults | None = None) -> Transform:
    """The transform of one condition, parsed with the one condition grammar."""
    return parse_condition(spec, defaults).transform


def call_defaults(placement: str = "after_instruction", separator: str = "space", heart: HeartSettings | None = None,
                  has_oracle: bool = False, stimuli: Sequence[str] = ()) -> ConditionDefaults:
    """Condition defaults for wrapping a user's own calls: the CLI's placement and separator unless given (a plain
    prompt has no instruction, so `after_instruction` puts a stimulus at its end); feedback loops verify with the
    oracle when `has_oracle`, else with the model itself."""
    from pathlib import Path

    return ConditionDefaults(placement, separator, heart or HeartSettings(), 0, has_oracle,
                             load_library(Path(p) for p in stimuli) if stimuli else None)


def is_multi_turn(transform: Transform) -> bool:
    """True when the transform may call the model more than once (a feedback loop anywhere in it)."""
    if isinstance(transform, Chain):
        return any(is_multi_turn(t) for t in transform.transforms)
    return isinstance(transform, FeedbackLoop)


def response_text(response: Any) -> str:
    """The text of a string, an OpenAI/litellm chat response object, or its dict form."""
    if isinstance(response, str):
        return response
    if isinstance(response, dict):
        return str(response["choices"][0]["message"]["content"] or "")
    choices = getattr(response, "choices", None)
    if choices:
        return str(choices[0].message.content or "")
    raise TypeError(f"cannot read text from a {type(response).__name__}; return a string or an OpenAI-style "
                    "chat response")


def query_from_prompt(prompt: Any) -> Query:
    """A string is the input; a message list gives system, history and the last user message as the input."""
    if isinstance(prompt, str):
        return Query(input=prompt)
    messages = [m if isinstance(m, dict) else dict(m) for m in prompt]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last_user is None:
        raise TypeError("the messages have no user message to attach a stimulus to")
    system = messages[0]["content"] if messages[0].get("role") == "system" else None
    history = tuple(Message(m["role"], m["content"]) for m in messages[1 if system is not None else 0:last_user])
    turns = tuple(Message(m["role"], m["content"]) for m in messages[last_user + 1:])
    return Query(input=messages[last_user]["content"], system=system, history=history, turns=turns)


def prompt_like(original: Any, query: Query) -> Any:
    """The transformed query in the caller's own form: a string, or a list of message dicts."""
    chat = _RAW.render(query)
    if isinstance(original, str):
        if len(chat) != 1:
            raise TypeError("this transform adds a system message or turns, which a string prompt cannot hold; "
                            "pass OpenAI-style messages instead")
        return chat[0].content
    return [m.to_dict() for m in chat]


class PromptSlot:
    """Where the prompt is in a call: the first argument, or the argument named `name`."""

    def __init__(self, function: Callable[..., Any], name: str | None) -> None:
        self.signature = inspect.signature(function)
        parameters = list(self.signature.parameters)
        if name is not None and name not in parameters and not any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in self.signature.parameters.values()):
            raise TypeError(f"{function.__name__} has no argument {name!r} to take the prompt from")
        self.name = name or (parameters[0] if parameters else None)
        if self.name is None:
            raise TypeError(f"{function.__name__} takes no arguments, so there is no prompt to transform")

    def get(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        """The prompt value of a call."""
        bound = self.signature.bind_partial(*args, **kwargs)
        if self.name in bound.arguments:
            return bound.arguments[self.name]
        if self.name in kwargs:
            return kwargs[self.name]
        raise TypeError(f"no prompt given in argument {self.name!r}")

    def replace(self, args: tuple, kwargs: dict[str, Any], value: Any) -> tuple[tuple, dict[str, Any]]:
        """The call's arguments with the prompt replaced."""
        bound = self.signature.bind_partial(*args, **kwargs)
        name = str(self.name)
        if name in bound.arguments:
            bound.arguments[name] = value
            return bound.args, bound.kwargs
        return args, {**kwargs, name: value}


async def transform_call(transform: Transform, prompt: Any, call: Callable[[Any], Awaitable[Any]],
                         check: Callable[[str], bool] | None = None) -> Any:
    """Run `transform` with the user's function as the model; returns the user's final response unchanged."""
    multi_turn = is_multi_turn(transform)
    if isinstance(prompt, str) and multi_turn:
        raise TypeError("feedback loops (multi-turn) need a function that takes OpenAI-style messages, "
                        "not a string prompt")
    answered: list[tuple[Completion, Any]] = []

    async def generate(query: Query, config: GenerateConfig) -> Completion:
        response = await call(prompt_like(prompt, query))
        try:
            text = response_text(response)
        except (TypeError, KeyError, IndexError, AttributeError):
            if multi_turn:  # a feedback loop must read the answer; a one-call transform passes it through
                raise
            text = ""
        completion = Completion(text)
        answered.append((completion, response))
        return completion

    query = query_from_prompt(prompt).replace(oracle=Oracle(check) if check else None)
    final = await transform(query, GenerateConfig(), generate)
    plain_final = final.replace(loop=None)
    for completion, response in reversed(answered):
        if completion is final or completion == plain_final:
            return response
    return final.text  # a vote chose among attempts: the chosen text


def run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine from synchronous code, also when the calling thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


Around = Callable[[Any, Callable[[Any], Awaitable[Any]], Any], Coroutine[Any, Any, Any]]
"""`around(prompt, call, prepared)`: run the user's function (through `call(new_prompt)`) and return its result."""
Prepare = Callable[[tuple, dict[str, Any]], Any]
"""Runs first, in the caller's own context (so context variables it sets stay visible to the caller)."""


def wrap_function(function: Callable[..., Any], slot: PromptSlot, around: Around, prepare: Prepare | None = None
                  ) -> Callable[..., Any]:
    """A sync or async wrapper (matching `function`) that hands each call's prompt to `around`."""
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            prepared = prepare(args, kwargs) if prepare else None

            async def call(value: Any) -> Any:
                new_args, new_kwargs = slot.replace(args, kwargs, value)
                return await function(*new_args, **new_kwargs)
            return await around(slot.get(args, kwargs), call, prepared)
        return async_wrapper

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        prepared = prepare(args, kwargs) if prepare else None

        async def call(value: Any) -> Any:
            new_args, new_kwargs = slot.replace(args, kwargs, value)
            return function(*new_args, **new_kwargs)
        return run_sync(around(slot.get(args, kwargs), call, prepared))
    return wrapper


def affect(*conditions: ConditionLike, prompt: str | None = None, placement: str = "after_instruction",
           separator: str = "space", check: Callable[[str], bool] | None = None, heart: HeartSettings | None = None,
           stimuli: Sequence[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a function that calls an LLM so every call goes through the given condition(s), chained in order.

    Conditions use the same grammar as the CLI ('baseline', 'EP02', 'EP02@system', 'EP06:figure', 'EP02+heart', a
    registered transform) or are Transform objects. The prompt is the function's first argument, or the one named
    by `prompt`; it may be a string or OpenAI-style messages, and the return value (a string or an OpenAI/litellm
    response) comes back unchanged in type. Works on sync and async functions. Stimuli go after the instruction as
    in experiments, which for a plain prompt is the end of the (last) user message. Feedback loops (`"heart"`)
    need messages; they verify with `check` (a function of the answer text) when given, else with the model itself.
    `stimuli` adds your own stimulus files.
    """
    defaults = call_defaults(placement, separator, heart, check is not None, stimuli)
    transform = resolve_transform(list(conditions), defaults)

    async def around(prompt_value: Any, call: Callable[[Any], Awaitable[Any]], prepared: Any) -> Any:
        return await transform_call(transform, prompt_value, call, check)

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        return wrap_function(function, PromptSlot(function, prompt), around)

    return decorate
