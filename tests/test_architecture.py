"""The layering rule of the README's architecture section, checked on the source.

    api ─▶ workflow ─▶ engines, backends, store, notify, secrets ─▶ spec/status/ids/errors/config
A layer never imports one above it; backends and engines know nothing of the store or DBOS, and
only `workflow/` touches DBOS.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import budeval

ROOT = Path(budeval.__file__).parent

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "store": ("budeval.api", "budeval.workflow", "budeval.backends", "budeval.engines", "dbos"),
    "engines": ("budeval.api", "budeval.workflow", "budeval.store", "dbos", "fastapi"),
    "backends": ("budeval.api", "budeval.workflow", "budeval.store", "budeval.engines", "dbos"),
    "secrets": ("budeval.api", "budeval.workflow", "budeval.store", "dbos"),
    "results": ("budeval.api", "budeval.workflow", "budeval.store", "dbos"),
    "events": ("budeval.api", "budeval.workflow", "budeval.store", "dbos"),
    "notify": ("budeval.api", "budeval.workflow", "dbos"),
    "workflow": ("budeval.api", "budeval.cli", "fastapi"),
    "api": ("budeval.cli",),
}
BOTTOM = ("errors.py", "status.py", "ids.py", "config.py", "spec.py")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_do_not_import_upwards(package: str) -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(package)
        for name in imports_of(path)
        if name.startswith(FORBIDDEN[package])
    ]
    assert offences == []


def test_bottom_modules_import_nothing_of_the_layers() -> None:
    for filename in BOTTOM:
        for name in imports_of(ROOT / filename):
            assert not name.startswith(
                (
                    "budeval.api",
                    "budeval.workflow",
                    "budeval.store",
                    "budeval.backends",
                    "budeval.engines",
                    "dbos",
                )
            ), filename


def test_processes_started_by_runs_import_only_the_standard_library() -> None:
    """Supervisor and smoke program start in milliseconds: standard library only."""
    for path in (ROOT / "backends/local/supervisor.py", ROOT / "engines/smoke_program.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"{path.name}: {name}"


ENGINE_PACKAGES = {"lm_eval", "opencompass", "mmengine"}


def test_runners_are_standalone() -> None:
    """Runners execute inside the engine's environment, where budeval is not installed."""
    siblings = {path.stem for path in (ROOT / "runners").glob("*.py")}  # run as scripts
    for path in (ROOT / "runners").glob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            allowed = sys.stdlib_module_names | ENGINE_PACKAGES | siblings | {"__future__"}
            sibling = name.startswith("budeval.runners")  # the same siblings, imported by tests
            assert top in allowed or sibling, f"{path.name} imports {name}"


def test_public_surface() -> None:
    assert sorted(budeval.__all__) == [
        "BudevalError",
        "PermanentError",
        "TransientError",
        "__version__",
    ]
    for name in budeval.__all__:
        assert hasattr(budeval, name)


def test_modules_stay_small() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in ROOT.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 300
    }
    assert too_long == {}


CONFINED = {"lightkube": "backends/kubernetes", "httpx2": "backends/kubernetes", "dbos": "workflow"}


@pytest.mark.parametrize("client", sorted(CONFINED))
def test_third_party_clients_stay_in_their_adapter(client: str) -> None:
    """The Kubernetes client lives only in the Kubernetes backend; DBOS only in workflow/."""
    home = ROOT / CONFINED[client]
    offences = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if home not in path.parents
        and any(name.split(".")[0] == client for name in imports_of(path))
    ]
    assert offences == []
