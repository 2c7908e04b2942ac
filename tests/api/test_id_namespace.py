"""One namespace for evaluation ids, run ids and run (job) names; one resolution for routes.

A run id equal to another evaluation's id made `DELETE /evals/cleanup/{id}` clean the wrong
evaluation. Now a collision is a 409 (the request is valid, the id is taken: a conflict with the
service's state, like reusing an evaluation id for another request), enforced by the database,
and status/cleanup resolve an id through `Store.resolve` alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from budeval.errors import Conflict, NotFound
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.status import EvalStatus
from budeval.store import evaluations as store_evaluations
from tests.api.boundary_app import World
from tests.service import smoke_request


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "home")
    with made.client:
        yield made
    made.services.store.close()


def spec(eval_id: str, *run_ids: str) -> EvaluationSpec:
    return EvaluationSpec(
        eval_id=eval_id,
        model=ModelSpec(model_name="m", endpoint="http://127.0.0.1:9/v1"),
        datasets=[DatasetRun(dataset_id="smoke", run_id=run_id) for run_id in run_ids],
        engine="smoke",
        backend="local",
        secret_name=f"key-{eval_id}",
    )


def create(world: World, eval_id: str, *run_ids: str) -> None:
    made = spec(eval_id, *run_ids)
    names = {run_id: f"job-{run_id.lower()}" for run_id in run_ids}
    world.services.store.create_evaluation(made, "fp", names)
    world.services.store.set_evaluation_status(eval_id, EvalStatus.CANCELLED)  # ended: no DBOS


def request(eval_id: str, run_id: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(smoke_request(eval_id))
    if run_id is not None:
        body["eval_datasets"][0]["run_id"] = run_id
    return body


def test_an_evaluation_id_equal_to_a_run_id_is_409(world: World) -> None:
    create(world, "eval-a", "x")
    response = world.client.post("/evals/start", json=request("x"))
    assert response.status_code == 409, response.text
    assert "eval-a" in response.json()["detail"]
    with pytest.raises(NotFound):
        world.services.store.get_evaluation("x")


def test_a_run_id_equal_to_an_evaluation_id_is_409(world: World) -> None:
    create(world, "eval-a", "run-a")
    response = world.client.post("/evals/start", json=request("eval-b", run_id="eval-a"))
    assert response.status_code == 409, response.text
    with pytest.raises(NotFound):
        world.services.store.get_evaluation("eval-b")


def test_an_id_equal_to_a_job_name_is_409(world: World) -> None:
    create(world, "eval-a", "run-a")
    response = world.client.post("/evals/start", json=request("job-run-a"))
    assert response.status_code == 409, response.text


def test_the_database_enforces_the_namespace_not_only_the_check(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests racing past the check: the constraint still refuses the second."""
    create(world, "eval-a", "x")
    monkeypatch.setattr(store_evaluations, "check_run_ids", lambda *args: None)
    with pytest.raises(Conflict):
        world.services.store.create_evaluation(spec("x", "r-x"), "fp", {"r-x": "job-r-x"})
    with pytest.raises(Conflict):
        world.services.store.create_evaluation(spec("eval-c", "eval-a"), "fp", {"eval-a": "j"})
    with pytest.raises(NotFound):
        world.services.store.get_evaluation("x")


def test_status_and_cleanup_resolve_an_id_one_way(world: World) -> None:
    create(world, "eval-a", "run-a1", "run-a2")
    create(world, "eval-b", "run-b1")
    store = world.services.store
    for key, eval_id, run_id in (
        ("eval-a", "eval-a", None),
        ("run-a2", "eval-a", "run-a2"),
        ("job-run-a2", "eval-a", "run-a2"),
        ("run-b1", "eval-b", "run-b1"),
    ):
        record, run = store.resolve(key)
        assert (record.id, run.id if run else None) == (eval_id, run_id)
    with pytest.raises(NotFound):
        store.resolve("nope")
    status = world.client.get("/evals/status/run-b1").json()
    assert (status["job_id"], status["status"]) == ("run-b1", "pending")  # the run's own
    assert world.client.get("/evals/status/eval-a").json()["status"] == "cancelled"
    assert world.client.get("/evals/status/nope").status_code == 404
    cleaned = world.client.delete("/evals/cleanup/run-b1").json()
    assert cleaned["eval_id"] == "eval-b"
    assert store.get_evaluation("eval-b").cleaned_at is not None
    assert store.get_evaluation("eval-a").cleaned_at is None
    assert world.client.delete("/evals/cleanup/nope").status_code == 404
