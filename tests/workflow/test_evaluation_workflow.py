"""The durable workflow in-process (real DBOS on SQLite, real store) against the fake backend.

Covers what the local backend cannot provoke on demand: transient API errors, permanent refusals,
verify failures, the maximum duration and progress notifications.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from budeval.backends.base import VerifyReport
from budeval.config import Settings
from budeval.events.models import EVALUATION_PROGRESS
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.status import RunStatus
from budeval.workflow import commands, runtime
from budeval.workflow.relay import StatusRelay
from budeval.workflow.services import Services
from tests.fakes import FakeBackend, fake_services

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    home = tmp_path_factory.mktemp("wf-home")
    settings = Settings(home=home, poll_interval_seconds=0.2, progress_every_checks=2)
    services, _ = fake_services(settings)
    await runtime.launch(services)
    # events only: a periodic sweep would also call statuses() and absorb injected faults
    no_sweeps = settings.model_copy(update={"poll_interval_seconds": 3600})
    relay = StatusRelay(dataclasses.replace(services, settings=no_sweeps))
    await relay.start()
    yield services
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


def fake(services: Services) -> FakeBackend:
    return services.backends["fake"]  # type: ignore[return-value]


async def test_transient_status_errors_are_retried(world: Services) -> None:
    backend = fake(world)
    backend.fail_statuses = 2
    await commands.start(world, spec("wf-retry", ["smoke-a"]), "sk-x")
    await until(lambda: "wf-retry-smoke-a" in backend.specs)
    backend.set_state("wf-retry-smoke-a", RunStatus.RUNNING)
    backend.finish("wf-retry-smoke-a", 0.75)
    record = await until(
        lambda: (r := world.store.get_evaluation("wf-retry")).status.terminal and r
    )
    assert record.status == "succeeded"
    assert backend.fail_statuses == 0 and backend.status_calls >= 3  # 2 failed, then a check
    assert [s.value for s in world.store.get_scores("wf-retry")] == [0.75]
    assert backend.submissions["wf-retry-smoke-a"] == 1
    assert not world.secrets.exists("key-wf-retry")


async def test_verify_failure_fails_before_any_run(world: Services) -> None:
    backend = fake(world)
    backend.verify_report = VerifyReport(ok=False, reason="Forbidden", message="no create on jobs")
    try:
        await commands.start(world, spec("wf-verify", ["smoke-a"]), "sk-x")
        record = await until(
            lambda: (r := world.store.get_evaluation("wf-verify")).status.terminal and r
        )
    finally:
        backend.verify_report = VerifyReport(ok=True)
    assert (record.status, record.reason, record.message) == (
        "failed",
        "Forbidden",
        "no create on jobs",
    )
    assert [run.status for run in record.runs] == [RunStatus.FAILED]
    assert "wf-verify-smoke-a" not in backend.specs


async def test_permanent_submit_refusal_fails_with_its_reason(world: Services) -> None:
    backend = fake(world)
    backend.refuse_submit = "quota exceeded"
    try:
        await commands.start(world, spec("wf-refuse", ["smoke-a"]), "sk-x")
        record = await until(
            lambda: (r := world.store.get_evaluation("wf-refuse")).status.terminal and r
        )
    finally:
        backend.refuse_submit = None
    assert (record.status, record.reason) == ("failed", "Forbidden")
    assert "quota exceeded" in (record.message or "")


async def test_max_duration_times_out_and_cancels_remaining_runs(world: Services) -> None:
    backend = fake(world)
    original = world.settings
    world.settings = original.model_copy(update={"max_duration_seconds": 0.5})
    try:
        await commands.start(world, spec("wf-timeout", ["smoke-a", "smoke-b"]), "sk-x")
        await until(lambda: "wf-timeout-smoke-b" in backend.specs)
        backend.set_state("wf-timeout-smoke-a", RunStatus.RUNNING)
        backend.finish("wf-timeout-smoke-b", 1.0)
        record = await until(
            lambda: (r := world.store.get_evaluation("wf-timeout")).status.terminal and r
        )
    finally:
        world.settings = original
    assert (record.status, record.reason) == ("timed_out", "DeadlineExceeded")
    runs = {run.dataset: run for run in record.runs}
    assert (runs["smoke-a"].status, runs["smoke-a"].reason) == ("cancelled", "DeadlineExceeded")
    assert runs["smoke-b"].status == "succeeded"
    assert backend.cancelled.count("wf-timeout-smoke-a") == 1


async def test_progress_is_reported_every_n_checks(world: Services) -> None:
    backend = fake(world)
    await commands.start(world, spec("wf-progress", ["smoke-a"]), "sk-x")
    await until(lambda: "wf-progress-smoke-a" in backend.specs)
    backend.set_state("wf-progress-smoke-a", RunStatus.RUNNING)

    def progress_events() -> list[Any]:
        return [e for e in world.store.events_for("wf-progress") if e.type == EVALUATION_PROGRESS]

    events = await until(lambda: len(progress_events()) >= 2 and progress_events())
    assert events[0].data["runs"] == {"running": 1}
    backend.finish("wf-progress-smoke-a", 2.0)
    record = await until(
        lambda: (r := world.store.get_evaluation("wf-progress")).status.terminal and r
    )
    assert record.status == "succeeded"


async def test_cancel_before_any_run_started(world: Services, tmp_path: Path) -> None:
    backend = fake(world)
    await commands.start(world, spec("wf-cancel", ["smoke-a"]), "sk-x")
    await until(lambda: "wf-cancel-smoke-a" in backend.specs)
    await commands.cancel(world, "wf-cancel")
    record = await until(
        lambda: (r := world.store.get_evaluation("wf-cancel")).status.terminal and r
    )
    assert record.status == "cancelled"
    assert record.runs[0].status == "cancelled"
    assert world.store.count_scores("wf-cancel") == 0
