"""`Status` error bodies, the only error shape the Kubernetes API returns.

`ApiStatus` is raised anywhere inside the server and turned into a JSON `Status` at the HTTP edge;
lightkube's `ApiError` parses exactly this body.
"""

from __future__ import annotations

from typing import Any


class ApiStatus(Exception):
    """An API failure: HTTP code, Status reason, message and optional details."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _details(name: str, group: str, plural: str) -> dict[str, Any]:
    details = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return details


def _qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiStatus:
    return ApiStatus(
        404,
        "NotFound",
        f'{_qualified(group, plural)} "{name}" not found',
        _details(name, group, plural),
    )


def already_exists(group: str, plural: str, name: str) -> ApiStatus:
    return ApiStatus(
        409,
        "AlreadyExists",
        f'{_qualified(group, plural)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(group: str, plural: str, name: str) -> ApiStatus:
    return ApiStatus(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(group, plural)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        _details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiStatus:
    """422 Invalid; `causes` are (field, message) pairs, as in the real field.ErrorList."""
    qualified = f"{kind}.{group}" if group else kind
    text = "; ".join(f"{field}: {message}" for field, message in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{field}: {message}" for field, message in causes) + "]"
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [
            {"reason": "FieldValueInvalid", "message": message, "field": field}
            for field, message in causes
        ],
    }
    if group:
        details["group"] = group
    return ApiStatus(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiStatus:
    return ApiStatus(400, "BadRequest", message)


def expired(message: str) -> ApiStatus:
    return ApiStatus(410, "Expired", message)


def method_not_allowed(message: str = "the server does not allow this method") -> ApiStatus:
    return ApiStatus(405, "MethodNotAllowed", message)
