"""Make the service believe an engine's environment is installed, without installing it.

Submit refuses engines that are not installed (422), and most end-to-end tests of the endpoint
pre-flight use lm-eval or OpenCompass without needing the engine itself: the evaluation fails
before any run starts. The marker (with the recipe's digest) and an interpreter are what
`environments.installed` looks for; a run that did start would fail importing the engine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from budeval.engines import environments
from budeval.engines.registry import default_registry


def pretend_installed(
    engines_dir: Path, names: tuple[str, ...] = ("lmeval", "opencompass")
) -> None:
    for name in names:
        recipe = default_registry().get(name).recipe
        assert recipe is not None
        target = environments.directory(engines_dir, recipe.name)
        (target / "bin").mkdir(parents=True, exist_ok=True)
        python = environments.python(engines_dir, recipe.name)
        if not python.exists():
            python.symlink_to(sys.executable)
        marker = {"digest": recipe.digest, "pretend": True}
        (target / environments.MARKER).write_text(json.dumps(marker))
