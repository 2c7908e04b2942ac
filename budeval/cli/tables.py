"""Tables the CLI prints, and the polling watch `budeval eval watch` and `budeval demo` share."""

from __future__ import annotations

import time
from typing import Any

from rich.live import Live
from rich.table import Table

from budeval.cli.common import console
from budeval.client import Client

TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled", "timed_out"}


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


def predictions_table(page: dict[str, Any], width: int = 60) -> Table:
    shown = f"{page['offset'] + 1}-{page['offset'] + len(page['items'])}" if page["items"] else "0"
    table = Table(title=f"{page['total']} predictions of {page['eval_id']} (showing {shown})")
    for column in ("run", "dataset", "#", "correct", "gold", "prediction"):
        table.add_column(column, overflow="fold")

    def cut(text: str | None) -> str:
        flat = " ".join((text or "").split())
        return flat if len(flat) <= width else flat[: width - 1] + "…"

    for item in page["items"]:
        correct = {True: "yes", False: "no", None: "-"}[item["correct"]]
        table.add_row(
            item["run_id"],
            item["dataset"],
            str(item["index"]),
            correct,
            cut(item["gold"]),
            cut(item["prediction"]),
        )
    return table


def watch_until_done(client: Client, eval_id: str, interval: float = 0.5) -> dict[str, Any]:
    evaluation = client.show(eval_id)
    with Live(runs_table(evaluation), console=console, refresh_per_second=4) as live:
        while evaluation["status"] not in TERMINAL:
            time.sleep(interval)  # a polling client: the service itself is event-driven
            evaluation = client.show(eval_id)
            live.update(runs_table(evaluation))
    console.print()
    return evaluation
