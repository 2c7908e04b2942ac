"""`budeval serve`: run the service (API + durable workflows + the configured backend)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="bind address (BUDEVAL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (BUDEVAL_PORT)")] = None,
) -> None:
    """Run the budeval service (API + durable workflows + local backend)."""
    from budeval.api.server import serve as run_server
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
    run_server(settings)  # request-arrival deadline and keep-alive from settings
