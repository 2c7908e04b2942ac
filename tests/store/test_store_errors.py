"""Driver errors that mean "try again" surface as TransientError, never as SQLAlchemy types."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

from budeval.errors import TransientError
from budeval.store import Store, db, open_store


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_postgres_is_transient():
    url = f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/none?connect_timeout=2"
    with Store(url) as store, pytest.raises(TransientError) as caught:
        store.get_evaluation("e1")
    assert caught.value.reason == "DatabaseError"
    assert "SELECT" not in caught.value.message


def test_unopenable_sqlite_is_transient(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path}") as store, pytest.raises(TransientError):
        store.get_evaluation("e1")  # the path is a directory


def test_sqlite_lock_held_past_the_timeout_is_transient(tmp_path: Path, monkeypatch):
    path = tmp_path / "store.sqlite"
    open_store(f"sqlite:///{path}").close()
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with Store(f"sqlite:///{path}") as impatient:
            started = time.monotonic()
            with pytest.raises(TransientError, match="locked"):
                impatient.mark_cleaned("e1")
            assert time.monotonic() - started < 4
    finally:
        blocker.rollback()
        blocker.close()
