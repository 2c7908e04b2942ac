"""Retrying a step's I/O on TransientError, with the budget from settings.

DBOS's own step retries are fixed when the module is imported; budeval reads the budget at call
time instead, so operators (and tests) can set it. The last TransientError is raised as it is,
so the evaluation ends with the cause's own reason. Any other error is not retried.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from budeval.config import Settings
from budeval.errors import TransientError
from budeval.workflow.services import current

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
MAX_WAIT_SECONDS = 60.0


async def retry(call: Callable[[], Awaitable[T]], settings: Settings, what: str) -> T:
    attempts = settings.step_retry_attempts
    for attempt in range(attempts):
        try:
            return await call()
        except TransientError as error:
            if attempt == attempts - 1:
                raise
            wait = min(settings.step_retry_interval_seconds * 2**attempt, MAX_WAIT_SECONDS)
            log.warning(
                "%s: attempt %d of %d failed (%s: %s); retrying in %.1f s",
                what, attempt + 1, attempts, error.reason, error.message, wait,
            )  # fmt: skip
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # attempts >= 1


def retrying(
    step: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate a step body (under `@DBOS.step()`) to retry it as a whole on TransientError."""

    @functools.wraps(step)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return await retry(lambda: step(*args, **kwargs), current().settings, step.__name__)

    return wrapper
