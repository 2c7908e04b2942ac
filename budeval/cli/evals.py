"""`budeval eval …`: start, watch and manage evaluations through a running service's HTTP API."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Annotated, Any

import typer
from rich.table import Table

from budeval.cli.common import Server, console, fail
from budeval.cli.tables import predictions_table, runs_table, scores_table, watch_until_done
from budeval.client import ApiError, Client

eval_app = typer.Typer(help="Start, watch and manage evaluations (talks to a running service).")


@eval_app.command("start")
def start(
    model: Annotated[str, typer.Option(help="model name at the endpoint")],
    endpoint: Annotated[str, typer.Option(help="OpenAI-compatible base URL")],
    api_key: Annotated[
        str, typer.Option(envvar="BUDEVAL_MODEL_API_KEY", prompt=True, hide_input=True)
    ],
    dataset: Annotated[list[str], typer.Option(help="dataset id (repeatable)")],
    engine: Annotated[str | None, typer.Option()] = None,
    config: Annotated[list[str] | None, typer.Option(help="NAME=JSON engine config")] = None,
    eval_id: Annotated[str | None, typer.Option()] = None,
    experiment_id: Annotated[str | None, typer.Option()] = None,
    server: Server = None,
) -> None:
    """Start an evaluation and print its id."""
    configs = []
    for item in config or []:
        name, _, value = item.partition("=")
        configs.append({"config_name": name, "config_value": json.loads(value)})
    body: dict[str, Any] = {
        "eval_id": eval_id or f"eval-{uuid.uuid4().hex[:12]}",
        "experiment_id": experiment_id,
        "eval_model_info": {"model_name": model, "endpoint": endpoint, "api_key": api_key},
        "eval_datasets": [{"dataset_id": name} for name in dataset],
        "eval_configs": configs,
        "engine": engine,
    }
    try:
        evaluation = Client(server).start(body)
    except ApiError as error:
        fail(error)
    console.print(evaluation["eval_id"])


@eval_app.command("watch")
def watch(eval_id: str, server: Server = None) -> None:
    """Show live progress until the evaluation ends; exit code 0 only if it succeeded."""
    client = Client(server)
    try:
        evaluation = watch_until_done(client, eval_id)
        console.print(scores_table(client.results(eval_id)))
    except ApiError as error:
        fail(error)
    raise typer.Exit(0 if evaluation["status"] == "succeeded" else 2)


@eval_app.command("list")
def list_(
    status: str | None = None,
    model: str | None = None,
    experiment: str | None = None,
    limit: int = 50,
    offset: int = 0,
    server: Server = None,
) -> None:
    """List evaluations, newest first."""
    try:
        page = Client(server).list(
            status=status, model=model, experiment=experiment, limit=limit, offset=offset
        )
    except ApiError as error:
        fail(error)
    table = Table(title=f"{page['total']} evaluations")
    for column in ("eval_id", "status", "model", "engine", "runs", "created"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(
            item["eval_id"],
            item["status"],
            item["model_name"],
            item["engine"],
            str(len(item["runs"])),
            item["created_at"],
        )
    console.print(table)


@eval_app.command("show")
def show(eval_id: str, server: Server = None) -> None:
    try:
        evaluation = Client(server).show(eval_id)
    except ApiError as error:
        fail(error)
    console.print(runs_table(evaluation))
    for run in evaluation["runs"]:
        if run["log_tail"]:
            console.rule(f"log tail of {run['run_id']}")
            console.print(run["log_tail"], markup=False, highlight=False)


@eval_app.command("results")
def results(eval_id: str, server: Server = None) -> None:
    try:
        console.print(scores_table(Client(server).results(eval_id)))
    except ApiError as error:
        fail(error)


@eval_app.command("predictions")
def predictions(
    eval_id: str,
    run_id: Annotated[str | None, typer.Option(help="only this run")] = None,
    dataset: Annotated[str | None, typer.Option(help="only this dataset")] = None,
    correct: Annotated[
        bool | None, typer.Option("--correct/--wrong", help="only right / wrong answers")
    ] = None,
    limit: Annotated[int, typer.Option(help="page size (max 1000)")] = 50,
    offset: int = 0,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON page")] = False,
    server: Server = None,
) -> None:
    """Per-sample prompts, predictions and gold answers (what the metric compared)."""
    try:
        page = Client(server).predictions(
            eval_id, run_id=run_id, dataset=dataset, correct=correct, limit=limit, offset=offset
        )
    except ApiError as error:
        fail(error)
    if as_json:
        sys.stdout.write(json.dumps(page, indent=2, ensure_ascii=False) + "\n")
    else:
        console.print(predictions_table(page))


@eval_app.command("cancel")
def cancel(eval_id: str, server: Server = None) -> None:
    try:
        console.print(Client(server).cancel(eval_id)["status"])
    except ApiError as error:
        fail(error)


@eval_app.command("cleanup")
def cleanup(job_id: str, server: Server = None) -> None:
    try:
        console.print_json(data=Client(server).cleanup(job_id))
    except ApiError as error:
        fail(error)


@eval_app.command("logs")
def logs(
    eval_id: str,
    run_id: Annotated[str, typer.Argument(help="run id or job name")],
    tail: Annotated[int | None, typer.Option(help="only the last N lines")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="until the run ends")] = False,
    server: Server = None,
) -> None:
    """Print a run's log (stream it with --follow)."""
    try:
        for chunk in Client(server).logs(eval_id, run_id, tail=tail, follow=follow):
            sys.stdout.write(chunk)
            sys.stdout.flush()
    except ApiError as error:
        fail(error)
