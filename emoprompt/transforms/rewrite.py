"""Send an item's own rewording of its question: the data set, not emoprompt, wrote the condition's text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from emoprompt.chat import Completion, Generate, GenerateConfig, Query
from emoprompt.errors import UsageError
from emoprompt.transforms.base import Transform, dataclass_identity

REWRITE = "rewrite"


@dataclass(frozen=True)
class ItemRewrite(Transform):
    """`rewrite:NAME`: replace the item's input with the item's own rewrite called NAME (Mind Your Tone's
    per-question tone rewrites are one such data set). An item without that rewrite is a usage error, never the
    unchanged question sent under another condition's name."""

    name: str
    family: ClassVar[str] = REWRITE

    @property
    def label(self) -> str:
        return f"{REWRITE}:{self.name}"

    def identity(self) -> dict[str, Any]:
        return dataclass_identity(self)

    def apply(self, query: Query) -> Query:
        """The query with the rewrite as its input."""
        rewrites = dict(query.rewrites)
        if self.name not in rewrites:
            known = ", ".join(sorted(rewrites)) or "none"
            raise UsageError(f"condition {self.label}: this item has no rewrite {self.name!r} (it has: {known}); "
                             "use one of those names, or a suite whose data holds per-item rewrites")
        return query.replace(input=rewrites[self.name])

    async def __call__(self, query: Query, config: GenerateConfig, generate: Generate) -> Completion:
        return await generate(self.apply(query), config)
