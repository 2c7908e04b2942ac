"""`budeval demo` (a throw-away service evaluating the demo endpoint) and `budeval demo-endpoint`.

The demo's service logic lives in `budeval.demo.run`, which knows nothing of the CLI: this module
hands it the watch-and-print step (`follow`), so the import goes one way, cli → demo.
"""

from __future__ import annotations

from typing import Annotated

import typer

from budeval.cli.common import console
from budeval.cli.tables import scores_table, watch_until_done
from budeval.client import Client


def demo(
    home: Annotated[str | None, typer.Option(help="data dir (default: a fresh temp dir)")] = None,
    port: int = 18080,
    engine: Annotated[str, typer.Option(help="lmeval, opencompass or smoke")] = "lmeval",
) -> None:
    """Start a service on embedded defaults, evaluate the demo endpoint, print the scores."""
    from budeval.demo.run import run_demo

    def follow(client: Client, eval_id: str) -> str:
        evaluation = watch_until_done(client, eval_id)
        console.print(scores_table(client.results(eval_id)))
        return str(evaluation["status"])

    raise typer.Exit(run_demo(console, home=home, port=port, engine=engine, follow=follow))


def demo_endpoint(ctx: typer.Context) -> None:
    """A deterministic OpenAI-compatible endpoint for trying budeval and for tests (not a model).

    It answers the generated demo datasets with a set accuracy, latency and error rate; see
    `budeval demo-endpoint --help`.
    """
    from budeval.demo import endpoint

    raise typer.Exit(endpoint.main(ctx.args))
