"""Helpers both benchmarks use: ports, timestamps, files, the code version, leftover processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def code_version() -> dict[str, Any]:
    """The commit measured, and which files of the service differ from it (shared checkout)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "budeval", "pyproject.toml").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "uncommitted": changed}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def iso_to_epoch(value: str | None) -> float | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def kill_run_processes(home: Path) -> None:
    """Supervisors live in their own sessions by design: kill what the service left behind."""
    for record in (home / "runs").glob("*/engine.json"):
        with contextlib.suppress(ProcessLookupError, ValueError, OSError, KeyError, TypeError):
            os.killpg(int(json.loads(record.read_text())["pgid"]), signal.SIGKILL)
    for record in (home / "runs").glob("*/supervisor.json"):
        with contextlib.suppress(ProcessLookupError, ValueError, OSError, KeyError, TypeError):
            os.kill(int(json.loads(record.read_text())["pid"]), signal.SIGKILL)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):
        return None
