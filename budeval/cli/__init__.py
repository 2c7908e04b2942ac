"""`budeval …`: serve the API, drive evaluations over HTTP, run the demo.

The CLI is a client of the HTTP API (except `serve` and `demo`, which start a service), so it
behaves exactly like any other client: same validation, same errors. One module per command
group: `serve` (the service), `evals` (`budeval eval …`), `engines`, `clusters`, `demo`; `tables`
and `common` are what they share. `main` is the console-script entry point (pyproject).
"""

from __future__ import annotations

import typer

from budeval.cli.clusters import clusters_app
from budeval.cli.demo import demo, demo_endpoint
from budeval.cli.engines import engines_app
from budeval.cli.evals import eval_app
from budeval.cli.serve import serve

app = typer.Typer(help="Evaluate OpenAI-compatible LLM endpoints on benchmark datasets.")
app.command()(serve)
app.add_typer(eval_app, name="eval")
app.add_typer(engines_app, name="engines")
app.add_typer(clusters_app, name="clusters")
app.command()(demo)
app.command(
    "demo-endpoint",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)(demo_endpoint)


def main() -> None:
    app()
