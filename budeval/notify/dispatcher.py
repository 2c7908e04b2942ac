"""Delivers outbox events to the sinks, after the transaction that wrote them committed.

Events are marked delivered only after every sink took them, so a crash re-delivers (at least
once); receivers deduplicate by the CloudEvent id. Sinks must never raise for one bad event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from budeval.events.models import CloudEvent
from budeval.store import Store

log = logging.getLogger(__name__)


class Sink(Protocol):
    name: str

    async def deliver(self, events: list[CloudEvent]) -> None: ...


class LogSink:
    """Writes each event as one JSON line on the `budeval.events` logger."""

    name = "log"

    def __init__(self) -> None:
        self.logger = logging.getLogger("budeval.events")

    async def deliver(self, events: list[CloudEvent]) -> None:
        for event in events:
            self.logger.info(event.model_dump_json())


class OutboxDispatcher:
    def __init__(self, store: Store, sinks: list[Sink], interval: float = 0.5) -> None:
        self.store = store
        self.sinks = sinks
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                while await self.deliver_once():
                    pass
            except Exception:
                log.exception("event delivery failed; will retry")
            await asyncio.sleep(self.interval)

    async def deliver_once(self, batch: int = 200) -> int:
        records = await asyncio.to_thread(self.store.undelivered_events, batch)
        if not records:
            return 0
        events = [record.to_cloudevent() for record in records]
        for sink in self.sinks:
            await sink.deliver(events)
        await asyncio.to_thread(self.store.mark_delivered, [record.id for record in records])
        return len(records)
