"""Experiment, not product code: a lighter run supervisor (same files, same contract).

Started as `python -I -S bench/experiments/light_supervisor.py RUN_DIR FD` by
`bench/experiments/serve.py` when BENCH_LIGHT_SUPERVISOR=1. Differences from
`budeval.backends.local.supervisor`: no `site` (-S), no `budeval` package import (its `__init__`
pulls `typing` through `budeval.errors`), no `subprocess`/`pathlib`/`threading` at start-up
(the engine is started with `os.posix_spawn(setsid=True)`); it writes `supervisor.json`,
`engine.json` and `exit.json` exactly like the real one and holds the run lock (fd FD) for its
whole life. Only for measuring how much of the submit latency is interpreter start-up.
"""

import json
import os
import signal
import sys
import time


def write_json(path, document):
    temporary = f"{os.path.dirname(path)}/.{os.path.basename(path)}.{os.getpid()}.tmp"
    with open(temporary, "w") as handle:
        handle.write(json.dumps(document))
    os.replace(temporary, path)


def kill_group(pgid, sig):
    try:  # noqa: SIM105  (contextlib is one import more at start-up)
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(run_dir, lock_fd):
    write_json(f"{run_dir}/supervisor.json", {"pid": os.getpid(), "started_at": time.time()})
    with open(f"{run_dir}/launch.json") as handle:
        launch = json.load(handle)
    os.set_inheritable(lock_fd, False)  # the engine must not hold the run lock
    os.chdir(launch["cwd"])
    log = f"{run_dir}/run.log"
    pid = os.posix_spawn(
        launch["argv"][0],
        launch["argv"],
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    write_json(f"{run_dir}/engine.json", {"pid": pid, "pgid": pid})
    grace = float(launch.get("grace_seconds", 10))
    cancelled = []

    def on_term(_signum, _frame):
        cancelled.append(True)
        kill_group(pid, signal.SIGTERM)
        signal.signal(signal.SIGALRM, lambda *_: kill_group(pid, signal.SIGKILL))
        signal.setitimer(signal.ITIMER_REAL, max(grace, 0.001))

    signal.signal(signal.SIGTERM, on_term)
    if os.path.exists(f"{run_dir}/cancel"):
        on_term(signal.SIGTERM, None)
    _, status = os.waitpid(pid, 0)
    returncode = os.waitstatus_to_exitcode(status)
    kill_group(pid, signal.SIGKILL)
    write_json(
        f"{run_dir}/exit.json",
        {
            "exit_code": returncode if returncode >= 0 else None,
            "signal": -returncode if returncode < 0 else None,
            "cancelled": bool(cancelled),
            "finished_at": time.time(),
        },
    )
    os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
