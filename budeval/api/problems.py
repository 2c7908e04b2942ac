"""Errors as RFC 9457 `application/problem+json`, mapped from the error tree in one place.

A 422 names the offending field(s); no response ever echoes a submitted value (it might be the
API key, or 1 MB of text).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from budeval.errors import (
    BudevalError,
    Conflict,
    InvalidRequest,
    NotFound,
    PermanentError,
    TransientError,
)

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
MAX_ISSUES = 20
MAX_FIELD = 200


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(int(extra["retry_after"]) or 1)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "path", "query")]
    return ".".join(parts) or "body"


async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
    issues = error.errors()
    if any(issue.get("type") == "json_invalid" for issue in issues):
        return problem(400, "Malformed JSON", "the request body is not valid JSON")
    fields = [
        {"field": _field(issue["loc"])[:MAX_FIELD], "message": issue["msg"][:MAX_FIELD]}
        for issue in issues[:MAX_ISSUES]  # 20,000 unknown keys must not make a 1.6 MB answer
    ]
    names = ", ".join(item["field"] for item in fields)
    more = f" (and {len(issues) - MAX_ISSUES} more)" if len(issues) > MAX_ISSUES else ""
    return problem(422, "Invalid request", f"invalid field(s): {names}{more}", errors=fields)


async def _budeval(_: Request, error: BudevalError) -> JSONResponse:
    if isinstance(error, InvalidRequest):
        errors = [{"field": error.field or "body", "message": error.message}]
        return problem(422, "Invalid request", error.message, errors=errors)
    if isinstance(error, NotFound):
        return problem(404, "Not found", error.message)
    if isinstance(error, Conflict):
        return problem(409, "Conflict", error.message)
    if isinstance(error, TransientError):
        return problem(503, "Try again", error.message, retry_after=error.retry_after)
    if isinstance(error, PermanentError):
        return problem(400, error.reason, error.message)
    log.error("unexpected budeval error: %s", error.reason)
    return problem(500, "Internal error", error.reason)


async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
    return problem(error.status_code, str(error.detail), str(error.detail))


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(BudevalError, _budeval)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
