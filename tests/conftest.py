from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# PostgreSQL fixtures, shared by the store tests and the end-to-end tests on PostgreSQL.
from tests.postgres import fresh_postgres_url as fresh_postgres_url
from tests.postgres import postgres_module_url as postgres_module_url
from tests.postgres import postgres_server_url as postgres_server_url
from tests.service import Service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service per test module (start-up costs a second or two)."""
    running = Service(tmp_path_factory.mktemp("budeval-home")).start()
    yield running
    running.stop()


@pytest.fixture
def fresh_service(tmp_path: Path) -> Iterator[Service]:
    """A service of its own, for tests that kill or inspect everything it wrote."""
    running = Service(tmp_path / "home")
    yield running
    running.stop()
