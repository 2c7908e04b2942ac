"""Shared pieces of the in-process workflow tests: a launched world, specs, waiting, store taps.

`StoreTap` wraps the real store so a test can make one method fail the way a database does
(briefly unavailable, or an untranslated driver error) or stop at a point until the test says go.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from budeval.config import Settings
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.status import EvalStatus
from budeval.store import EvaluationRecord, Store
from budeval.workflow import runtime
from budeval.workflow.relay import StatusRelay
from budeval.workflow.services import Services
from tests.fakes import FakeBackend, fake_services

FAST_RETRIES = {"step_retry_attempts": 2, "step_retry_interval_seconds": 0.01}


@asynccontextmanager
async def launched(home: Path, **settings: Any) -> AsyncIterator[Services]:
    """Real DBOS and store around the fake backend; relay on events only (no sweeps, so the
    faults a test injects are met by the workflow's own calls)."""
    base = Settings(home=home, poll_interval_seconds=0.2, **{**FAST_RETRIES, **settings})
    services, _ = fake_services(base)
    services.store = StoreTap(services.store)  # type: ignore[assignment]
    await runtime.launch(services)
    no_sweeps = base.model_copy(update={"poll_interval_seconds": 3600})
    relay = StatusRelay(dataclasses.replace(services, settings=no_sweeps))
    await relay.start()
    try:
        yield services
    finally:
        await relay.stop()
        runtime.shutdown()
        services.store.close()


def spec(eval_id: str, datasets: list[str]) -> EvaluationSpec:
    return EvaluationSpec(
        eval_id=eval_id,
        model=ModelSpec(model_name="m", endpoint="http://127.0.0.1:9/v1"),
        datasets=[DatasetRun(dataset_id=d, run_id=f"{eval_id}-{d}") for d in datasets],
        engine="smoke",
        backend="fake",
        secret_name=f"key-{eval_id}",
    )


async def until(predicate: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := await asyncio.to_thread(predicate)):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return value


async def ended(services: Services, eval_id: str, timeout: float = 20) -> EvaluationRecord:
    return await until(
        lambda: (r := services.store.get_evaluation(eval_id)).status.terminal and r, timeout
    )


def fake(services: Services) -> FakeBackend:
    return services.backends["fake"]  # type: ignore[return-value]


class StoreTap:
    """The real store, with optional faults and pauses per method (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._faults: dict[str, list[BaseException]] = {}
        self._pauses: dict[str, tuple[threading.Event, threading.Event]] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def tapped(*args: Any, **kwargs: Any) -> Any:
            if name == "set_evaluation_status" and not EvalStatus(args[1]).terminal:
                return target(*args, **kwargs)  # only the final write is tapped
            if self._faults.get(name):
                raise self._faults[name].pop(0)
            if name in self._pauses:
                reached, go = self._pauses.pop(name)
                reached.set()
                go.wait(30)
            return target(*args, **kwargs)

        return tapped

    def fail(self, method: str, error: BaseException, times: int = 1) -> None:
        self._faults.setdefault(method, []).extend([error] * times)

    def pause(self, method: str) -> tuple[threading.Event, threading.Event]:
        """The next call of `method` sets `reached`, then waits for `go`."""
        events = (threading.Event(), threading.Event())
        self._pauses[method] = events
        return events
