"""The demo: a throwaway service on embedded defaults (SQLite, local backend), one evaluation.

It exercises the real path — HTTP API, durable workflow, local processes, parsing, store — with
the smoke engine, so it needs no model and no network. Real engines come with their own issue.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from budeval.cli import scores_table, watch_until_done
from budeval.client import Client

DEMO_REQUEST = {
    "eval_id": "demo-smoke",
    "experiment_id": "demo",
    "eval_model_info": {
        "model_name": "demo-model",
        "endpoint": "http://127.0.0.1:9/v1",
        "api_key": "sk-demo-not-a-real-key",
    },
    "eval_datasets": [{"dataset_id": "smoke-arithmetic"}, {"dataset_id": "smoke-trivia"}],
    "eval_configs": [
        {
            "config_name": "smoke",
            "config_value": {
                "duration_seconds": 2,
                "score": 42.0,
                "per_dataset": {"smoke-trivia": {"score": 87.5, "n_samples": 40}},
            },
        }
    ],
    "engine": "smoke",
}


def run_demo(console: Console, *, home: str | None, port: int) -> int:
    data_dir = Path(home or tempfile.mkdtemp(prefix="budeval-demo-"))
    env = {
        **os.environ,
        "BUDEVAL_HOME": str(data_dir),
        "BUDEVAL_PORT": str(port),
        "BUDEVAL_LOG_LEVEL": "WARNING",
    }
    env.pop("BUDEVAL_HOST", None)
    console.print(f"starting budeval on 127.0.0.1:{port} (data dir {data_dir})")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "service.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "budeval", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        client = Client(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while not client.ready():
            if server.poll() is not None or time.monotonic() > deadline:
                console.print(f"[red]the service did not start; see {data_dir / 'service.log'}")
                return 1
            time.sleep(0.2)
        evaluation = client.start(DEMO_REQUEST)
        console.print(f"evaluation {evaluation['eval_id']} started")
        evaluation = watch_until_done(client, evaluation["eval_id"])
        console.print(scores_table(client.results(evaluation["eval_id"])))
        return 0 if evaluation["status"] == "succeeded" else 2
    finally:
        server.terminate()
        server.wait(timeout=30)
