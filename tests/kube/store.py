"""The one in-memory state of the server: objects, the resourceVersion counter, the event history.

Thread-safe (one re-entrant lock; the test thread and the server loop both write). Stored objects
are snapshots that are never mutated after commit, so readers may share them; writers copy first.
Every commit bumps the global resourceVersion, appends an `Event` to a bounded history (watch
replay) and calls the listeners under the lock — listeners must only hand the event on.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.kube.errors import expired
from tests.kube.resources import TYPES


@dataclass(frozen=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    plural: str
    namespace: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    rv: int


Listener = Callable[[Event], None]


class Store:
    def __init__(self, history_limit: int = 10000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {p: {} for p in TYPES}
        self._rv = 0
        self._history: deque[Event] = deque(maxlen=max(1, history_limit))
        self._floor = 0  # every event with rv <= floor has left the history
        self._listeners: list[Listener] = []
        self.applied: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    @property
    def rv(self) -> int:
        with self.lock:
            return self._rv

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self._objects[plural].get((namespace or "", name))

    def list(self, plural: str, namespace: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Snapshots sorted by (namespace, name), and the RV they were read at."""
        with self.lock:
            table = self._objects[plural]
            keys = sorted(k for k in table if namespace is None or k[0] == namespace)
            return [table[k] for k in keys], self._rv

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace; the caller has checked preconditions under `lock`."""
        with self.lock:
            meta = obj["metadata"]
            key = (meta.get("namespace") or "", meta["name"])
            old = self._objects[plural].get(key)
            return self._commit("MODIFIED" if old else "ADDED", plural, key, obj, old)

    def remove(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            key = (namespace or "", name)
            old = self._objects[plural].get(key)
            if old is None:
                return None
            gone = copy.deepcopy(old)
            for k in [k for k in self.applied if k[:3] == (plural, *key)]:
                del self.applied[k]
            return self._commit("DELETED", plural, key, gone, old)

    def mutate(
        self, plural: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Read-modify-write: `change` edits a copy; commits only if something changed."""
        with self.lock:
            current = self.get(plural, namespace, name)
            if current is None:
                return None
            edited = copy.deepcopy(current)
            change(edited)
            if edited == current:
                return current
            return self.put(plural, edited)

    def _commit(
        self,
        kind: str,
        plural: str,
        key: tuple[str, str],
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> dict[str, Any]:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if kind == "DELETED":
            del self._objects[plural][key]
        else:
            self._objects[plural][key] = obj
        event = Event(kind, plural, key[0], obj, old, self._rv)
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)
        self.changed.notify_all()
        return obj

    def subscribe(self, listener: Listener) -> None:
        with self.lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def since(self, rv: int) -> list[Event]:
        """Events after `rv`; 410 Expired when some of them have left the history."""
        with self.lock:
            if rv < self._floor:
                raise expired(f"too old resource version: {rv} ({self._floor})")
            return [e for e in self._history if e.rv > rv]

    def compact(self) -> None:
        """Forget the whole history: any older resourceVersion now gets 410."""
        with self.lock:
            self._history.clear()
            self._floor = self._rv

    def wait(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Block until `predicate()` is truthy; return it.

        Re-checked after every commit, and every 50 ms for conditions outside the store.
        """
        deadline = time.monotonic() + timeout
        with self.changed:
            while not (result := predicate()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s")
                self.changed.wait(min(left, 0.05))
        return result
