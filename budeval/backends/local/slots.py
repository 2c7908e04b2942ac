"""Execution slots for local runs: N lock files, each held by one live supervisor.

A run may start only while it can take a slot; the supervisor inherits the slot's lock and keeps it
until it exits, when the kernel releases it — also if the service was killed meanwhile. So the
concurrency limit holds across restarts, costs nothing while idle (no polling), and a free slot is
taken at once. (A DBOS queue did this first: its 50 ms polling cost ~33 ms per run at p50, and a
faster poll cost 0.15 to 0.2 of a core while idle; see bench/README.md.)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class Slots:
    def __init__(self, directory: Path, count: int) -> None:
        self.directory = directory
        self.count = count

    def try_take(self) -> int | None:
        """An fd holding a free slot's lock, or None when all slots are taken."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            fd = os.open(self.directory / f"{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None

    def taken(self) -> int:
        """How many slots are held right now (for verify and tests)."""
        taken = 0
        for index in range(self.count):
            path = self.directory / f"{index}.lock"
            if not path.exists():
                continue
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                taken += 1
            finally:
                os.close(fd)
        return taken
