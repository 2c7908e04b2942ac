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
