"""What the CLI's command modules share: the console, the `--server` option, error display."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

from budeval.client import ApiError

console = Console()
Server = Annotated[str | None, typer.Option(envvar="BUDEVAL_SERVER", help="API base URL")]


def fail(error: ApiError) -> NoReturn:
    console.print(f"[red]error[/red] {error}", markup=True, highlight=False)
    raise typer.Exit(1)
