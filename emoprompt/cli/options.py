"""Option groups: typed bundles of command-line options that several commands share.

A group is a frozen dataclass whose fields carry their click option (`flag(...)`); `@options(Group)` adds the
group's options to a command and hands the command one `Group` instance instead of a loose keyword per option.
Ranges and choices are click's own types, so a bad value is refused before the command runs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

T = TypeVar("T")


class Finite(click.FloatRange):
    """A float range that also refuses NaN and infinities (which compare false with every bound)."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


POSITIVE = Finite(min=0, min_open=True)
NON_NEGATIVE = Finite(min=0)
AT_LEAST_ONE = click.IntRange(min=1)
ZERO_OR_MORE = click.IntRange(min=0)
FRACTION = Finite(min=0, max=1)
PROBABILITY = Finite(min=0, max=1, min_open=True, max_open=True)


def flag(*declarations: str, default: Any = None, **settings: Any) -> Any:
    """A dataclass field that is a click option (`declarations` as click takes them, `settings` its keywords)."""
    if settings.get("multiple"):
        default = ()
    if settings.get("is_flag"):
        default = False
    return dataclasses.field(default=default, metadata={"declarations": declarations,
                                                        "settings": {"default": default, **settings}})


def options(group: type[T], name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add `group`'s options to a command; the command receives them as one `group` instance, under `name` (the
    group's class name in snake case by default)."""
    fields = dataclasses.fields(group)  # type: ignore[arg-type]
    keyword = name or "".join(f"_{c.lower()}" if c.isupper() else c for c in group.__name__).lstrip("_")

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def bundled(*args: Any, **kwargs: Any) -> Any:
            kwargs[keyword] = group(**{f.name: kwargs.pop(f.name) for f in fields})
            return command(*args, **kwargs)

        for item in reversed(fields):
            bundled = click.option(*item.metadata["declarations"], item.name, **item.metadata["settings"])(bundled)
        return bundled

    return decorate


def given_on_command_line(ctx: click.Context, group: Any) -> list[str]:
    """The options of `group` the user typed (not defaults), as their first flag (`--model`)."""
    typed = []
    for item in dataclasses.fields(group):
        if ctx.get_parameter_source(item.name) == click.core.ParameterSource.COMMANDLINE:
            typed.append(item.metadata["declarations"][0])
    return typed


def limit_value(value: str | None) -> int | str | None:
    """`--limit`: a number of samples per task, or 'all' (returned as the string), or None when not given."""
    if value is None or value == "all":
        return value
    try:
        number = int(value)
    except ValueError:
        raise click.BadParameter(f"takes a number of samples per task or 'all', not {value!r}",
                                 param_hint="'--limit'") from None
    if number < 1:
        raise click.BadParameter(f"must be 1 or more (or 'all'), not {number}", param_hint="'--limit'")
    return number


def existing_folder(value: Path | None, flag_name: str) -> Path | None:
    """`value` when it is a folder (or None); else a one-line error naming the flag."""
    from emoprompt.errors import UsageError

    if value is not None and not value.is_dir():
        raise UsageError(f"{flag_name} {value} is not a folder; check the path")
    return value


def model_names(values: tuple[str, ...]) -> tuple[str, ...]:
    """--model values, each possibly a comma-separated list (as lm-eval and inspect_ai accept)."""
    from emoprompt.errors import UsageError

    models = [part.strip() for value in values for part in str(value).split(",")]
    if any(not model for model in models):
        raise UsageError(f"--model {', '.join(values)!r} has an empty model name; write --model a --model b "
                         "or --model a,b")
    return tuple(dict.fromkeys(models))


def engine_arguments(pairs: tuple[str, ...]) -> dict[str, Any]:
    """--engine-arg KEY=VALUE pairs; values read as JSON when they are (numbers, true/false, null), else as text."""
    import json

    from emoprompt.errors import UsageError

    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"--engine-arg {pair!r} is not KEY=VALUE; write e.g. --engine-arg tensor_parallel_size=2")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        arguments[key.strip().replace("-", "_")] = value
    return arguments
