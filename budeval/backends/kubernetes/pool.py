"""The open informers, and which of them may close (issue: request kubeconfigs leaked watches).

An informer costs three watches and an HTTP client's connections for as long as it is open. The
default cluster's stays open for the service's life (collection and most runs use it); any other
(a request kubeconfig's, a registered cluster's) closes once no live run needs it — no run on it
is known to be non-terminal, no operation holds it — and it has been idle for
`kube_informer_idle_seconds`. The next question about one of its runs opens it again, which is
also how a restarted service picks its runs up.
"""

from __future__ import annotations

import asyncio
import time

from budeval.backends.kubernetes.clusters import DEFAULT_CLUSTER, ClusterConfig
from budeval.backends.kubernetes.informer import Informer
from budeval.status import RunStatus


class InformerPool:
    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self.informers: dict[str, Informer] = {}
        self.clusters: dict[str, ClusterConfig] = {}
        self.lock = asyncio.Lock()
        self._live: dict[str, set[str]] = {}
        """fingerprint → Jobs of runs not known to be terminal: their informer stays open."""
        self._pinned: set[str] = set()

    def opened(self, cluster_key: str, informer: Informer, *, hold: bool) -> None:
        """Note a use of `informer` (under `lock`); `hold` keeps it open until `release()`."""
        if cluster_key == DEFAULT_CLUSTER:
            self._pinned.add(informer.key)
        if hold:
            informer.hold()
        else:
            informer.last_used = time.monotonic()

    def track(self, key: str, job: str, status: RunStatus | None) -> None:
        """A run's last known status (None: just submitted) keeps its informer open or not."""
        live = self._live.setdefault(key, set())
        if status is None or not status.terminal:
            live.add(job)
        else:
            live.discard(job)

    def forget(self, key: str, job: str) -> None:
        self._live.get(key, set()).discard(job)

    async def close_idle(self) -> list[str]:
        """Close every informer no live run needs; returns their keys."""
        closing = []
        async with self.lock:
            for key, informer in list(self.informers.items()):
                if key in self._pinned or self._live.get(key) or informer.users:
                    continue
                if informer.idle_for() > self.idle_seconds:
                    closing.append(self.informers.pop(key))
                    self.clusters.pop(key, None)
                    self._live.pop(key, None)
        for informer in closing:
            await informer.stop()
        return [informer.key for informer in closing]

    async def close_all(self) -> None:
        for informer in self.informers.values():
            await informer.stop()
        self.informers.clear()
