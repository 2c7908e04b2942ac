"""Alembic environment for budeval's store.

Run programmatically by `budeval.store.migrate` (which passes an open connection in
`config.attributes["connection"]`), or by the alembic CLI for writing new revisions:
`alembic -x url=sqlite:///dev.sqlite revision --autogenerate -m "…"` with a config whose
`script_location` is this folder. Logging is left to the host application.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from budeval.store.db import create_db_engine, writer
from budeval.store.migrate import VERSION_TABLE
from budeval.store.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=… (or sqlalchemy.url)")
    return url


if context.is_offline_mode():
    context.configure(
        url=_url(),
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _run(shared)
else:
    engine = create_db_engine(_url())
    try:
        with writer(engine).begin() as connection:
            _run(connection)
    finally:
        engine.dispose()
