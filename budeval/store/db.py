"""Engines, transactions and error translation: the store's only contact with the database driver.

SQLite needs care to survive many writer threads: WAL, a 30 s busy timeout, and write transactions
opened with `BEGIN IMMEDIATE`, so that a transaction that reads and then writes queues for the lock
up front instead of failing with "database is locked" when it tries to upgrade (a busy timeout does
not help an upgrade). PostgreSQL needs only pre-ping. Driver errors that mean "try again" become
`TransientError` here, at the edge; nothing above this module sees a SQLAlchemy exception type.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from budeval.errors import TransientError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "budeval_sqlite_begin"


def create_db_engine(url: str) -> Engine:
    """An engine for `url`: SQLite (file or memory) or PostgreSQL (`postgresql+psycopg://`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    }
    if in_memory:
        options["poolclass"] = StaticPool  # one shared connection, or each sees its own empty db
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options.update(pool_size=10, max_overflow=20)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool), opening transactions for writing: IMMEDIATE on SQLite."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite: we emit BEGIN ourselves (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn "the database is unreachable / busy" into `TransientError`; let the rest through."""
    try:
        yield
    except (exc.OperationalError, exc.TimeoutError) as e:
        raise TransientError(f"database unavailable: {_describe(e)}", reason="DatabaseError") from e
    except exc.DBAPIError as e:
        if not e.connection_invalidated:
            raise
        raise TransientError(
            f"database connection lost: {_describe(e)}", reason="DatabaseError"
        ) from e


def _describe(error: Exception) -> str:
    """The driver's first message line, without the SQL statement and its parameters."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}"


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, one transaction, committed on success; errors translated, commit included."""
    with translate_errors(), Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


class _Clock:
    """UTC now, strictly increasing within this process.

    Two changes in a row can read the same microsecond; events are ordered by time, so a tie would
    make "pending → running" come out in id order. Bumping by 1 µs keeps the order of writes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> datetime:
        with self._lock:
            now = datetime.now(UTC)
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now


utcnow = _Clock().now
