"""Bearer-token authentication and a request size limit.

Tokens come from settings; when any are configured every route except health checks needs one
(the settings refuse a non-loopback bind without tokens). Comparison is constant-time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from budeval.api.problems import problem

_bearer = HTTPBearer(auto_error=False)
MAX_BODY_BYTES = 2 * 1024 * 1024


class Unauthorized(Exception):
    pass


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    tokens = request.app.state.services.settings.api_tokens
    if not tokens:
        return
    offered = credentials.credentials.encode() if credentials else b""
    if not any(hmac.compare_digest(offered, token.get_secret_value().encode()) for token in tokens):
        raise Unauthorized()


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            response = problem(
                413, "Request too large", f"bodies are limited to {self.limit} bytes"
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict[str, object]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ValueError("request body too large")
            return message

        await self.app(scope, limited, send)
