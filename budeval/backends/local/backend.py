"""The local backend: runs as supervised processes under `$BUDEVAL_HOME/runs/<run_id>`.

How a run lives: `submit` writes its directory (status `scheduled`); `occupy`, called inside the
DBOS admission queue (its concurrency is the number of slots), starts the supervisor and returns
when the run has ended. Exits are noticed through pidfds, not polling, and reported on `events()`.
After a restart `occupy` runs again and adopts a live supervisor instead of starting a second one
(the run lock decides), so every run is launched exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from budeval.backends.base import RunHandle, RunSpec, RunState, StatusChange, VerifyReport
from budeval.backends.local import process
from budeval.backends.local.environment import launch_document, process_environment
from budeval.backends.local.rundir import RunDir, write_json
from budeval.backends.local.state import read_state
from budeval.backends.registry import register_backend
from budeval.config import Settings
from budeval.errors import BackendError, BudevalError
from budeval.secrets import LocalSecretStore

SUPERVISOR_MODULE = "budeval.backends.local.supervisor"


@register_backend("local")
class LocalBackend:
    name = "local"
    admission_queue: str | None = "budeval-local-runs"

    def __init__(self, settings: Settings, secrets: LocalSecretStore) -> None:
        self.settings = settings
        self.secrets = secrets
        self.concurrency = settings.local_concurrency
        self._changes: asyncio.Queue[StatusChange] = asyncio.Queue()

    def run_dir(self, run_id: str) -> RunDir:
        return RunDir(self.settings.runs_dir / run_id)

    async def start(self) -> None:
        self.settings.runs_dir.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        """Runs keep going: their supervisors are adopted by the next service start."""

    async def verify(self) -> VerifyReport:
        runs = self.settings.runs_dir
        if not os.access(runs, os.W_OK):
            return VerifyReport(
                ok=False, reason="StorageUnavailable", message=f"{runs} not writable"
            )
        return VerifyReport(ok=True, checks={"runs_dir": str(runs), "slots": str(self.concurrency)})

    async def submit(self, spec: RunSpec) -> RunHandle:
        run = self.run_dir(spec.run_id)
        await asyncio.to_thread(self._prepare, run, spec)
        return RunHandle(
            backend=self.name, eval_id=spec.eval_id, run_id=spec.run_id, name=spec.name
        )

    def _prepare(self, run: RunDir, spec: RunSpec) -> None:
        if run.spec.exists():
            return  # idempotent: already submitted
        for directory in (run.data, run.output):
            directory.mkdir(parents=True, exist_ok=True)
        for relative, content in spec.files.items():
            target = (run.data / relative).resolve()
            if not target.is_relative_to(run.data.resolve()):
                raise BackendError(f"run file {relative!r} escapes /data")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        write_json(run.spec, spec.model_dump(mode="json"))

    async def occupy(self, handle: RunHandle) -> RunState:
        run = self.run_dir(handle.run_id)
        pid, launched = await asyncio.to_thread(self._launch_or_adopt, run)
        if launched:
            self._emit(handle, await asyncio.to_thread(read_state, run))
        if pid is not None:
            await process.wait_for_exit(pid)
        state = await asyncio.to_thread(read_state, run)
        self._emit(handle, state)
        return state

    def _launch_or_adopt(self, run: RunDir) -> tuple[int | None, bool]:
        """Start the supervisor unless one ran already.

        Returns the pid to wait for (None when the run is already over) and whether this call
        launched it.
        """
        lock_fd = run.try_lock()
        if lock_fd is None:
            return self._wait_for_supervisor_pid(run), False  # alive: adopt it
        try:
            if run.exit.exists() or run.supervisor.exists():
                return None, False  # finished (or lost): read_state tells which
            if run.cancel_marker.exists():
                write_json(run.exit, {"cancelled": True, "finished_at": time.time()})
                return None, False
            try:
                self._spawn(run, lock_fd)
            except BudevalError as refusal:  # e.g. a missing secret: the run fails, visibly
                record = {"reason": refusal.reason, "message": refusal.message}
                write_json(run.exit, {**record, "finished_at": time.time()})
                return None, False
        finally:
            os.close(lock_fd)  # the supervisor holds its own copy of the lock from here on
        pid = self._wait_for_supervisor_pid(run)  # running once it has recorded itself
        if pid is None and not run.supervisor.exists():
            errors = run.path.joinpath("supervisor.log").read_text(errors="replace")[-500:]
            message = f"the run supervisor did not start: {errors}"
            write_json(run.exit, {"reason": "LaunchFailed", "message": message})
        return pid, True

    def _spawn(self, run: RunDir, lock_fd: int) -> None:
        spec = RunSpec.model_validate_json(run.spec.read_text())
        write_json(run.launch, launch_document(spec, run, self.settings))
        env = process_environment(spec, run, self.settings, self.secrets)
        with run.path.joinpath("supervisor.log").open("ab") as errors:
            subprocess.Popen(
                [sys.executable, "-m", SUPERVISOR_MODULE, str(run.path), str(lock_fd)],
                cwd=run.path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                pass_fds=(lock_fd,),
                start_new_session=True,
            )

    def _wait_for_supervisor_pid(self, run: RunDir) -> int | None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            document = run.read(run.supervisor)
            if document is not None:
                return int(document["pid"])
            if not run.supervisor_alive():
                return None
            time.sleep(0.01)  # the supervisor writes its pid within milliseconds of starting
        raise BackendError(f"run {run.path.name}: supervisor never reported its pid")

    async def statuses(self, handles: list[RunHandle]) -> dict[str, RunState]:
        def read_all() -> dict[str, RunState]:
            return {h.run_id: read_state(self.run_dir(h.run_id)) for h in handles}

        return await asyncio.to_thread(read_all)

    async def events(self) -> AsyncIterator[StatusChange]:
        while True:
            yield await self._changes.get()

    def _emit(self, handle: RunHandle, state: RunState) -> None:
        self._changes.put_nowait(StatusChange(handle=handle, state=state))

    async def logs(self, handle: RunHandle, *, tail: int | None = None) -> AsyncIterator[str]:
        text = await self.log_tail(handle, tail or 1_000_000)
        for line in text.splitlines(keepends=True):
            yield line

    async def log_tail(self, handle: RunHandle, lines: int) -> str:
        def read() -> str:
            try:
                with self.run_dir(handle.run_id).log.open("rb") as log:
                    log.seek(0, os.SEEK_END)
                    log.seek(max(0, log.tell() - 256 * lines))
                    tail = log.read().decode(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                return ""
            return "\n".join(tail)

        return await asyncio.to_thread(read)

    async def fetch_outputs(self, handle: RunHandle) -> Path:
        return self.run_dir(handle.run_id).output

    async def cancel(self, handle: RunHandle) -> None:
        run = self.run_dir(handle.run_id)
        state = await asyncio.to_thread(self._cancel, run)
        if state is not None:
            self._emit(handle, state)

    def _cancel(self, run: RunDir) -> RunState | None:
        if not run.path.exists() or run.exit.exists():
            return None
        run.cancel_marker.touch()
        lock_fd = run.try_lock()
        if lock_fd is None:  # a live supervisor: it cancels the engine group and records it
            document = run.read(run.supervisor)
            if document is not None:
                process.signal_process(int(document["pid"]), signal.SIGTERM)
            return None
        try:
            if not run.exit.exists():
                engine = run.read(run.engine)
                if engine is not None:  # supervisor lost: stop what may remain of the engine
                    process.signal_group(int(engine["pgid"]), signal.SIGKILL)
                write_json(run.exit, {"cancelled": True, "finished_at": time.time()})
        finally:
            os.close(lock_fd)
        return read_state(run)

    async def cleanup(self, handle: RunHandle) -> None:
        """Cancel if still running, wait for the supervisor to record the end, remove the dir."""
        await self.cancel(handle)
        run = self.run_dir(handle.run_id)
        supervisor = await asyncio.to_thread(run.read, run.supervisor)
        if supervisor is not None and await asyncio.to_thread(run.supervisor_alive):
            grace = self.settings.cancel_grace_seconds + 5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait_for_exit(int(supervisor["pid"])), grace)
        await asyncio.to_thread(shutil.rmtree, run.path, True)
