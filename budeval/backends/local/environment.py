"""How a run spec becomes a local process: argv, working directory and environment.

Container paths in the spec (`/data`, `/output`, `/datasets`) are mapped to directories under the
data dir; `python` becomes the interpreter of the engine's environment. The environment is built
from scratch (nothing of the service's own environment leaks in, such as its API tokens), and
the API key enters only here, from the secret store, at the moment of launch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import budeval
from budeval.backends.base import DATA_MOUNT, DATASETS_MOUNT, OUTPUT_MOUNT, RUNNERS_MOUNT, RunSpec
from budeval.backends.local.rundir import RunDir
from budeval.config import Settings
from budeval.errors import BackendError, NotFound
from budeval.secrets import LocalSecretStore

OFFLINE_SWITCHES = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


RUNNERS = Path(budeval.__file__).parent / "runners"
"""The engines' in-run wrappers, at RUNNERS_MOUNT in an image."""


def mounts(run: RunDir, settings: Settings) -> dict[str, Path]:
    return {
        DATA_MOUNT: run.data,
        OUTPUT_MOUNT: run.output,
        DATASETS_MOUNT: settings.datasets_dir,
        RUNNERS_MOUNT: RUNNERS,
    }


def map_paths(value: Any, table: dict[str, Path]) -> Any:
    """Rewrite container paths inside strings, lists and dicts to their local directories."""
    if isinstance(value, str):
        for mount, local in table.items():
            if value == mount or value.startswith(mount + "/"):
                return str(local) + value[len(mount) :]
        return value
    if isinstance(value, list):
        return [map_paths(item, table) for item in value]
    if isinstance(value, dict):
        return {key: map_paths(item, table) for key, item in value.items()}
    return value


def interpreter(environment: str, settings: Settings) -> str:
    if environment == "service":
        return sys.executable
    python = settings.engines_path / environment / "bin" / "python"
    if not python.exists():
        raise BackendError(
            f"engine environment {environment!r} is not installed "
            f"(run: budeval engines install {environment})",
            reason="EngineNotInstalled",
        )
    return str(python)


def launch_document(
    spec: RunSpec, run: RunDir, settings: Settings, env: dict[str, str]
) -> dict[str, Any]:
    """What the supervisor needs: argv (absolute program), grace period, every path it writes."""
    argv = map_paths(list(spec.command), mounts(run, settings))
    if argv and argv[0] == "python":
        argv[0] = interpreter(spec.environment, settings)
    elif argv and not os.path.isabs(argv[0]):
        program = shutil.which(argv[0], path=env.get("PATH"))
        if program is None:
            raise BackendError(f"program {argv[0]!r} not found", reason="EngineNotInstalled")
        argv[0] = program
    files = {
        "supervisor": run.supervisor,
        "engine": run.engine,
        "exit": run.exit,
        "cancel": run.cancel_marker,
        "log": run.log,
    }
    return {
        "argv": argv,
        "grace_seconds": settings.cancel_grace_seconds,
        "files": {name: str(path) for name, path in files.items()},
    }


def process_environment(
    spec: RunSpec, run: RunDir, settings: Settings, secrets: LocalSecretStore
) -> dict[str, str]:
    table = mounts(run, settings)
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env.update(OFFLINE_SWITCHES)
    env.update(
        {
            "HOME": str(run.path),
            "PYTHONUNBUFFERED": "1",
            "DATA_DIR": str(run.data),
            "OUTPUT_DIR": str(run.output),
            "DATASETS_DIR": str(settings.datasets_dir),
            "TERMINATION_LOG": str(run.termination_log),
            "ENGINE_ARGS": json.dumps(map_paths(spec.engine_args, table)),
        }
    )
    env.update(map_paths(dict(spec.env), table))
    for name, ref in spec.secret_env.items():
        try:
            env[name] = secrets.get(ref.name)[ref.key]
        except (NotFound, KeyError):
            raise BackendError(
                f"secret {ref.name!r} (key {ref.key!r}) needed by {name} is missing",
                reason="SecretMissing",
            ) from None
    return env
