from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
