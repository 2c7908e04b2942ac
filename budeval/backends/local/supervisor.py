"""The supervisor of one local run: `python -I -S supervisor.py LAUNCH_JSON RUN_LOCK_FD SLOT_FD`.

Why a supervisor: the service may be killed (-9) while an engine runs. The supervisor lives in its
own session, so it survives that; for its whole life it holds the run lock (so a restarted service
adopts the run instead of starting it again) and a slot lock (so the number of runs executing at
once holds across restarts, enforced by the kernel, not by polling); and it writes `exit.json` when
the engine ends, so the exit code is never lost. SIGTERM cancels: the engine's process group gets
SIGTERM, then SIGKILL after the grace period.

Deliberately a standalone script: standard library only, no `budeval` import, started with
`-I -S` and using `posix_spawn`, so it is running within ~20 ms. Every path comes from the launch
document; it prints nothing and never reads the environment it passes on (the API key is in it).
"""

import json
import os
import signal
import sys
import time


def write_json(path, document):
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as handle:
        handle.write(json.dumps(document))
    os.replace(temporary, path)


def kill_group(pgid, sig):
    try:  # noqa: SIM105 (contextlib would be one more import at start-up)
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def supervise(launch_path, locks):
    with open(launch_path) as handle:
        launch = json.load(handle)
    files = launch["files"]
    started_at = time.time()
    for fd in locks:
        os.set_inheritable(fd, False)  # the locks live exactly as long as this process
    pid = os.posix_spawn(
        launch["argv"][0],
        launch["argv"],
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, files["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    write_json(files["engine"], {"pid": pid, "pgid": pid})
    # recorded last: once supervisor.json exists, the engine (and engine.json) exist too
    write_json(files["supervisor"], {"pid": os.getpid(), "started_at": started_at})
    cancelled = []

    def on_term(_signum, _frame):
        cancelled.append(True)
        kill_group(pid, signal.SIGTERM)
        signal.signal(signal.SIGALRM, lambda *_: kill_group(pid, signal.SIGKILL))
        signal.setitimer(signal.ITIMER_REAL, max(float(launch["grace_seconds"]), 0.001))

    signal.signal(signal.SIGTERM, on_term)
    if os.path.exists(files["cancel"]):
        on_term(signal.SIGTERM, None)
    _, status = os.waitpid(pid, 0)
    returncode = os.waitstatus_to_exitcode(status)
    kill_group(pid, signal.SIGKILL)  # leftovers of the group never outlive the run
    write_json(
        files["exit"],
        {
            "exit_code": returncode if returncode >= 0 else None,
            "signal": -returncode if returncode < 0 else None,
            "cancelled": bool(cancelled),
            "finished_at": time.time(),
        },
    )
    return 0


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(sys.argv[1])))
    sys.exit(supervise(sys.argv[1], [int(fd) for fd in sys.argv[2:]]))
