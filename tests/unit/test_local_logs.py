"""`LocalBackend.logs` on hand-written run directories: tail, since, follow, partial lines.

No process is started: the test plays the engine (appending to run.log) and the supervisor
(writing exit.json), so every step is explicit and nothing waits on a clock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from budeval.backends.base import RunHandle
from budeval.backends.local.backend import LocalBackend
from budeval.backends.local.rundir import RunDir
from budeval.config import Settings
from budeval.secrets import LocalSecretStore

HANDLE = RunHandle(backend="local", eval_id="e1", run_id="r1", name="job-r1")


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    return LocalBackend(settings, LocalSecretStore(settings.secrets_dir))


def run_dir(backend: LocalBackend, log: bytes | None = None) -> RunDir:
    run = backend.run_dir(HANDLE.run_id)
    run.path.mkdir(parents=True, exist_ok=True)
    if log is not None:
        run.log.write_bytes(log)
    return run


async def collect(backend: LocalBackend, **options: object) -> list[str]:
    return [line async for line in backend.logs(HANDLE, **options)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("log", "tail", "expected"),
    [
        (b"a\nb\nc\n", None, ["a\n", "b\n", "c\n"]),
        (b"a\nb\nc\n", 1, ["c\n"]),
        (b"a\nb\nc\n", 2, ["b\n", "c\n"]),
        (b"a\nb\nc", 1, ["c"]),  # an unterminated last line is still a line
        (b"a\nb\nc", 2, ["b\n", "c"]),
        (b"a\nb\nc\n", 10, ["a\n", "b\n", "c\n"]),
        (b"\n\n", 1, ["\n"]),
        (b"", 3, []),
    ],
)
async def test_tail(
    backend: LocalBackend, log: bytes, tail: int | None, expected: list[str]
) -> None:
    run_dir(backend, log)
    assert await collect(backend, tail=tail) == expected


async def test_tail_across_read_blocks(backend: LocalBackend) -> None:
    lines = [f"{n:06d} {'x' * 200}\n" for n in range(2000)]  # ~400 KB, several 64 KiB blocks
    run_dir(backend, "".join(lines).encode())
    assert await collect(backend, tail=777) == lines[-777:]
    assert await collect(backend) == lines


async def test_a_missing_log_is_empty(backend: LocalBackend) -> None:
    run = run_dir(backend)
    assert await collect(backend, tail=5) == []
    run.exit.write_text("{}")  # ended before it printed anything
    assert await collect(backend, follow=True) == []
    run.exit.unlink()
    run.path.rmdir()  # cleaned up: nothing more can come either
    assert await collect(backend, follow=True) == []


async def test_since_decides_by_the_files_last_change(backend: LocalBackend) -> None:
    run = run_dir(backend, b"old\nlines\n")
    an_hour_ago = time.time() - 3600
    os.utime(run.log, (an_hour_ago, an_hour_ago))
    assert await collect(backend, since=60) == []
    assert await collect(backend, since=7200) == ["old\n", "lines\n"]
    assert await collect(backend, since=7200, tail=1) == ["lines\n"]


async def test_invalid_utf8_is_replaced_and_split_characters_survive(
    backend: LocalBackend,
) -> None:
    run_dir(backend, "é\n".encode() * 40_000 + b"\xff\n")  # 'é' straddles a 64 KiB block edge
    lines = await collect(backend)
    assert lines[:-1] == ["é\n"] * 40_000
    assert lines[-1] == "\ufffd\n"


async def test_follow_streams_appended_lines_until_the_exit_is_recorded(
    backend: LocalBackend,
) -> None:
    run = run_dir(backend, b"first\nsecond\n")
    lines = aiter(backend.logs(HANDLE, tail=1, follow=True))
    assert await anext(lines) == "second\n"
    with run.log.open("ab") as log:  # the engine writes on, a line in two pieces
        log.write(b"third\nfou")
        log.flush()
        assert await anext(lines) == "third\n"
        log.write(b"rth\nunterminated")
    run.exit.write_text('{"exit_code": 0}')  # the supervisor records the end
    assert [line async for line in lines] == ["fourth\n", "unterminated"]
