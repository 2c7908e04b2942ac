"""Streamed bodies whose early errors still become a proper status code.

A StreamingResponse sends its status line before the body's first chunk, so an error raised by
the body later can only cut the stream short. `primed` starts the body and waits (briefly) for
its first chunk before the response starts: a backend that refuses at once (run gone, cluster
unreachable) raises here, inside the route, and the exception handlers turn it into
problem+json. A body that is merely slow (following a run that prints nothing yet) is not held
back longer than `wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

FIRST_CHUNK_WAIT = 2.0


async def primed(chunks: AsyncIterator[str], wait: float = FIRST_CHUNK_WAIT) -> AsyncIterator[str]:
    """`chunks` with its first chunk already asked for; raises what it raised before `wait`."""
    iterator = aiter(chunks)
    first = asyncio.ensure_future(anext(iterator))
    try:
        await asyncio.wait({first}, timeout=wait)
    except BaseException:
        first.cancel()
        raise
    if first.done() and not first.cancelled():
        error = first.exception()
        if error is not None and not isinstance(error, StopAsyncIteration):
            await _close(iterator)
            raise error
    return _rest(first, iterator)


async def _rest(first: asyncio.Future[str], iterator: AsyncIterator[str]) -> AsyncIterator[str]:
    try:
        try:
            chunk = await first
        except StopAsyncIteration:
            return
        yield chunk
        async for chunk in iterator:
            yield chunk
    finally:
        if not first.done():
            first.cancel()
            with contextlib.suppress(BaseException):
                await first
        await _close(iterator)


async def _close(iterator: AsyncIterator[str]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        with contextlib.suppress(RuntimeError):  # a generator that never started or is running
            await close()
