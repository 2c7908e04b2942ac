"""`budeval …`: serve the API, drive evaluations over HTTP, run the demo.

The CLI is a client of the HTTP API (except `serve` and `demo`, which start a service), so it
behaves exactly like any other client: same validation, same errors.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from budeval.cli_clusters import clusters_app
from budeval.cli_common import Server, console, fail
from budeval.cli_engines import engines_app
from budeval.client import ApiError, Client

app = typer.Typer(help="Evaluate OpenAI-compatible LLM endpoints on benchmark datasets.")
eval_app = typer.Typer(help="Start, watch and manage evaluations (talks to a running service).")
app.add_typer(eval_app, name="eval")
app.add_typer(engines_app, name="engines")
app.add_typer(clusters_app, name="clusters")
TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled", "timed_out"}


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (BUDEVAL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (BUDEVAL_PORT)")] = None,
) -> None:
    """Run the budeval service (API + durable workflows + local backend)."""
    import uvicorn

    from budeval.api.app import create_app
    from budeval.config import Settings

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings(**overrides)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


def runs_table(evaluation: dict[str, Any]) -> Table:
    table = Table(title=f"{evaluation['eval_id']}: {evaluation['status']}")
    for column in ("run", "dataset", "status", "reason", "message"):
        table.add_column(column)
    for run in evaluation["runs"]:
        table.add_row(
            run["run_id"],
            run["dataset_id"],
            run["status"],
            run["reason"] or "",
            run["message"] or "",
        )
    return table


def scores_table(results: dict[str, Any]) -> Table:
    table = Table(title=f"scores of {results['eval_id']} ({results['status']})")
    for column in ("dataset", "metric", "value", "n", "engine"):
        table.add_column(column)
    for score in results["scores"]:
        table.add_row(
            score["dataset"],
            score["metric"],
            f"{score['value']:.4g}",
            str(score["n_samples"] or ""),
            f"{score['engine']} {score['engine_version']}",
        )
    return table


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


def watch_until_done(client: Client, eval_id: str, interval: float = 0.5) -> dict[str, Any]:
    evaluation = client.show(eval_id)
    with Live(runs_table(evaluation), console=console, refresh_per_second=4) as live:
        while evaluation["status"] not in TERMINAL:
            time.sleep(interval)  # a polling client: the service itself is event-driven
            evaluation = client.show(eval_id)
            live.update(runs_table(evaluation))
    console.print()
    return evaluation


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


@app.command()
def demo(
    home: Annotated[str | None, typer.Option(help="data dir (default: a fresh temp dir)")] = None,
    port: int = 18080,
    engine: Annotated[str, typer.Option(help="lmeval, opencompass or smoke")] = "lmeval",
) -> None:
    """Start a service on embedded defaults, evaluate the demo endpoint, print the scores."""
    from budeval.demo.run import run_demo

    raise typer.Exit(run_demo(console, home=home, port=port, engine=engine))


@app.command(
    "demo-endpoint",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def demo_endpoint(ctx: typer.Context) -> None:
    """A deterministic OpenAI-compatible endpoint for trying budeval and for tests (not a model).

    It answers the generated demo datasets with a set accuracy, latency and error rate; see
    `budeval demo-endpoint --help`.
    """
    from budeval.demo import endpoint

    raise typer.Exit(endpoint.main(ctx.args))


def main() -> None:
    app()
