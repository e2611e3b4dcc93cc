"""emoprompt's HTTP/1.1 client against real sockets on loopback: framing, keep-alive, limits, failures, TLS."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess
import zlib
from collections.abc import Callable

import pytest

from emoprompt.backends.http1 import HTTPClient, HTTPFailure

Reply = Callable[[bytes], list[bytes] | None]
"""Given the request's bytes, the pieces to send back (each written separately), or None to close at once."""


class RawServer:
    """A TCP server on 127.0.0.1 that answers each request with scripted bytes; counts connections."""

    def __init__(self, reply: Reply, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                pieces = self.reply(request)
                if pieces is None:
                    break
                for piece in pieces:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.001)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def ok(body: bytes, *headers: str) -> list[bytes]:
    head = "\r\n".join(["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]) + "\r\n\r\n"
    return [head.encode(), body]


def run(coroutine):
    return asyncio.run(coroutine)


def test_keep_alive_serves_many_requests_on_few_connections_and_sends_body_and_headers():
    server = RawServer(lambda request: ok(request.split(b"\r\n\r\n", 1)[1].upper()))

    async def go():
        async with server as url:
            client = HTTPClient(url + "/v1", {"Authorization": "Bearer k"})
            answers = await asyncio.gather(*(client.request("POST", "/v1/x", f"body{i}".encode())
                                             for i in range(40)))
            answers += [await client.request("POST", "/v1/x", b"again") for _ in range(20)]
            await client.close()
            return answers

    answers = run(go())
    assert [a.body for a in answers[:3]] == [b"BODY0", b"BODY1", b"BODY2"] and answers[-1].body == b"AGAIN"
    assert server.connections <= 40 and len(server.requests) == 60
    first = server.requests[0].decode()
    assert first.startswith("POST /v1/x HTTP/1.1\r\n") and "Authorization: Bearer k" in first
    assert "Content-Length: 5" in first and "Host: 127.0.0.1:" in first


def test_the_sequential_requests_reuse_one_connection():
    server = RawServer(lambda request: ok(b"{}"))

    async def go():
        async with server as url:
            client = HTTPClient(url)
            for _ in range(25):
                assert (await client.request("GET", "/")).status == 200
            await client.close()

    run(go())
    assert server.connections == 1


@pytest.mark.parametrize("pieces, body", [
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"4\r\nwiki\r\n", b"5;ext=1\r\npedia\r\n",
      b"0\r\nX-Trailer: t\r\n\r\n"], b"wikipedia"),
    ([b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r", b"\nab", b"cd\r\n0\r\n\r\n"], b"abcd"),
    ([b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"], b"hi"),
    (ok(gzip.compress(b'{"a": 1}'), "Content-Encoding: gzip"), b'{"a": 1}'),
])
def test_bodies_chunked_gzipped_or_after_an_interim_response(pieces, body):
    server = RawServer(lambda request: pieces)

    async def go():
        async with server as url:
            client = HTTPClient(url)
            first = await client.request("GET", "/")
            second = await client.request("GET", "/")  # the connection is still in a clean state
            await client.close()
            return first, second

    first, second = run(go())
    assert first.body == second.body == body and first.status == 200


def test_deflate_and_a_body_read_to_the_end_of_the_connection():
    packed = zlib.compress(b"deflated")
    for pieces, close_after, expected in (
            (ok(packed, "Content-Encoding: deflate"), False, b"deflated"),
            ([b"HTTP/1.0 200 OK\r\n\r\n", b"until ", b"close"], True, b"until close")):
        server = RawServer(lambda request, pieces=pieces: pieces, close_after=close_after)

        async def go(server=server):
            async with server as url:
                client = HTTPClient(url)
                answers = [await client.request("GET", "/") for _ in range(2)]
                await client.close()
                return answers

        answers = run(go())
        assert [a.body for a in answers] == [expected, expected]
        assert server.connections == (2 if close_after else 1)


@pytest.mark.parametrize("pieces, kind", [
    ([b"SMTP ready\r\n\r\n"], "malformed_response"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n"], "malformed_response"),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], "malformed_response"),
    ([b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000], "malformed_response"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Encoding: gzip\r\n\r\nnot gzip!!"], "malformed_response"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"], "response_too_large"),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n"],
     "response_too_large"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nonly part"], "connection"),
    (None, "connection"),
])
def test_broken_responses_fail_with_a_named_kind(pieces, kind):
    server = RawServer(lambda request: pieces, close_after=True)

    async def go():
        async with server as url:
            client = HTTPClient(url, max_body_bytes=50)
            with pytest.raises(HTTPFailure) as caught:
                await client.request("GET", "/")
            await client.close()
            return caught.value

    assert run(go()).kind == kind


def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    server = RawServer(lambda request: ok(b"x", "Connection: keep-alive"), close_after=True)

    async def go():
        async with server as url:
            client = HTTPClient(url)
            first = await client.request("GET", "/")
            await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle
            second = await client.request("GET", "/")
            await client.close()
            return first, second

    assert [r.body for r in run(go())] == [b"x", b"x"]
    assert server.connections == 2


def test_connection_close_header_opens_a_new_connection_next_time():
    server = RawServer(lambda request: ok(b"y", "Connection: close"))

    async def go():
        async with server as url:
            client = HTTPClient(url)
            answers = [await client.request("GET", "/") for _ in range(3)]
            await client.close()
            return answers

    assert [r.body for r in run(go())] == [b"y"] * 3 and server.connections == 3


def test_a_timeout_fails_the_request_and_its_connection_is_dropped():
    calls = []

    def reply(request):
        calls.append(request)
        return [] if len(calls) == 1 else ok(b"late")  # the first request is never answered

    server = RawServer(reply)

    async def go():
        async with server as url:
            client = HTTPClient(url, timeout_s=0.2)
            with pytest.raises(HTTPFailure) as caught:
                await client.request("GET", "/")
            answer = await client.request("GET", "/")
            await client.close()
            return caught.value, answer

    failure, answer = run(go())
    assert failure.kind == "timeout" and answer.body == b"late" and server.connections == 2


def test_a_cancelled_request_leaves_no_half_read_connection_behind():
    def reply(request):
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"] if b"slow" in request else ok(b"fast")

    server = RawServer(reply)

    async def go():
        async with server as url:
            client = HTTPClient(url)
            task = asyncio.create_task(client.request("GET", "/slow"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            answer = await client.request("GET", "/fast")
            await client.close()
            return answer

    assert run(go()).body == b"fast" and server.connections == 2


def test_nothing_listening_is_a_connection_failure():
    async def go():
        client = HTTPClient("http://127.0.0.1:9/v1")
        with pytest.raises(HTTPFailure) as caught:
            await client.request("GET", "/")
        return caught.value

    assert run(go()).kind == "connection"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_with_a_trusted_self_signed_certificate(tmp_path, monkeypatch):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def go(trusted: bool):
        server = await asyncio.start_server(_tls_echo, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        try:
            client = HTTPClient(f"https://127.0.0.1:{port}/v1")
            if not trusted:
                with pytest.raises(HTTPFailure) as caught:
                    await client.request("POST", "/v1/chat", b'{"q": 1}')
                return caught.value.kind
            answer = await client.request("POST", "/v1/chat", b'{"q": 1}')
            await client.close()
            return json.loads(answer.body)
        finally:
            server.close()

    assert run(go(trusted=False)) == "connection"  # not in any trust store: refused
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    assert run(go(trusted=True)) == {"q": 1}


async def _tls_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        body = await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    writer.close()
