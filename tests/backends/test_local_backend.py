"""The local backend on its own: real processes, real run directories, no service."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from budeval.backends.base import RunHandle, RunSpec
from budeval.backends.local.backend import LocalBackend
from budeval.backends.local.environment import map_paths, process_environment
from budeval.backends.local.rundir import RunDir
from budeval.config import Settings
from budeval.engines.registry import default_registry
from budeval.errors import BackendError
from budeval.secrets import LocalSecretStore
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.status import RunStatus
from tests.service import kill_run_processes

KEY = "sk-local-backend-test"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    configured = Settings(home=tmp_path / "home", cancel_grace_seconds=2)
    configured.ensure_dirs()
    yield configured
    kill_run_processes(configured.home)


def make_backend(settings: Settings) -> LocalBackend:
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


def launches(backend: LocalBackend, run_id: str) -> int:
    path = backend.run_dir(run_id).output / "launches.log"
    return len(path.read_text().split()) if path.exists() else 0


async def test_occupy_runs_once_even_when_called_twice(settings: Settings) -> None:
    backend = make_backend(settings)
    handle = await backend.submit(run_spec("r1"))
    assert (await backend.statuses([handle]))["r1"].status is RunStatus.SCHEDULED
    first, second = await asyncio.gather(backend.occupy(handle), backend.occupy(handle))
    assert first.status is second.status is RunStatus.SUCCEEDED
    assert launches(backend, "r1") == 1
    assert await backend.submit(run_spec("r1")) == handle  # idempotent


async def test_a_new_backend_adopts_a_running_supervisor(settings: Settings) -> None:
    before = make_backend(settings)
    handle = await before.submit(run_spec("r2", duration_seconds=1.5))
    task = asyncio.create_task(before.occupy(handle))
    while not RunDir(before.run_dir("r2").path).supervisor.exists():
        await asyncio.sleep(0.01)
    after = make_backend(settings)  # as after a service restart
    state = await after.occupy(handle)
    assert state.status is RunStatus.SUCCEEDED
    assert launches(after, "r2") == 1
    await task


async def test_changes_are_announced(settings: Settings) -> None:
    backend = make_backend(settings)
    handle = await backend.submit(run_spec("r3"))
    await backend.occupy(handle)
    events = backend.events()
    seen = [await anext(events), await anext(events)]
    assert [change.state.status for change in seen] == [RunStatus.RUNNING, RunStatus.SUCCEEDED]


async def test_cancel_before_start_means_never_started(settings: Settings) -> None:
    backend = make_backend(settings)
    handle = await backend.submit(run_spec("r4"))
    await backend.cancel(handle)
    state = await backend.occupy(handle)
    assert state.status is RunStatus.CANCELLED
    assert launches(backend, "r4") == 0


async def test_cancel_running_kills_the_group(settings: Settings) -> None:
    backend = make_backend(settings)
    handle = await backend.submit(run_spec("r5", duration_seconds=60))
    task = asyncio.create_task(backend.occupy(handle))
    engine_file = backend.run_dir("r5").engine
    while not engine_file.exists():
        await asyncio.sleep(0.01)
    pgid = json.loads(engine_file.read_text())["pgid"]
    await backend.cancel(handle)
    state = await asyncio.wait_for(task, 10)
    assert state.status is RunStatus.CANCELLED
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


async def test_failure_reasons(settings: Settings) -> None:
    backend = make_backend(settings)
    failing = await backend.submit(run_spec("r6", exit_code=7))
    state = await backend.occupy(failing)
    assert (state.status, state.reason, state.exit_code) == (RunStatus.FAILED, "EngineError", 7)
    assert "failing on purpose" in await backend.log_tail(failing, 5)

    backend.secrets.delete("key-e1")
    no_key = await backend.submit(run_spec("r7"))
    state = await backend.occupy(no_key)
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
    assert map_paths(
        ["/datasets/x", "/dataset", "/output"], {"/datasets": Path("/d"), "/output": Path("/o")}
    ) == ["/d/x", "/dataset", "/o"]


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
