"""The README's demo command with its default real engine (lm-eval), as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from budeval.engines.environments import Recipe
from budeval.engines.lmeval import LmEvalEngine
from tests.service import free_port


def test_demo_evaluates_the_demo_endpoint_with_lmeval(
    tmp_path: Path, install_engine: Callable[[Recipe], Path], engines_dir: Path
) -> None:
    assert LmEvalEngine.recipe is not None
    install_engine(LmEvalEngine.recipe)
    env = {**os.environ, "BUDEVAL_ENGINES_DIR": str(engines_dir), "COLUMNS": "200"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "budeval",
            "demo",
            "--home",
            str(tmp_path / "demo"),
            "--port",
            str(free_port()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo endpoint (not a model, 75% right)" in done.stdout
    rows = [line for line in done.stdout.splitlines() if "lmeval 0.4.13" in line]
    assert len(rows) == 3 and all("0.75" in row and "20" in row for row in rows), rows
