"""Slow or half-open HTTP connections are closed: the server bounds how long a request may take
to arrive (headers and body), over a real socket against the real server set-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from budeval.api.server import build_server
from budeval.config import Settings
from tests.service import free_port

TIMEOUT = 0.5


async def echo(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """A tiny ASGI app that reads the whole body, as every budeval route with a body does."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"got %d" % len(body)})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    chosen = free_port()
    settings = Settings(
        port=chosen, http_request_timeout_seconds=TIMEOUT, http_keep_alive_seconds=1
    )
    server = build_server(echo, settings)  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield chosen
    server.should_exit = True
    await task


async def closed_after(port: int, *parts: bytes, pause: float = 0.0) -> tuple[float, bytes]:
    """Send `parts` (pausing between them), then await the server closing; (seconds, answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        answer = await asyncio.wait_for(reader.read(), timeout=10 * TIMEOUT + 5)  # EOF
        return time.monotonic() - started, answer
    except ConnectionResetError:
        return time.monotonic() - started, b""
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("nothing sent", []),
        ("half the headers", [b"POST /echo HTTP/1.1\r\nHost: x\r\n"]),
        (
            "headers, part of the body",
            [b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"0123456789"],
        ),
        (
            "chunked body never ended",
            [b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"],
        ),
    ],
)
async def test_a_request_that_does_not_arrive_in_time_is_closed(
    port: int, name: str, parts: list[bytes]
) -> None:
    elapsed, answer = await closed_after(port, *parts)
    assert TIMEOUT * 0.8 <= elapsed < TIMEOUT + 2, (name, elapsed)
    assert b"200" not in answer


async def test_a_trickling_client_gets_no_more_than_the_deadline(port: int) -> None:
    """Slowloris: a byte every 0.1 s resets no idle timer; the request as a whole is bounded."""
    request = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
    parts = [request[i : i + 1] for i in range(len(request))]
    elapsed, _ = await closed_after(port, *parts, pause=0.05)
    assert elapsed < TIMEOUT + 2


async def test_prompt_requests_are_served_and_keep_alive_is_bounded(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(2):  # two requests on one connection, each well within the deadline
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), timeout=5)
            assert answer.startswith(b"HTTP/1.1 200") and b"got 3" in answer
            await asyncio.sleep(TIMEOUT * 1.5)  # idle between requests: keep-alive's business
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # idle: closed
        assert time.monotonic() - started < 1.5
    finally:
        writer.close()
