"""`budeval engines …`: the engines and their local environments (no service needed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from budeval.cli.common import console

engines_app = typer.Typer(help="Engines and their local environments (no service needed).")


@engines_app.command("list")
def engines_list() -> None:
    """The engines this budeval knows, and whether each local environment is installed."""
    from budeval.config import Settings
    from budeval.engines import environments
    from budeval.engines.registry import default_registry

    engines = Settings().engines_path
    table = Table(title="engines")
    for column in ("name", "version", "default dataset", "endpoint", "local environment"):
        table.add_column(column)
    for engine in default_registry().all():
        if engine.recipe is None:
            where = "built in"
        elif environments.installed(engines, engine.recipe):
            where = str(environments.directory(engines, engine.name))
        else:
            where = f"not installed (budeval engines install {engine.name})"
        table.add_row(
            engine.name, engine.version, engine.default_dataset, engine.mode or "-", where
        )
    console.print(table)


@engines_app.command("install")
def engines_install(
    name: str, force: Annotated[bool, typer.Option(help="reinstall even if present")] = False
) -> None:
    """Create the engine's own virtualenv under $BUDEVAL_HOME/engines (pinned versions)."""
    from budeval.config import Settings
    from budeval.engines import environments
    from budeval.engines.registry import default_registry
    from budeval.errors import BudevalError

    try:
        engine = default_registry().get(name)
        if engine.recipe is None:
            console.print(f"{name} runs in budeval's own interpreter: nothing to install")
            return
        environments.install(Settings().engines_path, engine.recipe, say=console.print, force=force)
    except BudevalError as error:
        console.print(f"[red]error[/red] {error.message}")
        raise typer.Exit(1) from None
