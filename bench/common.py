"""Helpers both benchmarks use: ports, timestamps, files, the code version, the service process,
leftover processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

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


class Service:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "BUDEVAL_HOME": str(self.home),
            "BUDEVAL_PORT": str(self.port),
            "BUDEVAL_LOG_LEVEL": "WARNING",
            **self.env,
        }
        log = (self.home / "service.log").open("ab")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "budeval", "serve"], cwd=REPO, env=env, stdout=log, stderr=log
        )
        deadline = started + 90
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while True:
                if self.process.poll() is not None:
                    tail = (self.home / "service.log").read_text()[-3000:]
                    raise SystemExit(f"service exited during start-up:\n{tail}")
                with contextlib.suppress(httpx.TransportError):
                    if http.get("/readyz").status_code == 200:
                        return time.monotonic() - started
                if time.monotonic() > deadline:
                    raise SystemExit("service not ready after 90 s")
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        kill_run_processes(self.home)
