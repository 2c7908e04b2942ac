"""`budeval clusters …`: register the Kubernetes clusters evaluations can be sent to.

An HTTP client like the rest of the CLI. The kubeconfig is read from a file and sent once; the
service keeps it as a secret and never shows it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from budeval.cli.common import Server, console, fail
from budeval.client import ApiError, Client

clusters_app = typer.Typer(help="Kubernetes clusters runs can go to (talks to a running service).")


@clusters_app.command("list")
def list_clusters(server: Server = None) -> None:
    """The default cluster and the registered ones."""
    try:
        clusters = Client(server).clusters()
    except ApiError as error:
        fail(error)
    table = Table(title=f"{len(clusters)} clusters")
    for column in ("name", "server", "namespace", "context", "registered"):
        table.add_column(column)
    for cluster in clusters:
        table.add_row(
            cluster["name"],
            cluster["server"] or "(service settings)",
            cluster["namespace"],
            cluster["context"] or "",
            cluster["created_at"] or "",
        )
    console.print(table)


@clusters_app.command("add")
def add(
    name: str,
    kubeconfig: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, readable=True, help="kubeconfig file")
    ],
    namespace: Annotated[str | None, typer.Option(help="namespace of its runs")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context to use")] = None,
    server: Server = None,
) -> None:
    """Register a cluster under NAME (the kubeconfig is kept as a secret by the service)."""
    body = {
        "name": name,
        "kubeconfig": kubeconfig.read_text(),
        "namespace": namespace,
        "context": context,
    }
    try:
        cluster = Client(server).add_cluster(body)
    except ApiError as error:
        fail(error)
    console.print(f"{cluster['name']}: {cluster['server']} (namespace {cluster['namespace']})")


@clusters_app.command("remove")
def remove(name: str, server: Server = None) -> None:
    """Unregister a cluster (refused while unfinished evaluations run on it)."""
    try:
        Client(server).remove_cluster(name)
    except ApiError as error:
        fail(error)
    console.print(f"removed {name}")
