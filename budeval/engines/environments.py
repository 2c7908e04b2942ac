"""Engine environments for local mode: one virtualenv per engine under `$BUDEVAL_HOME/engines`.

Engines are never imported by the service: each runs with its own interpreter and pinned packages,
installed once by `budeval engines install NAME` and reused by every run. A recipe is a list of
pip phases (order matters: OpenCompass needs the CPU torch wheel before anything can pull CUDA),
and an optional post-install step run with the environment's own interpreter. A marker file with
the recipe's hash makes installs idempotent and tells a changed recipe from an installed one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from budeval.errors import BackendError

MARKER = "budeval-environment.json"


class Recipe(BaseModel, frozen=True):
    name: str
    phases: list[list[str]]
    """`pip install` arguments, one list per phase."""
    post_install: list[str] = Field(default_factory=list)
    """argv run with the environment's python after pip (`{env}` becomes the env dir)."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def directory(engines: Path, name: str) -> Path:
    return engines / name


def python(engines: Path, name: str) -> Path:
    return directory(engines, name) / "bin" / "python"


def installed(engines: Path, recipe: Recipe) -> bool:
    """`engines` is the engines dir (`Settings.engines_path`)."""
    try:
        marker = json.loads((directory(engines, recipe.name) / MARKER).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return bool(marker.get("digest") == recipe.digest and python(engines, recipe.name).exists())


def install(
    engines: Path, recipe: Recipe, *, say: Callable[[str], None] = print, force: bool = False
) -> Path:
    """Create (or reuse) the environment; its interpreter. Raises BackendError on failure."""
    target = directory(engines, recipe.name)
    if installed(engines, recipe) and not force:
        say(f"{recipe.name}: already installed in {target}")
        return python(engines, recipe.name)
    if target.exists():
        shutil.rmtree(target)
    started = time.monotonic()
    _run([sys.executable, "-m", "venv", str(target)], say, f"create {target}")
    interpreter = python(engines, recipe.name)
    _run([str(interpreter), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], say, "pip")
    for phase in recipe.phases:
        _run([str(interpreter), "-m", "pip", "install", "--quiet", *phase], say, " ".join(phase))
    if recipe.post_install:
        argv = [part.replace("{env}", str(target)) for part in recipe.post_install]
        _run([str(interpreter), *argv], say, "post-install")
    marker = {"digest": recipe.digest, "recipe": recipe.model_dump(), "installed_at": time.time()}
    (target / MARKER).write_text(json.dumps(marker, indent=2))
    say(f"{recipe.name}: installed in {time.monotonic() - started:.0f} s ({target})")
    return interpreter


def _run(argv: list[str], say: Callable[[str], None], what: str) -> None:
    say(f"  {what}")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackendError(
            f"installing failed at '{what}': {done.stderr.strip()[-2000:]}",
            reason="EngineInstallFailed",
        )
