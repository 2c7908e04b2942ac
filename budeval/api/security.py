"""Bearer-token authentication (request size limits: `budeval.api.limits`).

Tokens come from settings; when any are configured every route except health checks needs one
(the settings refuse a non-loopback bind without tokens). Comparison is constant-time.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False)


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
