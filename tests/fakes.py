"""An in-memory backend for workflow tests, faithful to the contract in `backends/base.py`.

Submit is idempotent; statuses are batched; every change is announced on `events()`; cancel of a
finished run is a no-op. Tests drive runs with `set_state` and inject faults with the `fail_*`
counters or `fail`, which makes a method raise what a real backend raises (TransientError for a
5xx or a timeout, PermanentError for a refusal, or an unexpected exception for a bug). Product code
never imports this module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

from budeval.backends.base import RunHandle, RunSpec, RunState, StatusChange, VerifyReport
from budeval.config import Settings
from budeval.engines.registry import default_registry
from budeval.errors import BackendError, TransientError
from budeval.secrets import LocalSecretStore
from budeval.status import RunStatus
from budeval.store import open_store
from budeval.workflow.services import Services


class FakeBackend:
    name = "fake"

    def __init__(self, outputs: Path) -> None:
        self.outputs = outputs
        self.specs: dict[str, RunSpec] = {}
        self.states: dict[str, RunState] = {}
        self.submissions: dict[str, int] = {}
        self.status_calls = 0
        self.fail_statuses = 0
        """The next N `statuses` calls raise TransientError."""
        self.refuse_submit: str | None = None
        self.verify_report = VerifyReport(ok=True)
        self.cancelled: list[str] = []
        self.log_lines = ["fake log\n"]
        self.log_requests: list[dict[str, object]] = []
        self.refuse_logs: str | None = None
        """`logs` raises BackendError with this message (before its first line)."""
        self.faults: list[tuple[str, str | None, BaseException]] = []
        self._changes: asyncio.Queue[StatusChange] = asyncio.Queue()

    def fail(
        self, method: str, error: BaseException, *, times: int = 1, run_id: str | None = None
    ) -> None:
        """The next `times` calls of `method` (for `run_id`, or any run) raise `error`."""
        self.faults += [(method, run_id, error)] * times

    def _fault(self, method: str, run_id: str | None = None) -> None:
        for index, (name, only, error) in enumerate(self.faults):
            if name == method and only in (None, run_id):
                del self.faults[index]
                raise error

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def verify(self, cluster: str = "default") -> VerifyReport:
        return self.verify_report

    async def submit(self, spec: RunSpec) -> RunHandle:
        if self.refuse_submit:
            raise BackendError(self.refuse_submit, reason="Forbidden")
        self.submissions[spec.run_id] = self.submissions.get(spec.run_id, 0) + 1
        if spec.run_id not in self.specs:
            self.specs[spec.run_id] = spec
            self.states[spec.run_id] = RunState(status=RunStatus.SCHEDULED)
        return self.handle(spec.run_id)

    def handle(self, run_id: str) -> RunHandle:
        spec = self.specs[run_id]
        return RunHandle(backend=self.name, eval_id=spec.eval_id, run_id=run_id, name=spec.name)

    async def statuses(self, handles: list[RunHandle]) -> dict[str, RunState]:
        self.status_calls += 1
        if self.fail_statuses > 0:
            self.fail_statuses -= 1
            raise TransientError("fake API unavailable", reason="Unavailable", retry_after=0)
        self._fault("statuses")
        return {handle.run_id: self.states[handle.run_id] for handle in handles}

    def set_state(self, run_id: str, status: RunStatus, **fields: object) -> None:
        """Move a run (as a cluster would) and announce it."""
        state = RunState(status=status, **fields)  # type: ignore[arg-type]
        self.states[run_id] = state
        self._changes.put_nowait(StatusChange(handle=self.handle(run_id), state=state))

    def finish(self, run_id: str, score: float) -> None:
        output = self.outputs / run_id
        output.mkdir(parents=True, exist_ok=True)
        (output / "smoke-results.json").write_text(
            f'{{"metric": "score", "value": {score}, "n_samples": 3}}'
        )
        self.set_state(run_id, RunStatus.SUCCEEDED, exit_code=0, finished_at=time.time())

    async def events(self) -> AsyncIterator[StatusChange]:
        while True:
            yield await self._changes.get()

    async def logs(
        self,
        handle: RunHandle,
        *,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncIterator[str]:
        self.log_requests.append({"tail": tail, "since": since, "follow": follow})
        if self.refuse_logs:
            raise BackendError(self.refuse_logs, reason="LogsUnavailable")
        for line in self.log_lines[-tail:] if tail else self.log_lines:
            yield line

    async def log_tail(self, handle: RunHandle, lines: int) -> str:
        self._fault("log_tail", handle.run_id)
        return "fake log"

    async def fetch_outputs(self, handle: RunHandle) -> Path:
        self._fault("fetch_outputs", handle.run_id)
        return self.outputs / handle.run_id

    async def cancel(self, handle: RunHandle) -> None:
        self._fault("cancel", handle.run_id)
        if not self.states[handle.run_id].status.terminal:
            self.cancelled.append(handle.run_id)
            self.set_state(handle.run_id, RunStatus.CANCELLED, reason="Cancelled")

    async def cleanup(self, handle: RunHandle) -> None:
        self.states.pop(handle.run_id, None)


def fake_services(settings: Settings) -> tuple[Services, FakeBackend]:
    """Real store, engines and secret store around an in-memory backend named `fake`."""
    settings.ensure_dirs()
    backend = FakeBackend(settings.home / "outputs")
    services = Services(
        settings=settings,
        store=open_store(settings.store_url),
        engines=default_registry(),
        backends={"fake": backend},  # type: ignore[dict-item]
        secrets=LocalSecretStore(settings.secrets_dir),
    )
    return services, backend
