"""What a backend may know about the request it is answering: the cell and item it belongs to.

The runner tags every model call with the cell's key, its item and the call's number within the cell, in a
context variable (so the backend contract stays `complete(chat, config)`). Batch backends use the tag as the
request's `custom_id`; an endpoint pool uses the item for affinity. Calls made outside a run have no tag.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestTag:
    """One model call of a run: `cell` (the cell key), `item` (model, task and sample: what every condition of an
    item shares) and `call` (0 for the first call of the cell, 1 for a HEART loop's second, ...)."""

    cell: str
    item: str
    call: int

    @property
    def custom_id(self) -> str:
        """The call's id in a batch file: `<cell key>-<call>` (letters, digits and '-': valid for every provider)."""
        return f"{self.cell}-{self.call}"


current_request: ContextVar[RequestTag | None] = ContextVar("emoprompt_request", default=None)


@contextlib.contextmanager
def tagged(tag: RequestTag) -> Iterator[None]:
    """Tag the calls made inside the block."""
    token = current_request.set(tag)
    try:
        yield
    finally:
        current_request.reset(token)
