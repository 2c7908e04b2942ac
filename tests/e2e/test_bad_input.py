"""Bad input gets a clear 4xx and changes nothing: no row, no run directory, no process."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.service import Service, smoke_request

BASE = smoke_request("good-id")


def variant(path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


HOSTILE_IDS = [
    "../etc/passwd",
    "a/../../b",
    "x;rm -rf /",
    "$(touch /tmp/pwned)",
    "`id`",
    "a\nb",
    "a b",
    "..",
    "-rf",
    "",
    "é",
    "x" * 129,
    "a|b",
    "a&&b",
    "a'b",
    'a"b',
]

CASES: list[tuple[str, Any, str]] = [
    (
        "missing model info",
        {"eval_id": "x", "eval_datasets": [{"dataset_id": "smoke"}]},
        "eval_model_info",
    ),
    ("datasets not a list", variant(["eval_datasets"], "smoke"), "eval_datasets"),
    ("empty datasets", variant(["eval_datasets"], []), "eval_datasets"),
    ("number as model name", variant(["eval_model_info", "model_name"], 12), "model_name"),
    ("1 MB model name", variant(["eval_model_info", "model_name"], "m" * 1_000_000), "model_name"),
    ("1 MB api key", variant(["eval_model_info", "api_key"], "k" * 1_000_000), "api_key"),
    (
        "endpoint not http",
        variant(["eval_model_info", "endpoint"], "file:///etc/passwd"),
        "endpoint",
    ),
    (
        "endpoint with shell",
        variant(["eval_model_info", "endpoint"], "http://x/$(id)\n"),
        "endpoint",
    ),
    ("unknown engine", variant(["engine"], "nope"), "engine"),
    ("unknown dataset", variant(["eval_datasets"], [{"dataset_id": "mmlu"}]), "dataset_id"),
    ("unknown field", variant(["surprise"], 1), "surprise"),
    (
        "bad smoke exit code",
        variant(["eval_configs"], [{"config_name": "smoke", "config_value": {"exit_code": 999}}]),
        "exit_code",
    ),
    (
        "smoke config not an object",
        variant(["eval_configs"], [{"config_name": "smoke", "config_value": "rm -rf /"}]),
        "smoke",
    ),
    (
        "duplicate run ids",
        variant(
            ["eval_datasets"],
            [{"dataset_id": "smoke", "run_id": "r1"}, {"dataset_id": "smoke-2", "run_id": "r1"}],
        ),
        "run_id",
    ),
    (
        "kubeconfig on a local service",
        {
            "eval_request_id": "s",
            "model_name": "m",
            "api_key": "k",
            "base_url": "http://h/v1",
            "kubeconfig": "x",
        },
        "kubeconfig",
    ),
]
CASES += [
    (f"hostile eval_id {value!r}", variant(["eval_id"], value), "eval_id") for value in HOSTILE_IDS
]
CASES += [
    (
        f"hostile run_id {value!r}",
        variant(["eval_datasets"], [{"dataset_id": "smoke", "run_id": value}]),
        "run_id",
    )
    for value in HOSTILE_IDS
]
CASES += [
    (
        f"hostile dataset {value!r}",
        variant(["eval_datasets"], [{"dataset_id": value}]),
        "dataset_id",
    )
    for value in HOSTILE_IDS[:6]
]


def assert_nothing_created(service: Service) -> None:
    assert service.http.get("/evals").json()["total"] == 0
    runs = service.home / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []
    secrets = service.home / "secrets"
    assert not secrets.exists() or list(secrets.iterdir()) == []


@pytest.mark.parametrize(("name", "body", "field"), CASES, ids=[case[0] for case in CASES])
def test_bad_bodies_are_refused_with_the_field_named(
    service: Service, name: str, body: Any, field: str
) -> None:
    response = service.start_eval(body)
    assert response.status_code == 422, (name, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert any(field in issue["field"] for issue in problem["errors"]), problem
    assert len(response.content) < 10_000  # never echoes the input back
    assert_nothing_created(service)


@pytest.mark.parametrize(
    "raw",
    [b"{bad json", b"", b"[1, 2]", b'"a string"', b"null", b"\xff\xfe"],
    ids=["malformed", "empty", "list", "string", "null", "binary"],
)
def test_non_object_bodies_are_4xx(service: Service, raw: bytes) -> None:
    response = service.http.post(
        "/evals/start", content=raw, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert_nothing_created(service)


def test_oversized_body_is_413(service: Service) -> None:
    body = variant(["eval_model_info", "extra_args"], {"blob": "x" * (3 * 1024 * 1024)})
    assert service.start_eval(body).status_code == 413
    assert_nothing_created(service)


@pytest.mark.parametrize(
    "path",
    [
        "/evals/..%2F..%2Fetc",
        "/evals/a;b",
        "/evals/%24(id)/results",
        "/evals/status/a%0Ab",
        "/evals/nope",
    ],
)
def test_hostile_or_unknown_ids_in_paths(service: Service, path: str) -> None:
    response = service.http.get(path)
    assert response.status_code in (404, 422), response.text
    assert service.http.post(f"{path}/cancel").status_code in (404, 405, 422)
    assert_nothing_created(service)


# --- issue 8: the trust boundary, through a real service process ------------------------------

KEY_IN_URL = "hunter2-in-the-url"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("credentials in the URL", f"http://user:{KEY_IN_URL}@127.0.0.1:9/v1"),
        ("ftp", "ftp://127.0.0.1/v1"),
        ("port out of range", "http://127.0.0.1:70000/v1"),
        ("cloud metadata", "http://169.254.169.254/latest/meta-data/"),
        ("AWS metadata over IPv6", "http://[fd00:ec2::254]/latest/meta-data/"),
        ("GCP metadata name", "http://metadata.google.internal/computeMetadata/v1/"),
        ("metadata as a decimal literal", "http://2852039166/latest/meta-data/"),
    ],
)
def test_endpoints_outside_the_egress_policy_are_422(service: Service, name: str, url: str) -> None:
    response = service.start_eval(variant(["eval_model_info", "endpoint"], url))
    assert response.status_code == 422, (name, response.text[:500])
    assert any("endpoint" in issue["field"] for issue in response.json()["errors"])
    assert KEY_IN_URL not in response.text
    assert_nothing_created(service)
    assert KEY_IN_URL not in service.log_path.read_text()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("NaN", b'{"temperature": NaN}'),
        ("Infinity", b'{"temperature": -Infinity}'),
        ("255 deep", b'{"x": ' + b"[" * 255 + b"]" * 255 + b"}"),
        ("200,000 items", b'{"stop": [' + b",".join([b"1"] * 200_000) + b"]}"),
        ("huge integer", b'{"seed": 9223372036854775808}'),
    ],
)
def test_unbounded_extra_args_are_422(service: Service, name: str, raw: bytes) -> None:
    body = json.dumps(BASE).encode()
    body = body.replace(b'"api_key": "sk-test-key"', b'"api_key": "k", "extra_args": ' + raw)
    response = service.http.post(
        "/evals/start", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, (name, response.text[:500])
    assert any("extra_args" in issue["field"] for issue in response.json()["errors"])
    assert_nothing_created(service)


def test_a_chunked_body_over_the_limit_is_413(service: Service) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"eval_id": "big", "blob": "'
        for _ in range(3 * 1024):
            yield b"x" * 1024
        yield b'"}'

    response = service.http.post(
        "/evals/start", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text[:500]
    assert_nothing_created(service)


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=99999999999", "limit=0"])
def test_list_paging_out_of_bounds_is_422(service: Service, query: str) -> None:
    assert service.http.get(f"/evals?{query}").status_code == 422


def test_an_engine_that_is_not_installed_is_422_at_submit(service: Service) -> None:
    """This service's engines dir is empty: OpenCompass (the short shape's default) is missing."""
    short = {
        "eval_request_id": "short-missing",
        "model_name": "m",
        "api_key": "k",
        "base_url": "http://127.0.0.1:9/v1",
    }
    response = service.start_eval(short)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "engine"
    assert "budeval engines install opencompass" in response.json()["detail"]
    full = variant(["engine"], "lmeval")
    full["eval_datasets"], full["eval_configs"] = [{"dataset_id": "demo_arith"}], []
    assert service.start_eval(full).status_code == 422
    assert_nothing_created(service)


def test_ids_share_one_namespace(fresh_service: Service) -> None:
    """A run id equal to another evaluation's id made cleanup clean the wrong evaluation."""
    service = fresh_service.start()
    first = variant(["eval_datasets"], [{"dataset_id": "smoke", "run_id": "shared-x"}])
    first["eval_id"] = "owner-a"
    assert service.start_eval(first).status_code == 201
    collide = copy.deepcopy(BASE)
    collide["eval_id"] = "shared-x"
    response = service.start_eval(collide)
    assert response.status_code == 409, response.text
    assert "owner-a" in response.json()["detail"]
    reverse = variant(["eval_datasets"], [{"dataset_id": "smoke", "run_id": "owner-a"}])
    reverse["eval_id"] = "owner-b"
    assert service.start_eval(reverse).status_code == 409
    service.wait_terminal("owner-a")
    status = service.http.get("/evals/status/shared-x").json()
    assert status["job_id"] == "shared-x" and status["status"] == "succeeded"
    cleaned = service.http.delete("/evals/cleanup/shared-x").json()
    assert cleaned["eval_id"] == "owner-a"
    assert service.http.get("/evals").json()["total"] == 1
    service.http.delete("/evals/cleanup/owner-a")
