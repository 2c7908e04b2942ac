"""`budeval demo`: a throw-away service on embedded defaults evaluating the demo endpoint.

It exercises the real path — HTTP API, durable workflow, local processes, a real engine, parsing,
store — against the demo endpoint (not a model), on generated datasets, with no network: the
engine's environment is installed once (`budeval engines install`) into the user's engines dir
and reused. lm-evaluation-harness is the default because it installs in about a minute and runs in
seconds; OpenCompass (the seeds' engine, ~2 GB and ~30 s per dataset) is `--engine opencompass`;
`--engine smoke` needs nothing installed. What to show while it runs is the caller's (`follow`):
this module knows nothing of the CLI that calls it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from budeval.client import Client
from budeval.config import Settings
from budeval.demo.endpoint import DemoEndpoint
from budeval.engines import environments
from budeval.engines.registry import default_registry

DEMO_KEY = "sk-demo-not-a-real-key"
DEMO_ACCURACY = 0.75
Follow = Callable[[Client, str], str]
"""Watch evaluation `eval_id` until it ends (showing what it likes); its final status."""
DATASETS = {"lmeval": ["demo_arith", "demo_mcq"], "opencompass": ["demo_arith", "demo_mcq"]}


def demo_request(engine: str, endpoint: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eval_id": f"demo-{engine}-{int(time.time())}",
        "experiment_id": "demo",
        "eval_model_info": {"model_name": "demo-model", "endpoint": endpoint, "api_key": DEMO_KEY},
        "engine": engine,
    }
    if engine == "smoke":
        body["eval_datasets"] = [{"dataset_id": "smoke-arithmetic"}, {"dataset_id": "smoke-trivia"}]
        body["eval_configs"] = [
            {
                "config_name": "smoke",
                "config_value": {
                    "duration_seconds": 2,
                    "score": 42.0,
                    "per_dataset": {"smoke-trivia": {"score": 87.5}},
                },
            }
        ]
    else:
        body["eval_datasets"] = [{"dataset_id": name} for name in DATASETS[engine]]
    return body


def run_demo(console: Console, *, home: str | None, port: int, engine: str, follow: Follow) -> int:
    engines_dir = Settings().engines_path
    recipe = default_registry().get(engine).recipe
    if recipe is not None and not environments.installed(engines_dir, recipe):
        console.print(f"installing the {engine} engine into {engines_dir} (once) …")
        environments.install(engines_dir, recipe, say=console.print)
    data_dir = Path(home or tempfile.mkdtemp(prefix="budeval-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "BUDEVAL_HOME": str(data_dir),
        "BUDEVAL_PORT": str(port),
        "BUDEVAL_LOG_LEVEL": "WARNING",
        "BUDEVAL_ENGINES_DIR": str(engines_dir),
    }
    env.pop("BUDEVAL_HOST", None)
    console.print(f"starting budeval on 127.0.0.1:{port} (data dir {data_dir})")
    with (
        (data_dir / "service.log").open("ab") as log,
        DemoEndpoint(accuracy=DEMO_ACCURACY, api_key=DEMO_KEY) as endpoint,
    ):
        console.print(f"demo endpoint (not a model, {DEMO_ACCURACY:.0%} right) at {endpoint.url}")
        server = subprocess.Popen(
            [sys.executable, "-m", "budeval", "serve"], env=env, stdout=log, stderr=log
        )
        try:
            client = Client(f"http://127.0.0.1:{port}")
            if not _ready(console, client, server, data_dir):
                return 1
            evaluation = client.start(demo_request(engine, endpoint.url))
            console.print(f"evaluation {evaluation['eval_id']} started with engine {engine}")
            return 0 if follow(client, evaluation["eval_id"]) == "succeeded" else 2
        finally:
            server.terminate()
            server.wait(timeout=30)


def _ready(
    console: Console, client: Client, server: subprocess.Popen[bytes], data_dir: Path
) -> bool:
    deadline = time.monotonic() + 60
    while not client.ready():
        if server.poll() is not None or time.monotonic() > deadline:
            console.print(f"[red]the service did not start; see {data_dir / 'service.log'}")
            return False
        time.sleep(0.2)  # a client waiting for a process to come up: nothing to await
    return True
