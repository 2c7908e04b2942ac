"""The CLI as a user runs it: the README's demo command, and `budeval eval …` against a service."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import budeval
from tests.service import Service, free_port
from tests.test_architecture import imports_of

PACKAGE = Path(budeval.__file__).parent


def budeval(
    *args: str, server: Service | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "200", **env}
    if server is not None:
        environment["BUDEVAL_SERVER"] = server.url
    return subprocess.run(
        [sys.executable, "-m", "budeval", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_command_prints_scores(tmp_path: Path) -> None:
    done = budeval(
        "demo", "--engine", "smoke", "--home", str(tmp_path / "demo"), "--port", str(free_port())
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    assert "smoke-arithmetic" in done.stdout and "87.5" in done.stdout


def test_eval_commands_round_trip(service: Service) -> None:
    started = budeval(
        "eval",
        "start",
        "--model",
        "m",
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--dataset",
        "smoke-cli",
        "--engine",
        "smoke",
        "--config",
        'smoke={"duration_seconds": 0.2, "score": 9.5}',
        "--eval-id",
        "cli-1",
        server=service,
        BUDEVAL_MODEL_API_KEY="sk-cli",
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "cli-1"
    watched = budeval("eval", "watch", "cli-1", server=service)
    assert watched.returncode == 0, watched.stdout
    assert "9.5" in watched.stdout
    assert "cli-1" in budeval("eval", "list", server=service).stdout
    assert "succeeded" in budeval("eval", "show", "cli-1", server=service).stdout
    assert "smoke-cli" in budeval("eval", "results", "cli-1", server=service).stdout
    refused = budeval("eval", "cancel", "cli-1", server=service)
    assert refused.returncode == 1 and "409" in refused.stdout
    assert '"eval_id": "cli-1"' in budeval("eval", "cleanup", "cli-1", server=service).stdout


def test_cli_reports_validation_errors_by_field(service: Service) -> None:
    done = budeval(
        "eval",
        "start",
        "--model",
        "m",
        "--endpoint",
        "ftp://x",
        "--dataset",
        "smoke",
        "--engine",
        "smoke",
        server=service,
        BUDEVAL_MODEL_API_KEY="sk-cli",
    )
    assert done.returncode == 1
    assert "422" in done.stdout and "endpoint" in done.stdout


def test_serve_refuses_an_open_bind_without_tokens(tmp_path: Path) -> None:
    done = budeval("serve", "--host", "0.0.0.0", BUDEVAL_HOME=str(tmp_path))
    assert done.returncode != 0
    assert "BUDEVAL_API_TOKENS" in done.stderr


def test_engines_list_and_install_of_a_built_in(tmp_path: Path) -> None:
    listed = budeval("engines", "list", BUDEVAL_ENGINES_DIR=str(tmp_path / "none"))
    assert listed.returncode == 0
    assert "opencompass" in listed.stdout and "not installed" in listed.stdout
    built_in = budeval("engines", "install", "smoke")
    assert built_in.returncode == 0 and "nothing to install" in built_in.stdout
    unknown = budeval("engines", "install", "nope")
    assert unknown.returncode == 1 and "unknown engine" in unknown.stdout


def test_cli_is_a_package_and_demo_does_not_import_it() -> None:
    """`budeval.cli` imports `budeval.demo.run` for `budeval demo`; the other way would be a
    cycle. The console script stays `budeval.cli:main`."""
    assert (PACKAGE / "cli" / "__init__.py").is_file()
    assert not [path for path in PACKAGE.glob("cli*.py") if path.name != "client.py"]
    offences = [
        f"{path.name} imports {name}"
        for path in sorted((PACKAGE / "demo").glob("*.py"))
        for name in imports_of(path)
        if name == "budeval.cli" or name.startswith("budeval.cli.")
    ]
    assert offences == []
    from budeval.cli import main

    assert callable(main)


def test_eval_predictions_table_json_and_filters(service: Service) -> None:
    body = {
        "eval_id": "cli-pred",
        "eval_model_info": {"model_name": "m", "endpoint": "http://127.0.0.1:9/v1", "api_key": "k"},
        "eval_datasets": [{"dataset_id": "smoke-pred"}],
        "eval_configs": [{"config_name": "smoke", "config_value": {"duration_seconds": 0.1}}],
        "engine": "smoke",
    }
    assert service.start_eval(body).status_code == 201
    [run] = service.wait_terminal("cli-pred")["runs"]
    with sqlite3.connect(service.home / "budeval.sqlite") as db:  # the smoke engine has none
        db.executemany(
            "INSERT INTO predictions (run_id, eval_id, idx, prompt, prediction, gold, correct) "
            "VALUES (?, 'cli-pred', ?, ?, ?, ?, ?)",
            [(run["run_id"], i, f"q{i}", f"answer-{i}", f"gold-{i}", i != 1) for i in range(3)],
        )
    table = budeval("eval", "predictions", "cli-pred", server=service)
    assert table.returncode == 0, table.stdout + table.stderr
    assert all(f"answer-{i}" in table.stdout and f"gold-{i}" in table.stdout for i in range(3))
    assert "3 predictions" in table.stdout and "smoke-pred" in table.stdout
    wrong = budeval("eval", "predictions", "cli-pred", "--wrong", "--json", server=service)
    document = json.loads(wrong.stdout)
    assert document["total"] == 1 and document["items"][0]["gold"] == "gold-1"
    paged = budeval(
        "eval",
        "predictions",
        "cli-pred",
        "--limit",
        "1",
        "--offset",
        "2",
        "--json",
        "--dataset",
        "smoke-pred",
        "--run-id",
        run["run_id"],
        server=service,
    )
    assert [item["index"] for item in json.loads(paged.stdout)["items"]] == [2]
    missing = budeval("eval", "predictions", "nope", server=service)
    assert missing.returncode == 1 and "404" in missing.stdout
