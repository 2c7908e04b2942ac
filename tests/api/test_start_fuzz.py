"""A seeded fuzz of `POST /evals/start`: mutated bodies never get a 5xx, and what is accepted is
bounded. Standard library only (a schemathesis run would cost a dependency for the same checks).

Each case takes a valid body and replaces one value anywhere in it (or adds a key) with a hostile
one: huge or non-finite numbers, deep or long containers, long or odd strings, wrong types.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from budeval.workflow import commands
from tests.api.boundary_app import World
from tests.service import smoke_request

CASES = 300
ALLOWED = {200, 201, 400, 409, 413, 422}


def hostile(rng: random.Random) -> Any:
    choices = [
        lambda: 10 ** rng.randint(10, 40) * rng.choice([1, -1]),
        lambda: rng.choice([float("nan"), float("inf"), -float("inf"), 1e308, -0.0]),
        lambda: _nested(rng.randint(10, 400)),
        lambda: list(range(rng.randint(1000, 50_000))),
        lambda: "x" * rng.randint(1000, 300_000),
        lambda: rng.choice(["", " ", "\x00", "é" * 50, "../../etc", "http://u:p@h/", "\n"]),
        lambda: {f"k{i}": i for i in range(rng.randint(100, 20_000))},
        lambda: rng.choice([None, True, [], {}, 0, -1, 2**63, "2**63"]),
        lambda: {"k" * rng.randint(200, 5000): 1},
    ]
    return rng.choice(choices)()


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def mutate(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    body = copy.deepcopy(body)
    path = rng.choice(paths(body)[1:])
    target = body
    for part in path[:-1]:
        target = target[part]
    if isinstance(target, dict) and rng.random() < 0.2:
        target[f"extra{rng.randint(0, 9)}"] = hostile(rng)
    else:
        target[path[-1]] = hostile(rng)
    return body


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    async def no_workflow(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(commands.DBOS, "start_workflow_async", no_workflow)
    made = World(tmp_path / "home")
    with made.client:
        yield made
    made.services.store.close()


def test_mutated_start_bodies_never_fail_the_server(world: World) -> None:
    rng = random.Random(8)
    seen: dict[int, int] = {}
    for case in range(CASES):
        body = smoke_request(f"fuzz-{case}")
        body["eval_model_info"]["extra_args"] = {"temperature": 0.5, "stop": ["\n"]}
        mutated = mutate(body, rng)
        raw = json.dumps(mutated)  # NaN/Infinity tokens as a careless client writes them
        response = world.client.post(
            "/evals/start", content=raw, headers={"content-type": "application/json"}
        )
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in ALLOWED, (case, response.text[:300])
        assert len(response.content) < 20_000  # nothing echoed back
        if response.status_code == 201:
            stored = world.services.store.get_evaluation(response.json()["eval_id"]).spec
            assert len(stored.model_dump_json()) < 1_000_000
    assert seen.get(422, 0) > CASES // 3 and seen.get(201, 0) > 0, seen
