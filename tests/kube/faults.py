"""Fault-injection knobs and request counters, both safe to use from the test thread.

`Faults.decide()` is asked once per non-watch request and answers None (serve it), ("error",
status) or ("timeout", delay). The random draws come from a seeded `random.Random`, so a given
sequence of requests meets the same faults on every run. Stream faults (drop/expire watches) and
history compaction are delegated to callables the server installs.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.error_rate = 0.0  # fraction of non-watch requests that fail
        self.timeout_fraction = 0.0  # of those failures, the fraction that are timeouts
        self.timeout_delay = 1.0  # seconds a "timeout" holds the request before answering 504
        self.error_status = 500
        self._fail_next: list[int] = []
        self.on_drop: Callable[[], int] = lambda: 0
        self.on_expire: Callable[[], int] = lambda: 0
        self.on_compact: Callable[[], None] = lambda: None
        self.unreachable_nodes: set[str] = set()
        """Nodes whose kubelet the API server cannot reach: their pods' logs answer 500."""
        self.unreachable_pods: set[tuple[str, str]] = set()
        """(namespace, pod) whose log answers 500 as if its node were unreachable."""

    def seed(self, seed: int) -> None:
        with self._lock:
            self._random = random.Random(seed)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next `n` non-watch requests answer `status` (a Status body)."""
        with self._lock:
            self._fail_next.extend([status] * n)

    def clear(self) -> None:
        with self._lock:
            self._fail_next.clear()
            self.error_rate = 0.0
            self.timeout_fraction = 0.0

    def kubelet_unreachable(self, namespace: str, pod: str, node: str | None) -> bool:
        with self._lock:
            return (namespace, pod) in self.unreachable_pods or (
                node is not None and node in self.unreachable_nodes
            )

    def decide(self) -> tuple[str, float] | None:
        with self._lock:
            if self._fail_next:
                return ("error", self._fail_next.pop(0))
            if self.error_rate <= 0 or self._random.random() >= self.error_rate:
                return None
            if self._random.random() < self.timeout_fraction:
                return ("timeout", self.timeout_delay)
            return ("error", self.error_status)

    def drop_watches(self) -> int:
        """Close every open watch stream abruptly; returns how many."""
        return self.on_drop()

    def expire_watches(self) -> int:
        """Every open watch sends a 410 Expired ERROR event and closes; returns how many."""
        return self.on_expire()

    def compact(self) -> None:
        """Forget the event history so watches from older resourceVersions get 410."""
        self.on_compact()


class RequestCounter:
    """Counts requests by (verb, resource); watches are counted apart from the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, verb: str, resource: str) -> None:
        with self._lock:
            self._counts[(verb, resource)] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def __getitem__(self, key: tuple[str, str]) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    @property
    def total(self) -> int:
        """Every request except watches."""
        with self._lock:
            return sum(n for (verb, _), n in self._counts.items() if verb != "watch")

    @property
    def watches(self) -> int:
        with self._lock:
            return sum(n for (verb, _), n in self._counts.items() if verb == "watch")
