"""The orphan collector: removes cluster objects of evaluations that ended long ago.

Runs' objects normally go with `DELETE /evals/cleanup/{job_id}`; this catches those nobody
cleaned. Every `retention / 4` it asks each backend that can list what it manages
(`managed_runs()`), and removes the objects of runs whose evaluation is terminal and finished
more than `kube_retention_seconds` ago. Objects of evaluations this service does not know are
left alone: another budeval may share the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

from budeval.backends.base import RunHandle
from budeval.errors import NotFound
from budeval.workflow import commands
from budeval.workflow.services import Services

log = logging.getLogger(__name__)


class OrphanCollector:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if any(hasattr(b, "managed_runs") for b in self.services.backends.values()):
            self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        interval = max(self.services.settings.kube_retention_seconds / 4, 1.0)
        while True:
            try:
                await self.collect()
            except Exception:  # try again next time; never let the collector die
                log.exception("orphan collection failed")
            await asyncio.sleep(interval)

    async def collect(self) -> int:
        """One pass; returns how many runs' objects were removed."""
        retention = self.services.settings.kube_retention_seconds
        removed = 0
        for backend in self.services.backends.values():
            if not hasattr(backend, "managed_runs"):
                continue
            by_eval: dict[str, list[RunHandle]] = defaultdict(list)
            for handle in await backend.managed_runs():
                by_eval[handle.eval_id].append(handle)
            for eval_id, handles in by_eval.items():
                try:
                    record = await asyncio.to_thread(self.services.store.get_evaluation, eval_id)
                except NotFound:
                    continue
                finished = record.finished_at.timestamp() if record.finished_at else None
                if not record.status.terminal or finished is None:
                    continue
                if time.time() - finished < retention:
                    continue
                for handle in handles:
                    await backend.cleanup(handle)
                    removed += 1
                await asyncio.to_thread(self.services.store.mark_cleaned, eval_id)
                commands.forget_request_cluster(self.services, record.spec)
                log.info("collected the objects of %s (%d runs)", eval_id, len(handles))
        return removed
