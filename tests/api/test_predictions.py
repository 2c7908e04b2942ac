"""`GET /evals/{eval_id}/predictions` in-process: the real app factory's routes, a real store,
no DBOS. Stored predictions of two runs (one OpenCompass-like, one lm-eval-like) are filtered by
run, dataset and correctness and paged with bounds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from budeval.api.problems import install_handlers
from budeval.api.routes import predictions
from budeval.api.security import Unauthorized
from budeval.config import Settings
from budeval.results.models import ParsedResults, Prediction, Score
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.workflow.services import Services
from tests.fakes import fake_services

RUNS = {"ev-1-a": "demo_arith", "ev-1-b": "demo_mcq"}


def parsed(count: int, right: set[int]) -> ParsedResults:
    return ParsedResults(
        engine="smoke",
        engine_version="1",
        scores=[Score(dataset="d", metric="accuracy", value=len(right) / count)],
        predictions=[
            Prediction(index=i, prompt=f"q{i}", prediction=f"p{i}", gold=str(i), correct=i in right)
            for i in range(count)
        ],
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    services, _ = fake_services(Settings(home=tmp_path))
    for eval_id, runs in (("ev-1", RUNS), ("ev-2", {"ev-2-a": "demo_arith"})):
        spec = EvaluationSpec(
            eval_id=eval_id,
            model=ModelSpec(model_name="m", endpoint="http://127.0.0.1:9/v1"),
            datasets=[DatasetRun(dataset_id=name, run_id=run) for run, name in runs.items()],
            engine="smoke",
            backend="fake",
            secret_name=f"key-{eval_id}",
        )
        services.store.create_evaluation(spec, "fp", {run: f"job-{run}" for run in runs})
    services.store.store_results("ev-1", "ev-1-a", parsed(5, {0, 2, 4}))
    services.store.store_results("ev-1", "ev-1-b", parsed(3, {1}))
    services.store.store_results("ev-2", "ev-2-a", parsed(2, {0}))
    app = FastAPI()
    install_handlers(app)
    app.include_router(predictions.router)
    app.add_exception_handler(Unauthorized, lambda _r, _e: JSONResponse({}, status_code=401))
    app.state.services = services
    with TestClient(app) as test_client:
        yield test_client
    services.store.close()


def page(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/evals/ev-1/predictions", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_all_predictions_in_run_then_sample_order(client: TestClient) -> None:
    body = page(client)
    assert (body["eval_id"], body["total"], body["limit"], body["offset"]) == ("ev-1", 8, 100, 0)
    keys = [(item["run_id"], item["dataset"], item["index"]) for item in body["items"]]
    assert keys == [("ev-1-a", "demo_arith", i) for i in range(5)] + [
        ("ev-1-b", "demo_mcq", i) for i in range(3)
    ]
    first = body["items"][0]
    assert first == {
        "run_id": "ev-1-a",
        "dataset": "demo_arith",
        "index": 0,
        "prompt": "q0",
        "prediction": "p0",
        "gold": "0",
        "correct": True,
    }


def test_filters_combine(client: TestClient) -> None:
    assert page(client, run_id="ev-1-b")["total"] == 3
    assert [i["index"] for i in page(client, dataset="demo_arith", correct=False)["items"]] == [
        1,
        3,
    ]
    right = page(client, correct=True)
    assert right["total"] == 4 and all(item["correct"] for item in right["items"])
    assert page(client, dataset="nope")["total"] == 0


def test_pagination(client: TestClient) -> None:
    second = page(client, limit=3, offset=3)
    assert second["total"] == 8 and len(second["items"]) == 3
    assert [(i["run_id"], i["index"]) for i in second["items"]] == [
        ("ev-1-a", 3),
        ("ev-1-a", 4),
        ("ev-1-b", 0),
    ]
    assert page(client, offset=100)["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"offset": 9223372036854775808},
        {"correct": "maybe"},
        {"run_id": "bad id!"},
        {"dataset": "x" * 300},
    ],
)
def test_out_of_bounds_parameters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/evals/ev-1/predictions", params=params)
    assert response.status_code == 422, response.text


def test_unknown_evaluation_and_foreign_run_are_404(client: TestClient) -> None:
    missing = client.get("/evals/nope/predictions")
    assert missing.status_code == 404 and "evaluation nope not found" in missing.json()["detail"]
    foreign = client.get("/evals/ev-1/predictions", params={"run_id": "ev-2-a"})
    assert foreign.status_code == 404 and "run ev-2-a" in foreign.json()["detail"]


def test_registered_in_the_app() -> None:
    from budeval.api.app import create_app

    paths = create_app(Settings()).openapi()["paths"]
    assert "get" in paths["/evals/{eval_id}/predictions"]


def test_requires_the_token_when_tokens_are_set(client: TestClient) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    services.settings = Settings(home=services.settings.home, api_tokens=["t-secret-1"])
    assert client.get("/evals/ev-1/predictions").status_code == 401
    headers = {"Authorization": "Bearer t-secret-1"}
    assert client.get("/evals/ev-1/predictions", headers=headers).status_code == 200
