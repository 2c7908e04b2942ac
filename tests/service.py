"""A real budeval service process for end-to-end tests: start, wait ready, kill -9, restart.

Tests drive it over HTTP like any client. Teardown kills whatever run processes the service left
(supervisors live in their own sessions by design, so they would outlive the test).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled", "timed_out"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Service:
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.log_path = home / "service.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    def start(self) -> Service:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "BUDEVAL_HOME": str(self.home),
            "BUDEVAL_PORT": str(self.port),
            "BUDEVAL_LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "budeval", "serve"], env=env, stdout=log, stderr=log
        )
        wait_for(self._ready, 60, "the service to be ready")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"service exited: {self.log_path.read_text()[-3000:]}")
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.http.close()
        kill_run_processes(self.home)

    # -- helpers over the API ---------------------------------------------------------------
    def start_eval(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/evals/start", json=body)

    def show(self, eval_id: str) -> dict[str, Any]:
        response = self.http.get(f"/evals/{eval_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_terminal(self, eval_id: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (e := self.show(eval_id))["status"] in TERMINAL and e, timeout, "terminal"
        )

    def wait_run_status(self, eval_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (
                (e := self.show(eval_id)) and all(r["status"] == status for r in e["runs"]) and e
            ),
            timeout,
            f"runs {status}",
        )

    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def launches(self, run_id: str) -> list[str]:
        path = self.run_dir(run_id) / "output" / "launches.log"
        return path.read_text().split() if path.exists() else []


def kill_run_processes(home: Path) -> None:
    for record in (home / "runs").glob("*/engine.json"):
        with contextlib.suppress(ProcessLookupError, ValueError, OSError):
            os.killpg(int(json.loads(record.read_text())["pgid"]), signal.SIGKILL)
    for record in (home / "runs").glob("*/supervisor.json"):
        with contextlib.suppress(ProcessLookupError, ValueError, OSError):
            os.kill(int(json.loads(record.read_text())["pid"]), signal.SIGKILL)


def smoke_request(eval_id: str, datasets: list[str] | None = None, **config: Any) -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "experiment_id": "tests",
        "eval_model_info": {
            "model_name": "test-model",
            "endpoint": "http://127.0.0.1:9/v1",
            "api_key": "sk-test-key",
        },
        "eval_datasets": [{"dataset_id": name} for name in (datasets or ["smoke"])],
        "eval_configs": [
            {"config_name": "smoke", "config_value": {"duration_seconds": 0.2, **config}}
        ],
        "engine": "smoke",
    }
