"""`POST /evals/start` refusals at the trust boundary: egress policy, bounds, uninstalled engines.

Each refusal is a 422 (or 413) naming the field, echoing nothing, and creating nothing: no row,
no secret. In process, so a resolver can be injected and settings varied per test.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from budeval.api.schemas import StartFull, full_to_spec
from budeval.egress import Unresolvable
from budeval.workflow import commands
from tests.api.boundary_app import World
from tests.service import smoke_request

SECRET = "hunter2-SECRET"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "home")
    with made.client:
        yield made
    made.services.store.close()


def with_endpoint(url: str) -> dict[str, Any]:
    body = copy.deepcopy(smoke_request("egress-1"))
    body["eval_model_info"]["endpoint"] = url
    return body


def fake_resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> Sequence[str]:
        if host not in table:
            raise Unresolvable("no such host")
        return table[host]

    return resolve


def assert_refused(world: World, response: Any, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    if status == 422:
        assert any(field in issue["field"] for issue in response.json()["errors"]), response.text
    assert SECRET not in response.text
    assert world.nothing_created()


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{SECRET}@127.0.0.1:9/v1",
        f"http://{SECRET}@127.0.0.1:9/v1",
        "ftp://127.0.0.1/v1",
        "http://127.0.0.1:99999/v1",
        "http://127.0.0.1:0/v1",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://sneaky.example.com/v1",  # resolves to the metadata address
    ],
)
def test_endpoints_outside_the_policy_are_422(world: World, url: str) -> None:
    world.services.resolver = fake_resolver({"sneaky.example.com": ["169.254.169.254"]})
    assert_refused(world, world.client.post("/evals/start", json=with_endpoint(url)), "endpoint")


def test_the_short_shape_base_url_is_checked_too(world: World) -> None:
    body = {
        "eval_request_id": "short-egress",
        "model_name": "m",
        "api_key": "k",
        "base_url": f"http://u:{SECRET}@127.0.0.1:9/v1",
    }
    response = world.client.post("/evals/start", json=body)
    assert_refused(world, response, "base_url")
    assert "api_key" in response.text  # says where the key belongs


def test_operator_deny_and_allow_lists(tmp_path: Path) -> None:
    resolve = fake_resolver({"models.corp": ["10.2.3.4"], "public.example": ["203.0.113.5"]})
    denying = World(tmp_path / "deny", egress_deny=["10.0.0.0/8", "127.0.0.0/8"])
    allowing = World(tmp_path / "allow", egress_allow=["10.0.0.0/8"])
    for world, url in (
        (denying, "http://models.corp/v1"),
        (denying, "http://127.0.0.1:9/v1"),
        (allowing, "http://public.example/v1"),
        (allowing, "http://127.0.0.1:9/v1"),
    ):
        world.services.resolver = resolve
        with world.client:
            response = world.client.post("/evals/start", json=with_endpoint(url))
        assert_refused(world, response, "endpoint")
    for world in (denying, allowing):
        world.services.store.close()


async def test_an_unresolvable_name_is_accepted_at_submit(world: World) -> None:
    """Nothing is contacted at submit; the pre-flight check refuses it at connection time."""
    world.services.resolver = fake_resolver({})
    body = StartFull.model_validate(with_endpoint("http://not-yet-in-dns.example/v1"))
    spec = full_to_spec(body, default_engine="smoke", backend="local")
    await commands.check_egress(world.services, spec)  # no exception


@pytest.mark.parametrize(
    ("name", "extra_args", "field"),
    [
        ("NaN", {"temperature": float("nan")}, "extra_args"),
        ("Infinity", {"temperature": float("inf")}, "extra_args"),
        ("255 deep", json.loads("[" * 255 + "]" * 255), "extra_args"),
        ("200,000 items", {"stop": list(range(200_000))}, "extra_args"),
        ("huge int", {"seed": 10**30}, "extra_args"),
        ("long key", {"k" * 1000: 1}, "extra_args"),
    ],
)
def test_unbounded_json_in_free_form_fields_is_422(
    world: World, name: str, extra_args: Any, field: str
) -> None:
    body = copy.deepcopy(smoke_request("bounds-1"))
    body["eval_model_info"]["extra_args"] = {"nested": extra_args}
    raw = json.dumps(body)  # json.dumps writes NaN/Infinity tokens, as a careless client would
    response = world.client.post(
        "/evals/start", content=raw, headers={"content-type": "application/json"}
    )
    assert_refused(world, response, field)


def test_unbounded_config_value_is_422(world: World) -> None:
    body = copy.deepcopy(smoke_request("bounds-2"))
    body["eval_configs"][0]["config_value"] = {"x": json.loads("[" * 100 + "]" * 100)}
    assert_refused(world, world.client.post("/evals/start", json=body), "config_value")


def test_a_chunked_body_over_the_limit_is_413(world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"eval_id": "big", "blob": "'
        for _ in range(3 * 1024):
            yield b"x" * 1024
        yield b'"}'

    response = world.client.post(
        "/evals/start", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_refused(world, response, "body", status=413)


@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808",
        "offset=-1",
        "limit=100000",
        "offset=1e3",
    ],
)
def test_list_query_bounds(world: World, query: str) -> None:
    response = world.client.get(f"/evals?{query}")
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("since", ["inf", "nan", "1e300"])
def test_log_query_bounds(world: World, since: str) -> None:
    response = world.client.get(f"/evals/x/runs/y/logs?since={since}")
    assert response.status_code == 422, response.text


def test_an_engine_that_is_not_installed_is_422_in_both_shapes(world: World) -> None:
    """Here no engine environment exists: OpenCompass (the default) and lm-eval are missing."""
    short = {
        "eval_request_id": "s-1",
        "model_name": "m",
        "api_key": "k",
        "base_url": "http://127.0.0.1:9/v1",
    }
    response = world.client.post("/evals/start", json=short)
    assert_refused(world, response, "engine")
    assert "budeval engines install opencompass" in response.json()["detail"]
    full = copy.deepcopy(smoke_request("full-1", ["demo_arith"]))
    full["engine"], full["eval_configs"] = "lmeval", []
    assert_refused(world, world.client.post("/evals/start", json=full), "engine")
