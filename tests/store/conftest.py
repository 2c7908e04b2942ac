"""Fixtures for the store tests: a migrated, empty store on SQLite and on a real PostgreSQL.

PostgreSQL comes from `BUDEVAL_TEST_POSTGRES_URL` (a role allowed to CREATE DATABASE; CI sets it)
or, when unset, from a throwaway server started here for the session with the `initdb`/`pg_ctl`
found under /usr/lib/postgresql/*/bin or on PATH; without either, PostgreSQL cases are skipped.
Every test module gets its own database `budeval_test_<hex>`, dropped afterwards.

The section "PostgreSQL server" is self-contained so that it can move to tests/conftest.py.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from budeval.spec import EvaluationSpec
from budeval.store import Store, open_store

# --- PostgreSQL server -------------------------------------------------------------------------

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


# --- store fixtures ----------------------------------------------------------------------------

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TABLES = ("events", "predictions", "scores", "runs", "evaluations")


@pytest.fixture(params=DATABASES)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database never migrated: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture(params=DATABASES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with no rows (the module's PostgreSQL database, emptied)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
        open_store(url).close()
        return url
    url = request.getfixturevalue("postgres_module_url")
    open_store(url).close()
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened


@pytest.fixture
def count_rows(store_url: str) -> Iterator[Callable[..., int]]:
    """count_rows(table, **equal) → number of rows, read straight from the database."""
    engine = create_engine(store_url)

    def count(table: str, **equal: object) -> int:
        where = " AND ".join(f"{column} = :{column}" for column in equal) or "1 = 1"
        with engine.connect() as connection:
            return connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE {where}"), equal
            ).scalar_one()

    yield count
    engine.dispose()


@pytest.fixture
def make_spec() -> Callable[..., EvaluationSpec]:
    """make_spec("e1", runs=[("gsm8k", "r1")], model_name=…, experiment_id=…, engine=…)."""

    def make(
        eval_id: str,
        runs: list[tuple[str, str]] | None = None,
        *,
        model_name: str = "model-a",
        experiment_id: str | None = None,
        engine: str = "smoke",
    ) -> EvaluationSpec:
        runs = runs if runs is not None else [("gsm8k", f"{eval_id}-r1"), ("mmlu", f"{eval_id}-r2")]
        return EvaluationSpec(
            eval_id=eval_id,
            experiment_id=experiment_id,
            model={"model_name": model_name, "endpoint": "http://127.0.0.1:9/v1"},
            datasets=[{"dataset_id": dataset, "run_id": run_id} for dataset, run_id in runs],
            engine=engine,
            secret_name=f"{eval_id}-key",
        )

    return make


def _names_for(spec: EvaluationSpec) -> dict[str, str]:
    return {entry.run_id: f"job-{entry.run_id.lower()}" for entry in spec.datasets}


@pytest.fixture
def names_for() -> Callable[[EvaluationSpec], dict[str, str]]:
    """names_for(spec) → {run_id: DNS name} as the API would derive them."""
    return _names_for


@pytest.fixture
def create(
    store: Store, make_spec: Callable[..., EvaluationSpec]
) -> Callable[..., tuple[object, bool]]:
    """create("e1", …make_spec args) → store.create_evaluation(spec, "fp-e1", names)."""

    def make(eval_id: str, *args: object, fingerprint: str | None = None, **kwargs: object):
        spec = make_spec(eval_id, *args, **kwargs)
        return store.create_evaluation(spec, fingerprint or f"fp-{eval_id}", _names_for(spec))

    return make
