"""The supervisor of one local run: `python -m budeval.backends.local.supervisor RUN_DIR FD`.

Why a supervisor: the service may be killed (-9) while an engine runs. The supervisor lives in its
own session, so it survives that; it holds the run lock (inherited fd FD) for its whole life and
writes `exit.json` when the engine ends, so a restarted service can adopt the run and still learn
its exit code. The engine gets its own process group; SIGTERM to the supervisor cancels: the group
gets SIGTERM, then SIGKILL after the grace period.

Standard library only (plus `rundir`), for a fast start. It logs nothing of the environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from budeval.backends.local.rundir import RunDir, write_json


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def supervise(run: RunDir, lock_fd: int) -> int:
    launch: dict[str, Any] = json.loads(run.launch.read_text())
    write_json(run.supervisor, {"pid": os.getpid(), "started_at": time.time()})
    cancelled = threading.Event()
    with run.log.open("ab") as log:
        engine = subprocess.Popen(
            launch["argv"],
            cwd=launch["cwd"],
            env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_json(run.engine, {"pid": engine.pid, "pgid": engine.pid})
    grace = float(launch.get("grace_seconds", 10))

    def on_term(_signum: int, _frame: object) -> None:
        cancelled.set()
        _kill_group(engine.pid, signal.SIGTERM)
        killer = threading.Timer(grace, _kill_group, (engine.pid, signal.SIGKILL))
        killer.daemon = True
        killer.start()

    signal.signal(signal.SIGTERM, on_term)
    if run.cancel_marker.exists():
        on_term(signal.SIGTERM, None)
    returncode = engine.wait()
    _kill_group(engine.pid, signal.SIGKILL)  # leftovers of the group never outlive the run
    write_json(
        run.exit,
        {
            "exit_code": returncode if returncode >= 0 else None,
            "signal": -returncode if returncode < 0 else None,
            "cancelled": cancelled.is_set(),
            "finished_at": time.time(),
        },
    )
    os.close(lock_fd)
    return 0


def main(argv: list[str]) -> int:
    run_dir, lock_fd = Path(argv[1]), int(argv[2])
    return supervise(RunDir(run_dir), lock_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
