"""The transform protocol, the identity transform, and composition."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from emoprompt.chat import Completion, Generate, GenerateConfig, Query


@runtime_checkable
class Transform(Protocol):
    """`async (query, config, generate) -> Completion`: edit the query, then call `generate` one or more times."""

    @property
    def label(self) -> str:
        """Short name used in reports."""
        ...

    def identity(self) -> dict[str, Any]:
        """Everything about the transform that can change the model's output (cache and resume identity)."""
        ...

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        """Run the transform on one query."""
        ...


def dataclass_identity(transform: Any) -> dict[str, Any]:
    """Identity of a frozen dataclass transform: its type name and fields."""
    fields = {f.name: _plain(getattr(transform, f.name)) for f in dataclasses.fields(transform)}
    return {"type": type(transform).__name__, **fields}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "identity"):
            return value.identity()
        return dataclasses.asdict(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


@dataclass(frozen=True)
class Baseline:
    """The identity transform: the task's own prompt, unchanged."""

    @property
    def label(self) -> str:
        return "baseline"

    def identity(self) -> dict[str, Any]:
        return {"type": "Baseline"}

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        return await generate(query, config)


@dataclass(frozen=True)
class Chain:
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


def chain(*transforms: Transform) -> Transform:
    """Compose transforms; `chain(a, b)`: `a` sees the call first. Baselines drop out; one transform is itself."""
    flat: list[Transform] = []
    for transform in transforms:
        if isinstance(transform, Chain):
            flat.extend(transform.transforms)
        elif not isinstance(transform, Baseline):
            flat.append(transform)
    if not flat:
        return Baseline()
    return flat[0] if len(flat) == 1 else Chain(tuple(flat))
