"""One error tree for the whole service.

    BudevalError                    anything budeval raises on purpose
    ├── PermanentError              retrying cannot help: the evaluation (or request) fails
    │   ├── InvalidRequest          bad input: HTTP 422, nothing created
    │   ├── NotFound                HTTP 404
    │   ├── Conflict                state forbids it (same id + other body; already terminal): 409
    │   └── BackendError            a backend refused for good (reason names it)
    └── TransientError              worth retrying after `retry_after` seconds (network, 5xx, locks)

Third-party errors are translated into this tree at the adapter edge (`raise … from e`), so the
workflow decides "retry or fail" from the type alone and the API maps types to status codes in one
exception handler. Messages never carry secrets: callers must not format an API key into them.
"""

from __future__ import annotations

from typing import Any


def _rebuild(cls: type[BudevalError], message: str, state: dict[str, Any]) -> BudevalError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class BudevalError(Exception):
    """Root of every error budeval raises on purpose."""

    reason: str = "Error"
    """A short CamelCase reason stored on runs/evaluations (e.g. `EngineError`)."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        """Survive pickling with keyword attributes intact: DBOS checkpoints step errors."""
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


class PermanentError(BudevalError):
    """Retrying cannot help."""

    reason = "PermanentError"


class InvalidRequest(PermanentError):
    """The request is malformed or names something unknown; `field` names the culprit."""

    reason = "InvalidRequest"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(PermanentError):
    reason = "NotFound"


class Conflict(PermanentError):
    reason = "Conflict"


class BackendError(PermanentError):
    """A backend refused for good: bad spec, missing permission, unknown cluster."""

    reason = "BackendError"


class TransientError(BudevalError):
    """Worth retrying; `retry_after` is a hint in seconds."""

    reason = "TransientError"

    def __init__(
        self, message: str, *, reason: str | None = None, retry_after: float = 1.0
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after
