"""What the API backends share: the retry delay (Retry-After or backoff), a reachability check, and token prices."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import random
from pathlib import Path
from urllib.parse import urlparse

from emoprompt.errors import UsageError

_PRICE_FILE = "model_prices_and_context_window_backup.json"


def retry_delay(attempt: int, backoff_s: float, retry_after: float | None) -> float:
    """Seconds to wait before retry number `attempt + 1`: the server's Retry-After (capped at 60 s), else jittered
    exponential backoff (capped at 30 s)."""
    if retry_after is not None and retry_after == retry_after:
        return min(max(retry_after, 0.0), 60.0)
    return min(backoff_s * 2**attempt, 30.0) * (0.5 + random.random() / 2)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; None when absent or unreadable (nan, inf)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import datetime as dt
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    return seconds if seconds == seconds and abs(seconds) != float("inf") else None


def check_api_base(api_base: str) -> str:
    """`api_base` if it is an http(s) URL with a host and a valid port, else a one-line UsageError."""
    from emoprompt.secrets import redact_url

    shown = redact_url(api_base)
    try:
        url = urlparse(api_base)
        url.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
    except ValueError as exc:
        raise UsageError(f"API base {shown!r} is not a valid URL ({exc}); use e.g. http://127.0.0.1:8000/v1"
                         ) from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"API base {shown!r} is not an http(s) URL; use e.g. http://127.0.0.1:8000/v1")
    return api_base


async def check_reachable(api_base: str) -> None:
    """Fail before the run, with a one-line fix, when nothing listens at `api_base`."""
    url = urlparse(check_api_base(api_base))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, port), timeout=5)
    except (OSError, TimeoutError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        from emoprompt.secrets import redact_url

        raise UsageError(f"cannot reach API base {redact_url(api_base)} ({reason}); start the server or fix "
                         "--api-base") from None
    writer.close()


def token_prices(model: str, batch: bool = False) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) from litellm's bundled price map, or None when unknown; with
    `batch`, the provider's Batch API prices (half the online ones where the map has none).

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
            online = float(entry["input_cost_per_token"]), float(entry.get("output_cost_per_token", 0.0))
            if not batch:
                return online
            return (float(entry.get("input_cost_per_token_batches", online[0] / 2)),
                    float(entry.get("output_cost_per_token_batches", online[1] / 2)))
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
