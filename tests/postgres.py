"""A real PostgreSQL server for the tests, and a fresh database per module or test.

From `BUDEVAL_TEST_POSTGRES_URL` (a role allowed to CREATE DATABASE) or, when unset, a throwaway
server started for the session with the `initdb`/`pg_ctl` found under /usr/lib/postgresql/*/bin or
on PATH. Without either the PostgreSQL cases are skipped — except under CI, where that fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "BUDEVAL_TEST_POSTGRES_URL"


def _postgres_bindir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for bindir in reversed(candidates):
        if (Path(bindir) / "initdb").exists() and (Path(bindir) / "pg_ctl").exists():
            return Path(bindir)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).parent if initdb and pg_ctl else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _throwaway_server(bindir: Path) -> Iterator[str]:
    """initdb + pg_ctl start in a temp dir; as root, the server runs as `postgres` (or nobody)."""
    root = Path(tempfile.mkdtemp(prefix="budeval-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], cwd=root, check=True, capture_output=True, text=True)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        try:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                "-o", options, "start")  # fmt: skip
        except subprocess.CalledProcessError as e:
            server_log = log.read_text() if log.exists() else ""
            pytest.fail(f"PostgreSQL did not start: {e.stderr}\n{server_log}")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """An admin URL of a PostgreSQL server (may CREATE DATABASE), for the whole session."""
    if url := os.environ.get(POSTGRES_URL_ENV):
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        yield parsed.render_as_string(hide_password=False)
        return
    bindir = _postgres_bindir()
    if bindir is None:
        message = f"no PostgreSQL: set {POSTGRES_URL_ENV} or install initdb/pg_ctl"
        if os.environ.get("CI"):  # CI installs PostgreSQL: a skip there would hide a gap
            pytest.fail(message)
        pytest.skip(message)
    with _throwaway_server(bindir) as url:
        yield url


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server; dropped on exit (connections and all)."""
    name = f"budeval_test_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    ),
                    {"n": name},
                )
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def postgres_module_url(postgres_server_url: str) -> Iterator[str]:
    """A database for this test module."""
    with postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A database for this test alone (for tests of the schema itself)."""
    with postgres_database(postgres_server_url) as url:
        yield url
