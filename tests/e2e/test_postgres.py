"""The service on PostgreSQL (store and DBOS checkpoints), including a kill -9 restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.postgres import postgres_database
from tests.service import Service, smoke_request, wait_for

pytestmark = pytest.mark.postgres


def test_evaluation_and_restart_on_postgres(postgres_server_url: str, tmp_path: Path) -> None:
    with (
        postgres_database(postgres_server_url) as store_url,
        postgres_database(postgres_server_url) as system_url,
    ):
        env = {"BUDEVAL_DATABASE_URL": store_url, "BUDEVAL_SYSTEM_DATABASE_URL": system_url}
        service = Service(tmp_path / "home", env=env).start()
        try:
            body = smoke_request("pg-1", ["smoke-a", "smoke-b"], duration_seconds=3)
            assert service.start_eval(body).status_code == 201
            running = service.wait_run_status("pg-1", "running")
            run_ids = [run["run_id"] for run in running["runs"]]
            wait_for(lambda: all(service.launches(r) for r in run_ids), 10, "engines started")
            service.kill9()
            service.start()
            assert service.wait_terminal("pg-1", timeout=60)["status"] == "succeeded"
            assert [len(service.launches(r)) for r in run_ids] == [1, 1]
        finally:
            service.stop()
        engine = create_engine(store_url)
        with engine.connect() as db:
            scores = db.execute(text("select count(*) from scores")).scalar_one()
            events = db.execute(
                text("select count(*) from events where eval_id='pg-1'")
            ).scalar_one()
        engine.dispose()
        # created, running, 2 runs x (scheduled, running, succeeded), succeeded
        assert scores == 2 and events >= 7
        assert not list((tmp_path / "home").glob("*.sqlite"))  # nothing fell back to SQLite
