"""The local backend on its own: real processes, real run directories, no service.

Waiting is event-driven: tests read the backend's own `events()` stream.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from budeval.backends.base import RunHandle, RunSpec, RunState, StatusChange
from budeval.backends.local.backend import LocalBackend
from budeval.backends.local.environment import map_paths, process_environment
from budeval.config import Settings
from budeval.engines.registry import default_registry
from budeval.errors import BackendError
from budeval.secrets import LocalSecretStore
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.status import RunStatus
from tests.service import kill_run_processes

KEY = "sk-local-backend-test"


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    configured = Settings(home=tmp_path / "home", cancel_grace_seconds=2, local_concurrency=2)
    configured.ensure_dirs()
    yield configured
    kill_run_processes(configured.home)


def make_backend(settings: Settings, **overrides: object) -> LocalBackend:
    settings = settings.model_copy(update=overrides)
    secrets = LocalSecretStore(settings.secrets_dir)
    secrets.put("key-e1", {"api_key": KEY})
    return LocalBackend(settings, secrets)


def run_spec(run_id: str, **behaviour: object) -> RunSpec:
    evaluation = EvaluationSpec(
        eval_id="e1",
        model=ModelSpec(model_name="m", endpoint="http://h/v1"),
        datasets=[DatasetRun(dataset_id="smoke", run_id=run_id)],
        engine="smoke",
        configs={"smoke": {"duration_seconds": 0.3, **behaviour}},
        secret_name="key-e1",
    )
    return default_registry().get("smoke").build(evaluation, evaluation.datasets[0])


class Changes:
    """The backend's change stream, with a way to wait for one run's next matching state."""

    def __init__(self, backend: LocalBackend) -> None:
        self.stream: AsyncIterator[StatusChange] = backend.events()
        self.seen: list[StatusChange] = []

    async def until(self, run_id: str, *statuses: RunStatus, timeout: float = 20) -> RunState:
        for change in self.seen:
            if change.handle.run_id == run_id and change.state.status in statuses:
                return change.state
        while True:
            change = await asyncio.wait_for(anext(self.stream), timeout)
            self.seen.append(change)
            if change.handle.run_id == run_id and change.state.status in statuses:
                return change.state

    def statuses(self, run_id: str) -> list[RunStatus]:
        return [c.state.status for c in self.seen if c.handle.run_id == run_id]


TERMINAL = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


def launches(backend: LocalBackend, run_id: str) -> int:
    path = backend.run_dir(run_id).output / "launches.log"
    return len(path.read_text().split()) if path.exists() else 0


async def test_a_run_starts_once_and_its_changes_are_announced(settings: Settings) -> None:
    backend = make_backend(settings)
    changes = Changes(backend)
    handle = await backend.submit(run_spec("r1"))
    assert await backend.submit(run_spec("r1")) == handle  # idempotent
    state = await changes.until("r1", *TERMINAL)
    assert (state.status, state.exit_code) == (RunStatus.SUCCEEDED, 0)
    assert changes.statuses("r1") == [RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert launches(backend, "r1") == 1
    await make_backend(settings).start()  # a restart finds nothing left to start
    await backend.submit(run_spec("r1"))
    assert launches(backend, "r1") == 1


async def test_a_restarted_backend_adopts_a_running_supervisor(settings: Settings) -> None:
    before = make_backend(settings)
    await before.submit(run_spec("r2", duration_seconds=1.5))
    await Changes(before).until("r2", RunStatus.RUNNING)
    await before.stop()
    after = make_backend(settings)  # as after a service restart
    changes = Changes(after)
    await after.start()
    state = await changes.until("r2", *TERMINAL)
    assert state.status is RunStatus.SUCCEEDED
    assert launches(after, "r2") == 1


async def test_slots_bound_concurrency_across_restarts(settings: Settings) -> None:
    first = make_backend(settings, local_concurrency=1)
    await first.submit(run_spec("a", duration_seconds=1.0))
    await first.submit(run_spec("b", duration_seconds=0.1))
    await Changes(first).until("a", RunStatus.RUNNING)
    b_handle = RunHandle(backend="local", eval_id="e1", run_id="b", name="eval-b")
    assert (await first.statuses([b_handle]))["b"].status is RunStatus.SCHEDULED
    await first.stop()
    restarted = make_backend(settings, local_concurrency=1)
    changes = Changes(restarted)
    await restarted.start()  # adopts a, re-queues b: b must wait for a's slot
    a = await changes.until("a", *TERMINAL)
    b = await changes.until("b", *TERMINAL)
    assert a.status is b.status is RunStatus.SUCCEEDED
    assert b.started_at is not None and a.finished_at is not None
    assert b.started_at >= a.finished_at
    assert launches(restarted, "a") == launches(restarted, "b") == 1


async def test_cancel_of_a_queued_run_means_it_never_starts(settings: Settings) -> None:
    backend = make_backend(settings, local_concurrency=1)
    changes = Changes(backend)
    busy = await backend.submit(run_spec("busy", duration_seconds=60))
    queued = await backend.submit(run_spec("queued"))
    await backend.cancel(queued)
    assert (await changes.until("queued", *TERMINAL)).status is RunStatus.CANCELLED
    await backend.cancel(busy)
    assert (await changes.until("busy", *TERMINAL)).status is RunStatus.CANCELLED
    assert launches(backend, "queued") == 0


async def test_cancel_running_kills_the_group(settings: Settings) -> None:
    backend = make_backend(settings)
    changes = Changes(backend)
    handle = await backend.submit(run_spec("r5", duration_seconds=60))
    await changes.until("r5", RunStatus.RUNNING)
    pgid = json.loads(backend.run_dir("r5").engine.read_text())["pgid"]
    os.killpg(pgid, 0)
    await backend.cancel(handle)
    state = await changes.until("r5", *TERMINAL)
    assert (state.status, state.reason) == (RunStatus.CANCELLED, "Cancelled")
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


async def test_failure_reasons(settings: Settings) -> None:
    backend = make_backend(settings)
    changes = Changes(backend)
    failing = await backend.submit(run_spec("r6", exit_code=7))
    state = await changes.until("r6", *TERMINAL)
    assert (state.status, state.reason, state.exit_code) == (RunStatus.FAILED, "EngineError", 7)
    assert "failing on purpose" in await backend.log_tail(failing, 5)

    backend.secrets.delete("key-e1")
    await backend.submit(run_spec("r7"))
    state = await changes.until("r7", *TERMINAL)
    assert (state.status, state.reason) == (RunStatus.FAILED, "SecretMissing")
    assert launches(backend, "r7") == 0


async def test_environment_is_built_from_scratch(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDEVAL_API_TOKENS", "service-token")
    backend = make_backend(settings)
    spec = run_spec("r8")
    run = backend.run_dir("r8")
    env = process_environment(spec, run, settings, backend.secrets)
    assert "BUDEVAL_API_TOKENS" not in env and env["OPENAI_API_KEY"] == KEY
    assert env["HF_HUB_OFFLINE"] == "1"
    args = json.loads(env["ENGINE_ARGS"])
    assert args["output_dir"] == str(run.output) and KEY not in env["ENGINE_ARGS"]
    table = {"/datasets": Path("/d"), "/output": Path("/o")}
    assert map_paths(["/datasets/x", "/dataset", "/output"], table) == ["/d/x", "/dataset", "/o"]


async def test_files_may_not_escape_data(settings: Settings) -> None:
    backend = make_backend(settings)
    spec = run_spec("r9").model_copy(update={"files": {"../../escape.txt": "x"}})
    with pytest.raises(BackendError, match="escapes"):
        await backend.submit(spec)
    assert not (settings.runs_dir / "escape.txt").exists()


async def test_statuses_of_a_removed_run(settings: Settings) -> None:
    backend = make_backend(settings)
    handle = RunHandle(backend="local", eval_id="e1", run_id="gone", name="eval-gone")
    state = (await backend.statuses([handle]))["gone"]
    assert (state.status, state.reason) == (RunStatus.CANCELLED, "Removed")
