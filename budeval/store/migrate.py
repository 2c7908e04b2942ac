"""Bring a database's schema up to date, programmatically, at every start-up.

The Alembic scripts ship inside the package (`migrations/`), so no alembic.ini is needed at run
time. Concurrent start-ups are serialised by the database itself: on SQLite the migration runs in a
`BEGIN IMMEDIATE` transaction (one writer at a time; the others wait, then find the schema at head),
on PostgreSQL under a transaction-scoped advisory lock. Alembic's `context` is process-global, so
calls within one process are serialised by a lock as well.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from budeval.store.db import create_db_engine, translate_errors, writer

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "budeval_alembic_version"
"""Not Alembic's default name, so budeval can share a database with other Alembic users."""
_ADVISORY_LOCK_KEY = 0x62756465  # "bude"
_PROCESS_LOCK = threading.Lock()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision shipped with this version of budeval."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "no migration scripts shipped"
    return revision


def upgrade(url: str) -> None:
    """Migrate the database at `url` to the newest revision; a no-op when it is already there."""
    engine = create_db_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> None:
    config = alembic_config()
    with _PROCESS_LOCK, translate_errors(), writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None when it was never migrated."""
    with translate_errors(), engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()
