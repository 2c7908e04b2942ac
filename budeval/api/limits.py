"""Bounds on what a request can send: body size, and the shape of free-form JSON values.

Typed fields carry their own bounds in `schemas.py`; what is left are values the service passes
through (`extra_args`, `config_value`), which could otherwise be 200,000 items long, nested past
pydantic's recursion limit (a 500), or hold NaN/Infinity (which Python's JSON parser accepts but
JSON does not have) or integers no database column can hold. `check_json` bounds them all.

The body limit also holds for a chunked body (no Content-Length): the body is read up to the
limit before the app sees it, so an oversized one is a 413, never a failure halfway through
parsing. Slow clients are bounded by the server's read timeout (`budeval.api.server`).
"""

from __future__ import annotations

import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from budeval.api.problems import problem

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 16
"""Nesting of objects and lists inside one free-form value."""
MAX_ITEMS = 10_000
"""Scalars, lists and objects inside one free-form value, all levels together."""
MAX_STRING = 65_536
MAX_KEY = 256
MAX_INT = 2**63 - 1
"""What a signed 64-bit column (and every engine's integer option) can hold."""


class JsonBoundError(ValueError):
    """A free-form value exceeds a bound; the message says which, never the value."""


def check_json(value: Any) -> Any:
    """`value` if it is within every bound; JsonBoundError otherwise. Iterative: no recursion."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_ITEMS:
            raise JsonBoundError(f"more than {MAX_ITEMS} values")
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise JsonBoundError(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str) or len(key) > MAX_KEY:
                        raise JsonBoundError(f"an object key longer than {MAX_KEY} characters")
                children = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_INT:
                raise JsonBoundError("an integer outside the signed 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise JsonBoundError("NaN or Infinity (not JSON numbers)")
        elif isinstance(item, str):
            if len(item) > MAX_STRING:
                raise JsonBoundError(f"a string longer than {MAX_STRING} characters")
        else:
            raise JsonBoundError(f"a {type(item).__name__}, which JSON does not have")
    return value


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        if declared is not None:  # h11 stops at Content-Length: the stream cannot exceed it
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        seen = 0
        while True:  # chunked: read it all (up to the limit) before the app parses anything
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "Request too large", f"bodies are limited to {self.limit} bytes")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
