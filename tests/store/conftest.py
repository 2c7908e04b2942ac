"""Fixtures for the store tests: a migrated, empty store on SQLite and on a real PostgreSQL.

PostgreSQL comes from `BUDEVAL_TEST_POSTGRES_URL` (a role allowed to CREATE DATABASE; CI sets it)
or, when unset, from a throwaway server started here for the session with the `initdb`/`pg_ctl`
found under /usr/lib/postgresql/*/bin or on PATH; without either, PostgreSQL cases are skipped.
Every test module gets its own database `budeval_test_<hex>`, dropped afterwards.

The section "PostgreSQL server" is self-contained so that it can move to tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from budeval.spec import EvaluationSpec
from budeval.store import Store, open_store
from tests.postgres import postgres_database as postgres_database

# --- store fixtures ----------------------------------------------------------------------------

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TABLES = ("identifiers", "events", "predictions", "scores", "runs", "evaluations")


@pytest.fixture(params=DATABASES)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database never migrated: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture(params=DATABASES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with no rows (the module's PostgreSQL database, emptied)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
        open_store(url).close()
        return url
    url = request.getfixturevalue("postgres_module_url")
    open_store(url).close()
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened


@pytest.fixture
def count_rows(store_url: str) -> Iterator[Callable[..., int]]:
    """count_rows(table, **equal) → number of rows, read straight from the database."""
    engine = create_engine(store_url)

    def count(table: str, **equal: object) -> int:
        where = " AND ".join(f"{column} = :{column}" for column in equal) or "1 = 1"
        with engine.connect() as connection:
            return connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE {where}"), equal
            ).scalar_one()

    yield count
    engine.dispose()


@pytest.fixture
def make_spec() -> Callable[..., EvaluationSpec]:
    """make_spec("e1", runs=[("gsm8k", "r1")], model_name=…, experiment_id=…, engine=…)."""

    def make(
        eval_id: str,
        runs: list[tuple[str, str]] | None = None,
        *,
        model_name: str = "model-a",
        experiment_id: str | None = None,
        engine: str = "smoke",
    ) -> EvaluationSpec:
        runs = runs if runs is not None else [("gsm8k", f"{eval_id}-r1"), ("mmlu", f"{eval_id}-r2")]
        return EvaluationSpec(
            eval_id=eval_id,
            experiment_id=experiment_id,
            model={"model_name": model_name, "endpoint": "http://127.0.0.1:9/v1"},
            datasets=[{"dataset_id": dataset, "run_id": run_id} for dataset, run_id in runs],
            engine=engine,
            secret_name=f"{eval_id}-key",
        )

    return make


def _names_for(spec: EvaluationSpec) -> dict[str, str]:
    return {entry.run_id: f"job-{entry.run_id.lower()}" for entry in spec.datasets}


@pytest.fixture
def names_for() -> Callable[[EvaluationSpec], dict[str, str]]:
    """names_for(spec) → {run_id: DNS name} as the API would derive them."""
    return _names_for


@pytest.fixture
def create(
    store: Store, make_spec: Callable[..., EvaluationSpec]
) -> Callable[..., tuple[object, bool]]:
    """create("e1", …make_spec args) → store.create_evaluation(spec, "fp-e1", names)."""

    def make(eval_id: str, *args: object, fingerprint: str | None = None, **kwargs: object):
        spec = make_spec(eval_id, *args, **kwargs)
        return store.create_evaluation(spec, fingerprint or f"fp-{eval_id}", _names_for(spec))

    return make
