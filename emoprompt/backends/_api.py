"""What the API backends share: retries that honour Retry-After, a reachability check, and token prices."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from emoprompt.errors import RequestError, UsageError

TRANSIENT = ("rate_limit", "server_error", "unavailable", "connection", "timeout", "malformed_response",
             "empty_choices")
"""Request error kinds worth another attempt."""

_PRICE_FILE = "model_prices_and_context_window_backup.json"

T = TypeVar("T")


async def with_retries(call: Callable[[], Awaitable[T]], max_retries: int, backoff_s: float) -> T:
    """Await `call()`, retrying transient RequestErrors with jittered exponential backoff or the server's
    Retry-After (capped at 60 s); the last error is raised as it was."""
    attempt = 0
    while True:
        try:
            return await call()
        except RequestError as error:
            if error.kind not in TRANSIENT or attempt >= max_retries:
                raise
            await asyncio.sleep(retry_delay(attempt, backoff_s, error.retry_after))
            attempt += 1


def retry_delay(attempt: int, backoff_s: float, retry_after: float | None) -> float:
    """Seconds to wait before retry number `attempt + 1`."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), 60.0)
    return min(backoff_s * 2**attempt, 30.0) * (0.5 + random.random() / 2)


async def check_reachable(api_base: str) -> None:
    """Fail before the run, with a one-line fix, when nothing listens at `api_base`."""
    url = urlparse(api_base)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"API base {api_base!r} is not an http(s) URL; use e.g. http://127.0.0.1:8000/v1")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, port), timeout=5)
    except (OSError, TimeoutError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise UsageError(f"cannot reach API base {api_base} ({reason}); start the server or fix --api-base"
                         ) from None
    writer.close()


def token_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) from litellm's bundled price map, or None when unknown.

    The map is read from litellm's package folder without importing litellm (whose import is slow and may
    try the network).
    """
    prices = _price_map()
    provider, _, bare = model.partition("/")
    for name in (model, bare):
        entry = prices.get(name)
        if isinstance(entry, dict) and "input_cost_per_token" in entry:
            if name == bare and entry.get("litellm_provider") not in (provider, None):
                continue
            return float(entry["input_cost_per_token"]), float(entry.get("output_cost_per_token", 0.0))
    return None


@functools.cache
def _price_map() -> dict[str, object]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / _PRICE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
