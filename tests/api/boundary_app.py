"""For the boundary tests: an in-process app over a real store, real engines and secret store and
the fake backend (registered as `local`), without DBOS: for requests refused before a workflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from budeval.api.limits import BodyLimit
from budeval.api.problems import install_handlers
from budeval.api.routes import evals
from budeval.config import Settings
from budeval.workflow.services import Services
from tests.fakes import fake_services


class World:
    def __init__(self, home: Path, **settings: object) -> None:
        services, backend = fake_services(Settings(home=home, **settings))  # type: ignore[arg-type]
        services.backends = {"local": backend}  # type: ignore[dict-item]
        self.services: Services = services
        app = FastAPI()
        app.add_middleware(BodyLimit)
        install_handlers(app)
        app.include_router(evals.router)
        app.state.services = services
        self.client = TestClient(app)

    def nothing_created(self) -> bool:
        _, total = self.services.store.list_evaluations()
        return total == 0 and list(self.services.settings.secrets_dir.iterdir()) == []


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path / "home")
    with made.client:
        yield made
    made.services.store.close()
