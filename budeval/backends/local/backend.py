"""The local backend: runs as supervised processes under `$BUDEVAL_HOME/runs/<run_id>`.

How a run lives: `submit` writes its directory and queues it (status `scheduled`); the dispatcher
starts queued runs in order whenever a slot is free (at submit, and whenever a run ends). Exits are
noticed through pidfds, not polling, and reported on `events()`. After a restart `start` adopts the
live supervisors and re-queues what had not started; the run lock decides, so every run is
launched exactly once.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import shutil
import signal
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

from budeval.backends.base import RunHandle, RunSpec, RunState, StatusChange, VerifyReport
from budeval.backends.local import process
from budeval.backends.local.launcher import Launched, Launcher
from budeval.backends.local.rundir import RunDir, write_json
from budeval.backends.local.slots import Slots
from budeval.backends.local.state import read_state
from budeval.backends.registry import register_backend
from budeval.config import Settings
from budeval.errors import BackendError
from budeval.secrets import LocalSecretStore


@register_backend("local")
class LocalBackend:
    name = "local"

    def __init__(self, settings: Settings, secrets: LocalSecretStore) -> None:
        self.settings = settings
        self.secrets = secrets
        self.slots = Slots(settings.runs_dir / ".slots", settings.local_concurrency)
        self.launcher = Launcher(settings, secrets, self.slots)
        self._queue: deque[RunHandle] = deque()
        self._dispatching = asyncio.Lock()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._changes: asyncio.Queue[StatusChange] = asyncio.Queue()

    def run_dir(self, run_id: str) -> RunDir:
        return RunDir(self.settings.runs_dir / run_id)

    async def start(self) -> None:
        """Adopt running supervisors and re-queue unstarted runs (oldest first)."""
        self.settings.runs_dir.mkdir(parents=True, exist_ok=True)
        found = await asyncio.to_thread(self._scan)
        for handle, pid in found:
            if pid is not None:
                self._watch(handle, pid)
            else:
                self._queue.append(handle)
        await self._dispatch()

    def _scan(self) -> list[tuple[RunHandle, int | None]]:
        runs = []
        for spec_file in sorted(self.settings.runs_dir.glob("*/spec.json"), key=_mtime):
            run = RunDir(spec_file.parent)
            if run.exit.exists():
                continue
            spec = RunSpec.model_validate_json(spec_file.read_text())
            supervisor = run.read(run.supervisor)
            if supervisor is not None and run.supervisor_alive():
                runs.append((self._handle(spec), int(supervisor["pid"])))
            elif supervisor is None:
                runs.append((self._handle(spec), None))
        return runs

    async def stop(self) -> None:
        """Runs keep going: their supervisors are adopted by the next service start."""
        for task in self._watchers.values():
            task.cancel()

    async def verify(self, cluster: str = "default") -> VerifyReport:
        runs = self.settings.runs_dir
        try:
            probe = runs / ".verify"
            probe.touch()
            probe.unlink()
        except OSError as error:
            return VerifyReport(ok=False, reason="StorageUnavailable", message=f"{runs}: {error}")
        slots = f"{self.slots.taken()}/{self.slots.count} taken"
        return VerifyReport(ok=True, checks={"runs_dir": str(runs), "slots": slots})

    def _handle(self, spec: RunSpec) -> RunHandle:
        return RunHandle(
            backend=self.name, eval_id=spec.eval_id, run_id=spec.run_id, name=spec.name
        )

    async def submit(self, spec: RunSpec) -> RunHandle:
        run = self.run_dir(spec.run_id)
        await asyncio.to_thread(self._prepare, run, spec)
        handle = self._handle(spec)
        queued = any(item.run_id == spec.run_id for item in self._queue)
        if not queued and spec.run_id not in self._watchers:
            self._queue.append(handle)
        await self._dispatch()
        return handle

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

    async def _dispatch(self) -> None:
        """Start queued runs, in order, while slots are free."""
        async with self._dispatching:
            while self._queue:
                handle = self._queue[0]
                outcome = await asyncio.to_thread(self.launcher.launch, self.run_dir(handle.run_id))
                if outcome is Launched.NO_SLOT:
                    return
                self._queue.popleft()
                state = await asyncio.to_thread(read_state, self.run_dir(handle.run_id))
                self._emit(handle, state)
                if isinstance(outcome, int):
                    self._watch(handle, outcome)

    def _watch(self, handle: RunHandle, pid: int) -> None:
        self._watchers[handle.run_id] = asyncio.create_task(self._await_exit(handle, pid))

    async def _await_exit(self, handle: RunHandle, pid: int) -> None:
        await process.wait_for_exit(pid)
        self._watchers.pop(handle.run_id, None)
        self._emit(handle, await asyncio.to_thread(read_state, self.run_dir(handle.run_id)))
        await self._dispatch()  # a slot is free

    async def statuses(self, handles: list[RunHandle]) -> dict[str, RunState]:
        def read_all() -> dict[str, RunState]:
            return {h.run_id: read_state(self.run_dir(h.run_id)) for h in handles}

        return await asyncio.to_thread(read_all)

    async def events(self) -> AsyncIterator[StatusChange]:
        while True:
            yield await self._changes.get()

    def _emit(self, handle: RunHandle, state: RunState) -> None:
        self._changes.put_nowait(StatusChange(handle=handle, state=state))

    async def logs(
        self,
        handle: RunHandle,
        *,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncIterator[str]:
        """The lines of `run.log`: all, or the last `tail`; with `follow`, then new lines as they
        are appended (the file is polled every 0.2 s) until the run's exit is recorded.

        `since`: a plain file has no per-line times, so local mode decides at file granularity:
        when the log has not changed for `since` seconds no past line is given, else all of them
        (or the last `tail`) are, which may include older lines. Following is not affected.
        """
        run = self.run_dir(handle.run_id)
        offset = await asyncio.to_thread(run.log_start, tail, since)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        while True:
            ended = not follow or await asyncio.to_thread(run.ended)  # before the last read
            while chunk := await asyncio.to_thread(run.read_log, offset):
                offset += len(chunk)
                *lines, pending = (pending + decoder.decode(chunk)).split("\n")
                for line in lines:
                    yield line + "\n"
            if ended:
                break
            await asyncio.sleep(0.2)
        if rest := pending + decoder.decode(b"", final=True):
            yield rest

    async def log_tail(self, handle: RunHandle, lines: int) -> str:
        return await asyncio.to_thread(self.run_dir(handle.run_id).log_tail, lines)

    async def fetch_outputs(self, handle: RunHandle) -> Path:
        return self.run_dir(handle.run_id).output

    async def cancel(self, handle: RunHandle) -> None:
        self._queue = deque(item for item in self._queue if item.run_id != handle.run_id)
        state = await asyncio.to_thread(self._cancel, self.run_dir(handle.run_id))
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
            run.release(lock_fd)
        return read_state(run)

    async def cleanup(self, handle: RunHandle) -> None:
        """Cancel if still running, wait for the supervisor to record the end, remove the dir."""
        await self.cancel(handle)
        watcher = self._watchers.get(handle.run_id)
        if watcher is not None:
            grace = self.settings.cancel_grace_seconds + 5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watcher), grace)
        await asyncio.to_thread(shutil.rmtree, self.run_dir(handle.run_id).path, True)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime
