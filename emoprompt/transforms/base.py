"""The transform contract, the identity transform, composition, and identities for users' own transforms."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from emoprompt.chat import Completion, Generate, GenerateConfig, Query
from emoprompt.identity import callable_identity, is_complete, plain, source_hash, stable_hash

TransformFunction = Callable[[Query, GenerateConfig, Generate], Awaitable[Completion]]


class Transform:
    """A prompt transform: `async __call__(query, config, generate) -> Completion`.

    Edit the query and call `generate` once (a static stimulus), or several times adding turns (a feedback loop).
    Subclass it, best as a frozen dataclass whose fields are the transform's settings:

        @dataclass(frozen=True)
        class Persona(emoprompt.Transform):
            persona: str = "You are a careful expert."

            async def __call__(self, query, config, generate):
                return await generate(query.replace(system=self.persona), config)

    `label` is the condition's name in records and reports (default: the class name). `identity()` is what can
    change the model's output: it enters the experiment hash, cell keys and the response cache. The default is the
    class's qualified name, its dataclass fields and a hash of the class's source, so editing the code changes
    it; where the source cannot be read, `cacheable` is False and the runner does not cache the transform's
    answers (it says so). `family` groups conditions in reports (`user` unless a subclass says otherwise).
    """

    family: ClassVar[str] = "user"

    @property
    def label(self) -> str:
        """The condition name in records and reports."""
        return type(self).__name__

    def identity(self) -> dict[str, Any]:
        """Everything about the transform that can change the model's output, as plain JSON data."""
        return object_identity(self)

    @property
    def cacheable(self) -> bool:
        """False when the identity cannot tell two versions of the transform apart (code whose source cannot be
        read, a setting known only by its repr): the runner then does not cache the transform's answers."""
        return is_complete(self.identity())

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        raise NotImplementedError(f"{type(self).__name__} must define async __call__(query, config, generate)")


def object_identity(transform: Any) -> dict[str, Any]:
    """A user transform's default identity: qualified class name, settings (dataclass fields or public
    attributes) and the hash of the class's source."""
    cls = type(transform)
    if dataclasses.is_dataclass(transform):
        settings = {f.name: plain(getattr(transform, f.name)) for f in dataclasses.fields(transform)}
    else:
        settings = {k: plain(v) for k, v in sorted(getattr(transform, "__dict__", {}).items()) if k[:1] != "_"}
    return {"type": f"{cls.__module__}.{cls.__qualname__}", "settings": settings, "source": source_hash(cls)}


def dataclass_identity(transform: Any) -> dict[str, Any]:
    """Identity of one of emoprompt's own transforms: its type name and fields (its code is versioned with the
    package, so no source hash)."""
    fields = {f.name: plain(getattr(transform, f.name)) for f in dataclasses.fields(transform)}
    return {"type": type(transform).__name__, **fields}


@dataclass(frozen=True)
class FunctionTransform(Transform):
    """A plain `async def f(query, config, generate)` used as a transform; its identity is its name, its source's
    hash and its plain-data defaults and closure values."""

    function: TransformFunction

    @property
    def label(self) -> str:
        return getattr(self.function, "__name__", "transform")

    def identity(self) -> dict[str, Any]:
        return {"type": "function", **callable_identity(self.function)}

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        return await self.function(query, config, generate)


def as_transform(value: Any) -> Transform:
    """A Transform from a Transform, an object with an async `__call__(query, config, generate)`, or a function."""
    if isinstance(value, Transform):
        return value
    if callable(value) and not isinstance(value, type | str):
        if inspect.isfunction(value) or inspect.ismethod(value):
            return FunctionTransform(value)
        return ObjectTransform(value)
    raise TypeError(f"cannot use {value!r} as a transform: give a condition name, an emoprompt.Transform, or an "
                    "async function (query, config, generate) -> Completion")


@dataclass(frozen=True)
class ObjectTransform(Transform):
    """Any object with an async `__call__(query, config, generate)`, not derived from Transform."""

    target: Any

    @property
    def label(self) -> str:
        return str(getattr(self.target, "label", type(self.target).__name__))

    def identity(self) -> dict[str, Any]:
        own = getattr(self.target, "identity", None)
        return own() if callable(own) else object_identity(self.target)

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        result: Completion = await self.target(query, config, generate)
        return result


@dataclass(frozen=True)
class Baseline(Transform):
    """The identity transform: the task's own prompt, unchanged."""

    family: ClassVar[str] = "baseline"

    @property
    def label(self) -> str:
        return "baseline"

    def identity(self) -> dict[str, Any]:
        return {"type": "Baseline"}

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        return await generate(query, config)


@dataclass(frozen=True)
class Chain(Transform):
    """Transforms applied in order: the first sees the call first and its `generate` is the second, and so on."""

    transforms: tuple[Transform, ...]

    @property
    def label(self) -> str:
        return "+".join(t.label for t in self.transforms)

    def identity(self) -> dict[str, Any]:
        return {"type": "Chain", "transforms": [t.identity() for t in self.transforms]}

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        return await _call_from(self.transforms, 0, query, config, generate)


async def _call_from(
    transforms: tuple[Transform, ...], index: int, query: Query, config: GenerateConfig, generate: Generate
) -> Completion:
    if index == len(transforms):
        return await generate(query, config)

    async def inner(next_query: Query, next_config: GenerateConfig) -> Completion:
        return await _call_from(transforms, index + 1, next_query, next_config, generate)

    return await transforms[index](query, config, inner)


def chain(*transforms: Any) -> Transform:
    """Compose transforms; `chain(a, b)`: `a` sees the call first. Baselines drop out; one transform is itself."""
    flat: list[Transform] = []
    for value in transforms:
        transform = as_transform(value)
        if isinstance(transform, Chain):
            flat.extend(transform.transforms)
        elif not isinstance(transform, Baseline):
            flat.append(transform)
    if not flat:
        return Baseline()
    return flat[0] if len(flat) == 1 else Chain(tuple(flat))


def identity_hash(transform: Transform) -> str:
    """A short, stable hash of a transform's identity (for deduplication)."""
    return stable_hash(transform.identity())
