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
