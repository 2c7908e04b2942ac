"""The reconciler (issue 8, item 7): an evaluation whose rows committed but whose workflow never
started (`kill -9` inside POST /evals/start) gets its workflow; one whose workflow ended without
a final status is ended `failed` with a reason; a cancel requested meanwhile ends it `cancelled`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from dbos import DBOS, SetWorkflowID

from budeval.api.schemas import secret_name
from budeval.engines.base import API_KEY_SECRET_KEY, run_name
from budeval.errors import Conflict
from budeval.status import RunStatus
from budeval.workflow import commands
from budeval.workflow.reconciler import Reconciler
from budeval.workflow.services import Services
from tests.workflow.support import ended, fake, launched, spec, until

pytestmark = pytest.mark.asyncio(loop_scope="module")


@DBOS.workflow()
async def dies(eval_id: str) -> str:
    """What an older build's workflow did when a step exhausted its retries."""
    raise RuntimeError(f"step extract of {eval_id} exceeded its retries")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    async with launched(tmp_path_factory.mktemp("reconcile-home")) as services:
        yield services


def rows_only(services: Services, eval_id: str, *, key: bool = True) -> None:
    """What POST /evals/start leaves when the process dies before it starts the workflow."""
    evaluation = spec(eval_id, ["smoke-a"]).model_copy(update={"secret_name": secret_name(eval_id)})
    if key:
        services.secrets.put(evaluation.secret_name, {API_KEY_SECRET_KEY: "sk-x"})
    names = {run.run_id: run_name(run.run_id) for run in evaluation.datasets}
    services.store.create_evaluation(evaluation, f"fp-{eval_id}", names)


async def test_an_evaluation_without_workflow_gets_one_exactly_once(world: Services) -> None:
    rows_only(world, "rc-lost")
    assert await DBOS.get_workflow_status_async("rc-lost") is None
    reconciler = Reconciler(world)
    assert await reconciler.reconcile() == (["rc-lost"], [])
    assert await reconciler.reconcile() == ([], [])  # it has one now
    backend = fake(world)
    await until(lambda: "rc-lost-smoke-a" in backend.specs)
    backend.finish("rc-lost-smoke-a", 0.5)
    record = await ended(world, "rc-lost")
    assert record.status == "succeeded"
    assert backend.submissions["rc-lost-smoke-a"] == 1
    assert not world.secrets.exists(secret_name("rc-lost"))


async def test_a_cancel_recorded_before_the_workflow_ends_cancelled(world: Services) -> None:
    rows_only(world, "rc-cancel")
    world.store.request_cancel("rc-cancel")  # the API answered 202; no workflow heard it
    await Reconciler(world).reconcile()
    record = await ended(world, "rc-cancel")
    assert (record.status, record.runs[0].status) == ("cancelled", RunStatus.CANCELLED)
    assert "rc-cancel-smoke-a" not in fake(world).specs
    assert not world.secrets.exists(secret_name("rc-cancel"))


async def test_cancel_of_an_evaluation_without_workflow_ends_it_cancelled(world: Services) -> None:
    rows_only(world, "rc-cancel-api")
    assert (await commands.cancel(world, "rc-cancel-api")).status == "cancelling"
    record = await ended(world, "rc-cancel-api")  # no reconciler pass needed
    assert record.status == "cancelled"


async def test_a_key_lost_in_the_crash_ends_failed_with_a_clear_reason(world: Services) -> None:
    rows_only(world, "rc-nokey", key=False)
    await Reconciler(world).reconcile()
    record = await ended(world, "rc-nokey")
    assert (record.status, record.reason) == ("failed", "ApiKeyMissing")
    assert "API key was never stored" in (record.message or "")
    assert record.runs[0].status == RunStatus.FAILED
    assert "rc-nokey-smoke-a" not in fake(world).specs


async def test_a_workflow_that_died_leaves_no_unfinished_evaluation(world: Services) -> None:
    rows_only(world, "rc-died")
    with SetWorkflowID("rc-died"):
        handle = await DBOS.start_workflow_async(dies, "rc-died")
    with pytest.raises(RuntimeError):
        await handle.get_result()
    assert world.store.get_evaluation("rc-died").status == "pending"
    assert await Reconciler(world).reconcile() == ([], ["rc-died"])
    record = world.store.get_evaluation("rc-died")
    assert (record.status, record.reason) == ("failed", "WorkflowEnded")
    assert "ERROR" in (record.message or "")
    assert record.runs[0].status == RunStatus.FAILED
    assert not world.secrets.exists(secret_name("rc-died"))


async def test_the_key_is_stored_before_the_rows_and_never_for_a_refused_start(
    world: Services,
) -> None:
    first = spec("rc-key", ["smoke-a"])
    await commands.start(world, first, "sk-first")
    await until(lambda: "rc-key-smoke-a" in fake(world).specs)  # running: its key is kept
    other_body = first.model_copy(update={"experiment_id": "another"})
    with pytest.raises(Conflict):
        await commands.start(world, other_body, "sk-second")
    assert world.secrets.get("key-rc-key")[API_KEY_SECRET_KEY] == "sk-first"
    thief = spec("rc-thief", ["smoke-a"]).model_copy(update={"datasets": first.datasets})
    with pytest.raises(Conflict):  # its run id belongs to rc-key
        await commands.start(world, thief, "sk-thief")
    assert not world.secrets.exists("key-rc-thief")
    fake(world).finish("rc-key-smoke-a", 1.0)
    assert (await ended(world, "rc-key")).status == "succeeded"


async def test_the_periodic_pass_repairs_without_a_restart(world: Services) -> None:
    often = world.settings.model_copy(update={"reconcile_interval_seconds": 0.1})
    reconciler = Reconciler(dataclasses.replace(world, settings=often))
    await reconciler.start()
    try:
        rows_only(world, "rc-periodic")  # lost after the start-up pass
        await until(lambda: "rc-periodic-smoke-a" in fake(world).specs)
    finally:
        await reconciler.stop()
    fake(world).finish("rc-periodic-smoke-a", 1.0)
    assert (await ended(world, "rc-periodic")).status == "succeeded"
