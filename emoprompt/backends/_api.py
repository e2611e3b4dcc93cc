"""What the API backends share: the check of an API base URL, and token prices."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from urllib.parse import urlparse

from emoprompt.errors import UsageError

_PRICE_FILE = "model_prices_and_context_window_backup.json"


def check_api_base(api_base: str) -> str:
    """`api_base` if it is an http(s) URL with a host and a valid port, and nothing that could end up in a header
    (spaces, control characters); else a one-line UsageError, before anything is sent."""
    from emoprompt.secrets import redact_url

    shown = redact_url(api_base)
    if not isinstance(api_base, str) or any(ord(c) < 33 or ord(c) == 127 for c in api_base):
        raise UsageError(f"API base {shown!r} contains spaces or control characters; give the URL alone, e.g. "
                         "http://127.0.0.1:8000/v1")
    try:
        url = urlparse(api_base)
        url.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
    except ValueError as exc:
        raise UsageError(f"API base {shown!r} is not a valid URL ({exc}); use e.g. http://127.0.0.1:8000/v1"
                         ) from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"API base {shown!r} is not an http(s) URL; use e.g. http://127.0.0.1:8000/v1")
    return api_base


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
