"""Shared fixtures for the real-engine tests: where engine environments live, and installing one.

Engine environments are big (lm-eval ≈0.8 GB, OpenCompass ≈2 GB) and slow to build, so they are
installed once into `BUDEVAL_TEST_ENGINES_DIR` (default `~/.cache/budeval/test-engines`) and
reused by later sessions; the recipe digest in each environment's marker file tells a stale one
from a current one, so a changed recipe reinstalls. Services under test get
`BUDEVAL_ENGINES_DIR` pointing there. Generic: nothing here knows a particular engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from budeval.engines import environments
from budeval.engines.environments import Recipe

ENGINES_DIR_ENV = "BUDEVAL_TEST_ENGINES_DIR"


@pytest.fixture(scope="session")
def engines_dir() -> Path:
    """Where the tests' engine environments live (shared across sessions unless CI says not)."""
    configured = os.environ.get(ENGINES_DIR_ENV)
    path = Path(configured) if configured else Path("~/.cache/budeval/test-engines").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def install_engine(engines_dir: Path) -> Callable[[Recipe], Path]:
    """`install_engine(recipe)` → the environment's python; installs at most once per session
    (and not at all when a current install exists). Prints how long an install took."""
    done: dict[str, Path] = {}

    def install(recipe: Recipe) -> Path:
        if recipe.name not in done:
            started = time.monotonic()
            fresh = not environments.installed(engines_dir, recipe)
            done[recipe.name] = environments.install(engines_dir, recipe, say=lambda _: None)
            if fresh:
                print(f"\n[{recipe.name}] installed in {time.monotonic() - started:.0f} s")
        return done[recipe.name]

    return install


@pytest.fixture(scope="session")
def engine_service_env(engines_dir: Path) -> dict[str, str]:
    """Extra environment for `tests.service.Service` so its runs find the installed engines."""
    return {"BUDEVAL_ENGINES_DIR": str(engines_dir)}
