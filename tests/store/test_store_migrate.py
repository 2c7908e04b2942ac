"""Migrations: idempotent, concurrent-safe, and producing exactly the models' schema."""

from __future__ import annotations

import subprocess
import sys

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from budeval.store import migrate, open_store
from budeval.store.db import create_db_engine
from budeval.store.models import Base

TABLES = {"evaluations", "runs", "scores", "predictions", "events", "identifiers"}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_db_engine(url)
    try:
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(empty_url: str):
    assert _revision(empty_url) is None
    migrate.upgrade(empty_url)
    migrate.upgrade(empty_url)
    assert _revision(empty_url) == migrate.head() == "0002"
    assert _tables(empty_url) == TABLES | {migrate.VERSION_TABLE}


def test_upgrade_keeps_rows(empty_url: str, make_spec, names_for):
    with open_store(empty_url) as store:
        spec = make_spec("e1")
        store.create_evaluation(spec, "fp", names_for(spec))
    with open_store(empty_url) as store:
        assert store.get_evaluation("e1").spec == spec


def test_migrated_schema_matches_the_models(empty_url: str):
    migrate.upgrade(empty_url)
    engine = create_db_engine(empty_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": migrate.VERSION_TABLE}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(empty_url: str):
    migrate.upgrade(empty_url)
    engine = create_db_engine(empty_url)
    config = migrate.alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
    finally:
        engine.dispose()
    assert _tables(empty_url) & TABLES == set()
    migrate.upgrade(empty_url)
    assert _tables(empty_url) >= TABLES


def test_concurrent_start_ups_all_succeed(empty_url: str):
    # Each process imports first, says so, then waits for "go": the upgrades really overlap.
    code = (
        "import sys; from budeval.store import migrate; "
        "print('ready', flush=True); sys.stdin.readline(); migrate.upgrade(sys.argv[1])"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, empty_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    assert [p.stdout.readline().strip() for p in processes] == ["ready"] * 6
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    failures = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, failures
    assert _revision(empty_url) == migrate.head()


def test_0002_copies_existing_ids_and_a_legacy_collision_resolves_to_the_evaluation(
    empty_url: str, make_spec, names_for
):
    """Rows written by 0001 (where a run id could equal another evaluation's id) get identifiers."""
    engine = create_db_engine(empty_url)
    config = migrate.alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
    finally:
        engine.dispose()
    first = make_spec("e1", [("gsm8k", "e2")])
    with open_store(empty_url) as store:  # writes at head; then go back to 0001's state
        store.create_evaluation(first, "fp", names_for(first))
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
            connection.execute(  # what 0001 allowed: evaluation e2 beside e1's run e2
                text(
                    "INSERT INTO evaluations (id, fingerprint, model_name, endpoint, engine, "
                    "backend, status, spec, cancel_requested, created_at, updated_at) "
                    "SELECT 'e2', fingerprint, model_name, endpoint, engine, backend, status, "
                    "spec, cancel_requested, created_at, updated_at FROM evaluations"
                )
            )
    finally:
        engine.dispose()
    with open_store(empty_url) as store:
        assert store.resolve("e1")[1] is None
        evaluation, run = store.resolve("e2")
        assert (evaluation.id, run) == ("e2", None)  # the evaluation wins, deterministically
        assert store.resolve(names_for(first)["e2"])[1].id == "e2"  # the run by its job name
