"""`GET /evals/{eval_id}/runs/{run_id}/logs` in-process: a real store, the fake backend, no DBOS.

Covers what a real service cannot provoke on demand: a run with no handle yet (409), a backend
that refuses before its first line (a status code, not a cut stream), and `primed` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from budeval.api import streaming
from budeval.api.problems import install_handlers
from budeval.api.routes import evals
from budeval.config import Settings
from budeval.errors import NotFound
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.workflow.services import Services
from tests.fakes import FakeBackend, fake_services


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[TestClient, Services, FakeBackend]]:
    services, backend = fake_services(Settings(home=tmp_path))
    for eval_id in ("ev-1", "ev-2"):
        spec = EvaluationSpec(
            eval_id=eval_id,
            model=ModelSpec(model_name="m", endpoint="http://127.0.0.1:9/v1"),
            datasets=[DatasetRun(dataset_id="smoke", run_id=f"{eval_id}-run")],
            engine="smoke",
            backend="fake",
            secret_name=f"key-{eval_id}",
        )
        services.store.create_evaluation(spec, "fp", {f"{eval_id}-run": f"job-{eval_id}"})
    app = FastAPI()
    install_handlers(app)
    app.include_router(evals.router)
    app.state.services = services
    with TestClient(app) as client:
        yield client, services, backend
    services.store.close()


def deploy(services: Services, run_id: str = "ev-1-run", eval_id: str = "ev-1") -> None:
    """What the deploy step leaves behind: the run's handle in the store."""
    handle = {"backend": "fake", "eval_id": eval_id, "run_id": run_id, "name": f"job-{eval_id}"}
    services.store.set_run_handle(run_id, handle)


def test_a_run_not_deployed_yet_is_409(world: tuple[TestClient, Services, FakeBackend]) -> None:
    client, _, backend = world
    response = client.get("/evals/ev-1/runs/ev-1-run/logs")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "not deployed yet" in response.json()["detail"]
    assert backend.log_requests == []


def test_logs_stream_with_the_options_passed_on(
    world: tuple[TestClient, Services, FakeBackend],
) -> None:
    client, services, backend = world
    deploy(services)
    backend.log_lines = [f"line {n}\n" for n in range(5)]
    response = client.get("/evals/ev-1/runs/ev-1-run/logs", params={"tail": 2, "since": 30})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "line 3\nline 4\n"
    by_job_name = client.get("/evals/ev-1/runs/job-ev-1/logs", params={"follow": True})
    assert by_job_name.text == "".join(backend.log_lines)
    assert backend.log_requests == [
        {"tail": 2, "since": 30.0, "follow": False},
        {"tail": None, "since": None, "follow": True},
    ]


def test_an_empty_log_is_an_empty_200(world: tuple[TestClient, Services, FakeBackend]) -> None:
    client, services, backend = world
    deploy(services)
    backend.log_lines = []
    response = client.get("/evals/ev-1/runs/ev-1-run/logs")
    assert (response.status_code, response.text) == (200, "")


def test_a_backend_refusal_before_the_first_line_is_a_problem(
    world: tuple[TestClient, Services, FakeBackend],
) -> None:
    client, services, backend = world
    deploy(services)
    backend.refuse_logs = "the pod is gone"
    response = client.get("/evals/ev-1/runs/ev-1-run/logs")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "LogsUnavailable"


@pytest.mark.parametrize(
    "path",
    [
        "/evals/nope/runs/ev-1-run/logs",  # unknown evaluation
        "/evals/ev-1/runs/nope/logs",  # unknown run
        "/evals/ev-2/runs/ev-1-run/logs",  # a run of another evaluation
    ],
)
def test_unknown_is_404(world: tuple[TestClient, Services, FakeBackend], path: str) -> None:
    client, services, backend = world
    deploy(services)
    response = client.get(path)
    assert response.status_code == 404, response.text
    assert backend.log_requests == []


@pytest.mark.parametrize(
    "params",
    [{"tail": 0}, {"tail": 100_001}, {"since": 0}, {"since": -1}, {"follow": "perhaps"}],
)
def test_bad_options_are_422(
    world: tuple[TestClient, Services, FakeBackend], params: dict[str, object]
) -> None:
    client, services, _ = world
    deploy(services)
    response = client.get("/evals/ev-1/runs/ev-1-run/logs", params=params)
    assert response.status_code == 422
    assert [issue["field"] for issue in response.json()["errors"]] == list(params)


def test_a_cleaned_run_is_409(world: tuple[TestClient, Services, FakeBackend]) -> None:
    client, services, _ = world
    deploy(services)
    services.store.mark_cleaned("ev-1")
    response = client.get("/evals/ev-1/runs/ev-1-run/logs")
    assert response.status_code == 409
    assert "cleaned up" in response.json()["detail"]


async def _chunks(
    *items: str | BaseException, gate: asyncio.Event | None = None
) -> AsyncIterator[str]:
    if gate is not None:
        await gate.wait()
    for item in items:
        if isinstance(item, BaseException):
            raise item
        yield item


async def test_primed_raises_an_early_error_and_keeps_a_late_one_in_the_stream() -> None:
    with pytest.raises(NotFound):
        await streaming.primed(_chunks(NotFound("gone")))
    body = await streaming.primed(_chunks("a", NotFound("later")))
    with pytest.raises(NotFound):
        assert [chunk async for chunk in body] == ["a"]
    assert [chunk async for chunk in await streaming.primed(_chunks())] == []


async def test_primed_does_not_wait_for_a_slow_first_chunk() -> None:
    gate = asyncio.Event()
    body = await streaming.primed(_chunks("a", "b", gate=gate), wait=0.01)  # returns, gate shut
    gate.set()
    assert [chunk async for chunk in body] == ["a", "b"]


async def test_primed_cancels_a_pending_first_chunk_when_the_stream_is_dropped() -> None:
    gate = asyncio.Event()
    body = await streaming.primed(_chunks("a", gate=gate), wait=0.01)
    reader = asyncio.ensure_future(anext(aiter(body)))
    await asyncio.wait({reader}, timeout=0.01)  # the reader is now waiting on the gate
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await body.aclose()  # type: ignore[attr-defined]
