"""The status relay: backend changes → messages to the waiting evaluation workflows.

A plain asyncio task, not a workflow (a stream cannot be checkpointed). Two sources:
- each backend's `events()` stream (process exits, watch events): forwarded at once;
- one periodic sweep every poll interval for *all* active runs: one batched `statuses()` call per
  backend, a message only to evaluations whose runs changed. This is the seeds' periodic check,
  done once for everybody instead of once per evaluation; it also catches changes that happened
  while the service was down (it runs once right at start-up).
Messages are hints: the woken workflow re-reads the status itself, so duplicates are harmless,
and the idempotency key (run, status) drops most of them before they reach the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from dbos import DBOS, SendMessage
from dbos._error import DBOSNonExistentWorkflowError

from budeval.backends.base import Backend, RunHandle
from budeval.status import RunStatus
from budeval.workflow.models import STATUS_TOPIC
from budeval.workflow.services import Services

log = logging.getLogger(__name__)


def _hint(eval_id: str, run_id: str, status: str) -> SendMessage:
    key = f"{eval_id}:{run_id}:{status}"
    return SendMessage(eval_id, key, STATUS_TOPIC, key)


class StatusRelay:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.sweep()
        for backend in self.services.backends.values():
            self._tasks.append(asyncio.create_task(self._forward(backend)))
        self._tasks.append(asyncio.create_task(self._sweep_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _forward(self, backend: Backend) -> None:
        async for change in backend.events():
            handle = change.handle
            try:
                await self._send([_hint(handle.eval_id, handle.run_id, change.state.status)])
            except Exception:  # a lost hint is caught up by the next sweep; keep forwarding
                log.exception("forwarding a status change of %s failed", handle.run_id)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.services.settings.poll_interval_seconds)
            try:
                await self.sweep()
            except Exception:  # the next sweep tries again; never let the relay die
                log.exception("status sweep failed")

    async def sweep(self) -> int:
        """One status check of every active run; returns how many hints were sent."""
        by_backend, recorded = await asyncio.to_thread(self._work_list)
        hints = []
        for name, handles in by_backend.items():
            states = await self.services.backend(name).statuses(handles)
            hints += [
                _hint(h.eval_id, h.run_id, states[h.run_id].status)
                for h in handles
                if states[h.run_id].status != recorded[h.run_id]
            ]
        await self._send(hints)
        return len(hints)

    def _work_list(self) -> tuple[dict[str, list[RunHandle]], dict[str, RunStatus]]:
        """Active runs by backend, with their recorded status. Built in a worker thread: at
        1,000 runs reading and validating them is a few hundred ms of CPU the event loop (and
        every API request waiting on it) should not sit through in one piece."""
        by_backend: dict[str, list[RunHandle]] = defaultdict(list)
        recorded = {}
        for run in self.services.store.active_runs():
            if run.handle is None:
                continue
            handle = RunHandle.model_validate(run.handle)
            by_backend[handle.backend].append(handle)
            recorded[run.id] = run.status
        return by_backend, recorded

    async def _send(self, hints: list[SendMessage]) -> None:
        if not hints:
            return
        try:
            await DBOS.send_bulk_async(hints)
        except DBOSNonExistentWorkflowError:
            for hint in hints:  # one evaluation without a workflow must not block the others
                with contextlib.suppress(DBOSNonExistentWorkflowError):
                    await DBOS.send_async(
                        hint.destination_id,
                        hint.message,
                        hint.topic,
                        idempotency_key=hint.idempotency_key,
                    )
