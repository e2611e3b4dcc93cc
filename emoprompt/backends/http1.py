"""A small HTTP/1.1 client on asyncio's transports: keep-alive connections to one origin, for JSON APIs.

aiohttp costs about 0.2 s to import (it builds TLS contexts at import time) and some 150 µs of CPU per request; an
OpenAI-compatible chat call needs neither its generality nor its cost. This client sends a request with a known
body and reads a response framed by Content-Length, chunked transfer encoding, or the end of the connection
(gzip and deflate bodies are inflated). Connections are kept alive and reused; one that the server closed while
idle is dropped. A failed exchange is never re-sent here: retries are the caller's, and counted. TLS (https) uses
certifi's roots when installed, else the system's (SSL_CERT_FILE and SSL_CERT_DIR are honoured). No proxies, no
redirects, no cookies: like the aiohttp session it replaces.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 65_536
"""A response whose status line and headers exceed this is malformed."""


class HTTPFailure(Exception):
    """The exchange failed: `kind` is `connection`, `malformed_response`, `response_too_large` or `timeout`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Response:
    """A complete response; header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes


class HTTPClient:
    """Keep-alive connections to the origin of `url` (scheme, host, port), for the event loop that uses it."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 60.0,
                 max_body_bytes: int = 8_000_000) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        default_port = self.port == (443 if self.tls else 80)
        shown_host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_header = shown_host if default_port else f"{shown_host}:{self.port}"
        self.headers = {"User-Agent": "emoprompt", "Accept-Encoding": "gzip, deflate", **(headers or {})}
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._ssl: Any = None
        self.closed = False

    async def request(self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout_s: float | None = None) -> Response:
        """Send `method target` (a path with its query) and return the whole response; raises HTTPFailure."""
        head = self._head(method, target, body, headers)
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(limit):
                return await self._exchange(head, body)
        except TimeoutError:
            raise HTTPFailure("timeout", f"no answer within {limit:g} s") from None

    async def _exchange(self, head: bytes, body: bytes) -> Response:
        connection = await self._connection()
        try:
            response = await connection.exchange(head + body)
        except BaseException:
            connection.abort()
            raise
        finally:
            self._open.discard(connection)
        if connection.reusable and not self.closed:
            self._idle.append(connection)
        else:
            connection.abort()
        return response

    def _head(self, method: str, target: str, body: bytes, headers: dict[str, str] | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}"]
        for name, value in (self.headers | headers if headers else self.headers).items():
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.alive:
                self._open.add(connection)
                return connection
        loop = asyncio.get_running_loop()
        try:
            if self.tls:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self.max_body_bytes), self.host, self.port, ssl=self._tls_context(),
                    server_hostname=self.host)
            else:
                _, connection = await loop.create_connection(lambda: _Connection(self.max_body_bytes), self.host,
                                                             self.port)
        except OSError as exc:
            raise HTTPFailure("connection", f"{type(exc).__name__}: {exc.strerror or exc}") from None
        self._open.add(connection)
        return connection

    def _tls_context(self) -> Any:
        if self._ssl is None:
            import ssl

            cafile = None
            if not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
                try:
                    import certifi

                    cafile = certifi.where()
                except ImportError:
                    cafile = None
            self._ssl = ssl.create_default_context(cafile=cafile)
        return self._ssl

    async def close(self) -> None:
        """Close every connection; requests still in flight fail."""
        self.closed = True
        for connection in [*self._idle, *self._open]:
            connection.close()
        self._idle.clear()
        self._open.clear()


@dataclass
class _Reading:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    framing: str = ""
    """"length", "chunked" or "close" (read to the end of the connection)."""
    remaining: int = 0
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    keep_alive: bool = True
    chunk_state: str = "size"
    """Chunked bodies: "size" (a size line), "data", "crlf" (after the data), "trailer" (up to an empty line)."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: one exchange at a time."""

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.alive = False
        self.reusable = False
        self._waiter: asyncio.Future[Response] | None = None
        self._reading: _Reading | None = None
        self._received = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.alive = True

    async def exchange(self, request: bytes) -> Response:
        """Send one whole request and wait for its response."""
        assert self.transport is not None
        if not self.alive:
            raise HTTPFailure("connection", "the server closed the connection")
        self._waiter = asyncio.get_running_loop().create_future()
        self._reading, self._received, self.reusable = _Reading(), False, False
        self.buffer.clear()
        self.transport.write(request)
        return await self._waiter

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.alive = False  # bytes nobody asked for: the connection's state is unknown
            self.abort()
            return
        self._received = True
        self.buffer += data
        try:
            self._parse()
        except HTTPFailure as failure:
            self._fail(failure)

    def _parse(self) -> None:
        reading = self._reading
        assert reading is not None
        while not reading.framing:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    raise HTTPFailure("malformed_response", "the server's response headers are too long")
                return
            self._read_head(reading, bytes(self.buffer[:end]))
            del self.buffer[:end + 4]
        if reading.framing == "length":
            take = min(reading.remaining, len(self.buffer))
            self._keep(reading, bytes(self.buffer[:take]))
            del self.buffer[:take]
            reading.remaining -= take
            if reading.remaining == 0:
                self._finish(reading)
        elif reading.framing == "chunked":
            self._read_chunks(reading)
        else:
            self._keep(reading, bytes(self.buffer))
            self.buffer.clear()

    def _read_head(self, reading: _Reading, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HTTPFailure("malformed_response", f"not an HTTP response: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        status = int(code)
        if 100 <= status < 200:
            return  # 100 Continue, 103 Early Hints: the real response follows
        reading.status, reading.headers = status, headers
        connection = headers.get("connection", "").lower()
        reading.keep_alive = version == "HTTP/1.1" and "close" not in connection
        if "chunked" in headers.get("transfer-encoding", "").lower():
            reading.framing = "chunked"
        elif "content-length" in headers:
            try:
                reading.remaining = int(headers["content-length"].split(",")[0])
            except ValueError:
                raise HTTPFailure("malformed_response", "the server sent an unreadable Content-Length") from None
            if reading.remaining < 0:
                raise HTTPFailure("malformed_response", "the server sent a negative Content-Length")
            if reading.remaining > self.max_body_bytes:
                raise HTTPFailure("response_too_large", f"the server's answer has {reading.remaining:,} bytes, over "
                                                        f"the limit of {self.max_body_bytes:,}")
            reading.framing = "length"
        elif status in (204, 304):
            reading.framing, reading.remaining = "length", 0
        else:
            reading.framing, reading.keep_alive = "close", False

    def _read_chunks(self, reading: _Reading) -> None:
        while True:
            if reading.chunk_state == "data":
                take = min(reading.remaining, len(self.buffer))
                self._keep(reading, bytes(self.buffer[:take]))
                del self.buffer[:take]
                reading.remaining -= take
                if reading.remaining:
                    return
                reading.chunk_state = "crlf"
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    raise HTTPFailure("malformed_response", "the server sent an unreadable chunked body")
                return
            line = bytes(self.buffer[:end])
            del self.buffer[:end + 2]
            if reading.chunk_state == "crlf":
                if line:
                    raise HTTPFailure("malformed_response", "the server's chunk is longer than its size")
                reading.chunk_state = "size"
            elif reading.chunk_state == "trailer":
                if not line:
                    self._finish(reading)
                    return
            else:
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise HTTPFailure("malformed_response", "the server sent an unreadable chunk size") from None
                reading.chunk_state, reading.remaining = ("data", size) if size > 0 else ("trailer", 0)

    def _keep(self, reading: _Reading, data: bytes) -> None:
        if not data:
            return
        reading.size += len(data)
        if reading.size > self.max_body_bytes:
            raise HTTPFailure("response_too_large", f"the server's answer exceeds {self.max_body_bytes:,} bytes")
        reading.chunks.append(data)

    def _finish(self, reading: _Reading) -> None:
        body = b"".join(reading.chunks)
        encoding = reading.headers.get("content-encoding", "").lower().strip()
        if encoding in ("gzip", "x-gzip", "deflate"):
            body = _inflate(body, encoding, self.max_body_bytes)
        elif encoding not in ("", "identity"):
            raise HTTPFailure("malformed_response", f"the server sent a body in an unknown encoding {encoding!r}")
        self.reusable = reading.keep_alive and not self.buffer
        self._reading = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(Response(reading.status, reading.headers, body))

    def _fail(self, failure: BaseException) -> None:
        self.alive = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(failure)
        self.abort()

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        reading = self._reading
        if self._waiter is None or self._waiter.done():
            return
        if reading is not None and reading.framing == "close":
            try:
                self._finish(reading)
            except HTTPFailure as failure:
                self._waiter.set_exception(failure)
            return
        when = "mid-answer" if self._received else "before answering"
        reason = f" ({exc})" if exc else ""
        self._waiter.set_exception(HTTPFailure("connection", f"the server closed the connection {when}{reason}"))

    def abort(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.close()


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    import zlib

    window = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    try:
        inflater = zlib.decompressobj(window)
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        if encoding != "deflate":
            raise HTTPFailure("malformed_response", "the server's gzip body is corrupt") from None
        try:  # some servers send raw deflate without the zlib header
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            data = inflater.decompress(body, limit + 1)
        except zlib.error:
            raise HTTPFailure("malformed_response", "the server's deflate body is corrupt") from None
    if len(data) > limit:
        raise HTTPFailure("response_too_large", f"the server's answer exceeds {limit:,} bytes")
    return data
