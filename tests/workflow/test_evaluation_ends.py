"""Every evaluation ends (issue 8, items 6 and 8): whatever a step raises after its retries, the
evaluation reaches a terminal status with a reason and its API key is forgotten; one unreadable
run does not cost the others their scores; a granted cancel always ends `cancelled`.

Faults are injected the way real systems fail: a backend's TransientError (HTTP 500 from
`pods/log` on an unreachable node), a PermanentError (a refusal), an unexpected exception (a bug),
and a store that raises an untranslated driver error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import sqlalchemy.exc

from budeval.errors import BackendError, Conflict, TransientError
from budeval.status import RunStatus
from budeval.workflow import commands
from budeval.workflow.models import Begun
from budeval.workflow.services import Services
from tests.workflow.support import ended, fake, launched, spec, until

pytestmark = pytest.mark.asyncio(loop_scope="module")

NODE_DOWN = TransientError("pods/log: HTTP 500 (node unreachable)", reason="Unavailable")
MANY = 20  # more failures than any retry budget in these tests


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    async with launched(tmp_path_factory.mktemp("ends-home")) as services:
        yield services


@pytest.fixture(autouse=True)
def no_leftover_faults(world: Services) -> Iterator[None]:
    yield
    fake(world).faults.clear()


async def started(world: Services, eval_id: str, datasets: list[str]) -> None:
    await commands.start(world, spec(eval_id, datasets), "sk-x")
    await until(lambda: all(f"{eval_id}-{d}" in fake(world).specs for d in datasets))


async def test_an_unreadable_run_does_not_block_the_other_runs_scores(world: Services) -> None:
    backend = fake(world)
    await started(world, "end-extract", ["smoke-a", "smoke-b"])
    backend.fail("fetch_outputs", NODE_DOWN, times=MANY, run_id="end-extract-smoke-a")
    backend.finish("end-extract-smoke-a", 0.1)
    backend.finish("end-extract-smoke-b", 0.9)
    record = await ended(world, "end-extract")
    assert (record.status, record.reason) == ("partially_failed", "ResultsUnreadable")
    assert "end-extract-smoke-a" in (record.message or "")
    assert "HTTP 500" in (record.message or "")
    assert [s.value for s in world.store.get_scores("end-extract")] == [0.9]
    runs = {run.dataset: run for run in record.runs}
    assert (runs["smoke-a"].status, runs["smoke-a"].reason) == ("failed", "ResultsUnreadable")
    assert "HTTP 500" in (runs["smoke-a"].message or "")
    assert runs["smoke-b"].status == "succeeded"
    assert not world.secrets.exists("key-end-extract")


async def test_a_failed_log_tail_is_a_missing_log_tail(world: Services) -> None:
    backend = fake(world)
    await started(world, "end-tail", ["smoke-a"])
    backend.fail("log_tail", NODE_DOWN, times=MANY)
    backend.set_state("end-tail-smoke-a", RunStatus.FAILED, reason="EngineError", exit_code=3)
    record = await ended(world, "end-tail")
    assert (record.status, record.reason) == ("failed", "EngineError")
    run = record.runs[0]
    assert (run.status, run.reason, run.log_tail) == ("failed", "EngineError", None)
    assert not world.secrets.exists("key-end-tail")


async def test_status_checks_failing_beyond_retries_end_failed(world: Services) -> None:
    backend = fake(world)
    await started(world, "end-status", ["smoke-a", "smoke-b"])
    backend.fail("statuses", NODE_DOWN, times=MANY)
    backend.set_state("end-status-smoke-a", RunStatus.RUNNING)
    record = await ended(world, "end-status")
    assert (record.status, record.reason) == ("failed", "Unavailable")
    assert "HTTP 500" in (record.message or "")
    assert {run.status for run in record.runs} == {RunStatus.FAILED}
    assert {"end-status-smoke-a", "end-status-smoke-b"} <= set(backend.cancelled)  # stopped
    assert not world.secrets.exists("key-end-status")


async def test_a_bug_in_a_step_ends_failed_with_internal_error(world: Services) -> None:
    backend = fake(world)
    await started(world, "end-bug", ["smoke-a"])
    backend.fail("statuses", KeyError("handle"), times=1)
    backend.set_state("end-bug-smoke-a", RunStatus.RUNNING)
    record = await ended(world, "end-bug")
    assert (record.status, record.reason) == ("failed", "InternalError")
    assert "KeyError" in (record.message or "")
    assert not world.secrets.exists("key-end-bug")


async def test_a_cancel_the_backend_refuses_still_ends(world: Services) -> None:
    backend = fake(world)
    await started(world, "end-cancel", ["smoke-a"])
    backend.set_state("end-cancel-smoke-a", RunStatus.RUNNING)
    backend.fail("cancel", BackendError("jobs is forbidden", reason="Forbidden"), times=MANY)
    assert (await commands.cancel(world, "end-cancel")).status == "cancelling"
    record = await ended(world, "end-cancel")
    assert record.status == "cancelled"  # the client was told 202
    assert "Forbidden" in (record.message or "")
    assert record.runs[0].status.terminal
    assert not world.secrets.exists("key-end-cancel")


async def test_finish_raising_an_untranslated_error_still_ends(world: Services) -> None:
    backend = fake(world)
    await started(world, "end-finish", ["smoke-a"])
    lost = sqlalchemy.exc.OperationalError("UPDATE evaluations", {}, Exception("disk I/O error"))
    world.store.fail("set_evaluation_status", lost, times=1)  # type: ignore[attr-defined]
    backend.finish("end-finish-smoke-a", 0.5)
    record = await ended(world, "end-finish")
    assert (record.status, record.reason) == ("failed", "InternalError")
    assert "OperationalError" in (record.message or "")
    assert not world.secrets.exists("key-end-finish")


async def test_a_briefly_unavailable_store_is_retried(world: Services) -> None:
    backend = fake(world)
    await started(world, "end-brief", ["smoke-a"])
    locked = TransientError("database is locked", reason="StoreBusy")
    world.store.fail("set_evaluation_status", locked, times=1)  # type: ignore[attr-defined]
    backend.finish("end-brief-smoke-a", 0.5)
    record = await ended(world, "end-brief")
    assert record.status == "succeeded"
    assert not world.secrets.exists("key-end-brief")


async def test_a_cancel_between_the_runs_end_and_the_final_status_is_honoured(
    world: Services,
) -> None:
    """Item 8: the runs all succeeded; cancel lands while results are stored (before the final
    write). Its 202 must mean `cancelled`."""
    backend = fake(world)
    await started(world, "end-late", ["smoke-a"])
    reached, go = world.store.pause("store_results")  # type: ignore[attr-defined]
    backend.finish("end-late-smoke-a", 0.5)
    assert await asyncio.to_thread(reached.wait, 20)
    try:
        answered = await commands.cancel(world, "end-late")
    except Conflict:
        answered = None
    go.set()
    record = await ended(world, "end-late")
    assert answered is not None and answered.status == "cancelling"
    assert record.status == "cancelled"
    assert [s.value for s in world.store.get_scores("end-late")] == [0.5]  # kept all the same


async def test_a_checkpoint_of_an_older_build_still_loads() -> None:
    """Workflows in flight during an upgrade replay `begin`'s pickled output (same version)."""
    older = Begun(started_at=1.0, backend="fake")
    state = older.__getstate__()
    del state["__dict__"]["cancel_requested"]
    revived = Begun.__new__(Begun)
    revived.__setstate__(state)
    assert revived == older and revived.cancel_requested is False
