"""The one HTTP stack of every API path (online, Batch API, endpoint pools): aiohttp sessions that honour the
environment's proxies (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY, as curl and requests read them) and the
system's CA settings (SSL_CERT_FILE, SSL_CERT_DIR), with TLS verification always on.

Proxies are resolved here, per URL, rather than by aiohttp's `trust_env`: a malformed proxy URL is then refused as
bad input before anything is sent, an unreachable proxy is named, and no `.netrc` entry can replace the API key.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from emoprompt.errors import UsageError
from emoprompt.secrets import redact_url

if TYPE_CHECKING:
    import aiohttp
    from multidict import CIMultiDictProxy


class HTTPFailure(Exception):
    """An exchange that produced no response: `kind` is `connection`, `timeout`, `malformed_response` or
    `response_too_large`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Response:
    """A whole response."""

    status: int
    headers: CIMultiDictProxy[str] | dict[str, str]
    body: bytes


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (None when there is none or NO_PROXY exempts the host); a proxy URL
    that cannot be parsed is bad input."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    chosen = proxies.get(parts.scheme) or proxies.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # public, missing from typeshed
    if not chosen or (parts.hostname and bypass(parts.hostname, proxies)):
        return None
    variable = f"{parts.scheme.upper()}_PROXY" if proxies.get(parts.scheme) else "ALL_PROXY"
    if "://" not in chosen:
        chosen = f"http://{chosen}"  # curl's reading of a bare host:port
    try:
        proxy = urlsplit(chosen)
        proxy.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
    except ValueError as exc:
        raise UsageError(f"{variable} {redact_url(chosen)!r} is not a valid proxy URL ({exc}); write it as "
                         "http://HOST:PORT, or unset it") from None
    if proxy.scheme not in ("http", "https") or not proxy.hostname or any(c in chosen for c in " \r\n\t"):
        raise UsageError(f"{variable} {redact_url(chosen)!r} is not an http(s) proxy URL; write it as "
                         "http://HOST:PORT, or unset it")
    return chosen


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """A verifying TLS context with the system's certificate authorities (SSL_CERT_FILE and SSL_CERT_DIR are
    honoured); certifi's when the system has none."""
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca"):
        try:
            import certifi
        except ImportError:
            return context
        context.load_verify_locations(certifi.where())
    return context


def new_session(headers: dict[str, str] | None = None, timeout_s: float = 60.0, tls: bool = True
                ) -> aiohttp.ClientSession:
    """A pooled session for the running event loop (keep-alive connections, no limit of its own: the caller paces);
    `tls=False` for a session that only speaks plain http (no certificate store to load)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, ssl=ssl_context() if tls else False)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": "emoprompt", **(headers or {})},
                                 timeout=aiohttp.ClientTimeout(total=timeout_s), trust_env=False)


async def request(session: aiohttp.ClientSession, method: str, url: str, *, max_bytes: int = 8_000_000,
                  timeout_s: float | None = None, proxy: str | bool | None = True, **kwargs: Any) -> Response:
    """One exchange, the whole body read (at most `max_bytes`); raises HTTPFailure. `proxy`: the proxy URL, None for
    none, or True to look up the one the environment names for `url` (callers that send many requests to one
    endpoint look it up once)."""
    import aiohttp

    if proxy is True:
        proxy = proxy_for(url)
    if timeout_s is not None:
        kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with session.request(method, url, proxy=proxy or None, **kwargs) as response:
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise HTTPFailure("response_too_large", f"the answer is {declared:,} bytes, over the limit of "
                                                        f"{max_bytes:,}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > max_bytes:
                    raise HTTPFailure("response_too_large", f"the answer is over the limit of {max_bytes:,} bytes")
            return Response(response.status, response.headers, bytes(body))
    except HTTPFailure:
        raise
    except TimeoutError:
        limit = timeout_s if timeout_s is not None else session.timeout.total
        raise HTTPFailure("timeout", f"no answer within {limit:g} s") from None
    except aiohttp.ClientProxyConnectionError as exc:
        raise HTTPFailure("connection", f"cannot reach the proxy {redact_url(str(proxy))} "
                                        f"({exc.os_error.strerror or exc})") from None
    except aiohttp.ClientResponseError as exc:
        kind = "connection" if exc.status == 407 or "proxy" in str(exc).lower() else "malformed_response"
        raise HTTPFailure(kind, f"{type(exc).__name__}: {exc.message}") from None
    except (aiohttp.ClientPayloadError, aiohttp.ServerFingerprintMismatch) as exc:
        raise HTTPFailure("malformed_response", f"{type(exc).__name__}: {exc}") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise HTTPFailure("connection", f"{type(exc).__name__}: {exc}") from None


async def check_reachable(url: str) -> None:
    """Fail before a run, with a one-line fix, when nothing listens at `url` (or at the proxy that carries it)."""
    proxy = proxy_for(url)
    target = urlsplit(proxy or url)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.hostname, port), timeout=5)
    except (OSError, TimeoutError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        if proxy:
            raise UsageError(f"cannot reach the proxy {redact_url(proxy)} ({reason}) that the environment names for "
                             f"{redact_url(url)}; start it, fix HTTPS_PROXY / HTTP_PROXY, or exempt the host in "
                             "NO_PROXY") from None
        raise UsageError(f"cannot reach API base {redact_url(url)} ({reason}); start the server or fix --api-base"
                         ) from None
    writer.close()
