"""The layout of one local run directory, and the small files that record its life.

    runs/<run_id>/
      spec.json        the RunSpec (no secret)            written at submit
      launch.json      argv, cwd, env names for the supervisor
      run.lock         flock held by the live supervisor: "is it alive?" without a pid race
      supervisor.log   the supervisor's own errors (it never writes the engine's output here)
      supervisor.json  {pid, started_at}                   written once the engine runs
      engine.json      {pid, pgid}                         written by the supervisor
      exit.json        {exit_code, signal, cancelled, …}   written by the supervisor at the end
      cancel           marker: cancellation was asked for
      run.log          the engine's stdout+stderr
      termination-log  the engine's one-line failure reason, if it wrote one ($TERMINATION_LOG)
      data/ output/    mapped to /data and /output

Files are written atomically (temp + rename) so a reader never sees half a document. The
supervisor (a standalone script) gets every path it writes from `launch.json`.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    spec = property(lambda self: self.path / "spec.json")
    launch = property(lambda self: self.path / "launch.json")
    lock = property(lambda self: self.path / "run.lock")
    supervisor = property(lambda self: self.path / "supervisor.json")
    engine = property(lambda self: self.path / "engine.json")
    exit = property(lambda self: self.path / "exit.json")
    cancel_marker = property(lambda self: self.path / "cancel")
    log = property(lambda self: self.path / "run.log")
    termination_log = property(lambda self: self.path / "termination-log")
    data = property(lambda self: self.path / "data")
    output = property(lambda self: self.path / "output")

    def read(self, path: Path) -> dict[str, Any] | None:
        try:
            return dict(json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def try_lock(self) -> int | None:
        """An fd holding the run lock, or None when a live supervisor holds it."""
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def release(self, fd: int) -> None:
        os.close(fd)

    def log_tail(self, lines: int) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 256 * lines))
                tail = log.read().decode(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return ""
        return "\n".join(tail)

    def log_start(self, tail: int | None, since: float | None) -> int:
        """The byte offset a log reader starts at: 0, the start of the last `tail` lines, or the
        end when the log has not changed for `since` seconds (see `LocalBackend.logs`)."""
        try:
            size, mtime = (stat := self.log.stat()).st_size, stat.st_mtime
        except FileNotFoundError:
            return 0
        if since is not None and time.time() - mtime > since:
            return size
        if tail is None or size == 0:
            return 0
        with self.log.open("rb") as log:
            log.seek(size - 1)
            wanted = tail + (log.read(1) == b"\n")  # a final newline ends the last line
            position = size
            while position > 0:
                step = min(65536, position)
                position -= step
                log.seek(position)
                block, index = log.read(step), step
                while (index := block.rfind(b"\n", 0, index)) >= 0:
                    wanted -= 1
                    if wanted == 0:
                        return position + index + 1
        return 0

    def read_log(self, offset: int, limit: int = 65536) -> bytes:
        """Up to `limit` bytes of the log from `offset` (empty at its end or when missing)."""
        try:
            with self.log.open("rb") as log:
                log.seek(offset)
                return log.read(limit)
        except FileNotFoundError:
            return b""

    def ended(self) -> bool:
        """The run will write no more: its exit is recorded, or its directory is gone."""
        return self.exit.exists() or not self.path.exists()

    def supervisor_alive(self) -> bool:
        if not self.path.exists():
            return False
        fd = self.try_lock()
        if fd is None:
            return True
        os.close(fd)
        return False


def write_json(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document))
    os.replace(temporary, path)
