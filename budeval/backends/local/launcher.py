"""Starting one local run's supervisor, exactly once, only into a free slot.

Called from a worker thread by the dispatcher. The run lock makes "is it started?" a question
the kernel answers: a live supervisor holds it, so a second caller (or a restarted service) adopts
the run instead of starting it again. A refusal before start (a missing secret, an engine not
installed) is recorded in `exit.json`, so the run fails visibly instead of waiting forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from enum import Enum
from pathlib import Path

from budeval.backends.base import RunSpec
from budeval.backends.local.environment import launch_document, process_environment
from budeval.backends.local.rundir import RunDir, write_json
from budeval.backends.local.slots import Slots
from budeval.config import Settings
from budeval.errors import BudevalError
from budeval.secrets import LocalSecretStore

SUPERVISOR = Path(__file__).with_name("supervisor.py")


class Launched(Enum):
    NO_SLOT = "no free slot"
    DONE = "already ended, cancelled or refused"


class Launcher:
    def __init__(self, settings: Settings, secrets: LocalSecretStore, slots: Slots) -> None:
        self.settings = settings
        self.secrets = secrets
        self.slots = slots

    def launch(self, run: RunDir) -> int | Launched:
        """Start the run unless it started already: the supervisor pid to watch, or why not."""
        if not run.spec.exists():
            return Launched.DONE  # removed by a cleanup
        lock_fd = run.try_lock()
        if lock_fd is None:
            return self.supervisor_pid(run) or Launched.DONE  # alive: adopt it
        slot_fd = None
        try:
            if run.exit.exists() or run.supervisor.exists():
                return Launched.DONE  # ended (or its supervisor was lost: the state tells)
            if run.cancel_marker.exists():
                write_json(run.exit, {"cancelled": True, "finished_at": time.time()})
                return Launched.DONE
            slot_fd = self.slots.try_take()
            if slot_fd is None:
                return Launched.NO_SLOT
            try:
                self._spawn(run, lock_fd, slot_fd)
            except BudevalError as refusal:
                record = {"reason": refusal.reason, "message": refusal.message}
                write_json(run.exit, {**record, "finished_at": time.time()})
                return Launched.DONE
        finally:
            os.close(lock_fd)  # from here on the supervisor holds its own copies of both locks
            if slot_fd is not None:
                os.close(slot_fd)
        pid = self.supervisor_pid(run)
        if pid is None and not run.supervisor.exists():
            errors = run.path.joinpath("supervisor.log").read_text(errors="replace")[-500:]
            message = f"the run supervisor did not start: {errors}"
            write_json(run.exit, {"reason": "LaunchFailed", "message": message})
            return Launched.DONE
        return pid or Launched.DONE

    def _spawn(self, run: RunDir, lock_fd: int, slot_fd: int) -> None:
        spec = RunSpec.model_validate_json(run.spec.read_text())
        env = process_environment(spec, run, self.settings, self.secrets)
        write_json(run.launch, launch_document(spec, run, self.settings, env))
        argv = [sys.executable, "-I", "-S", str(SUPERVISOR), str(run.launch)]
        with run.path.joinpath("supervisor.log").open("ab") as errors:
            subprocess.Popen(
                [*argv, str(lock_fd), str(slot_fd)],
                cwd=run.path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                pass_fds=(lock_fd, slot_fd),
                start_new_session=True,
            )

    def supervisor_pid(self, run: RunDir) -> int | None:
        """The pid a (just started or adopted) supervisor recorded; None if it is gone."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            document = run.read(run.supervisor)
            if document is not None:
                return int(document["pid"])
            if not run.supervisor_alive():
                return None
            time.sleep(0.002)  # the supervisor records itself within milliseconds of starting
        return None
