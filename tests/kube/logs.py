"""Container logs per pod: written by the test (manual kubelet) or by a running process.

Readers filter by `tailLines`, `sinceSeconds` and prefix `timestamps`; followers wait on
asyncio events that writers (any thread) and pod status changes set through `wake()`.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import AsyncIterator, Callable


def _stamp(ts: float) -> str:
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class PodLogs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self._partial: dict[tuple[str, str], str] = {}
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def set(self, namespace: str, pod: str, text: str) -> None:
        with self._lock:
            self._lines[(namespace, pod)] = []
            self._partial.pop((namespace, pod), None)
        self.append(namespace, pod, text)

    def append(self, namespace: str, pod: str, text: str) -> None:
        now = time.time()
        with self._lock:
            key = (namespace, pod)
            lines = self._lines.setdefault(key, [])
            pending = self._partial.pop(key, "") + text
            *complete, rest = pending.split("\n")
            lines.extend((now, item + "\n") for item in complete)
            if rest:
                self._partial[key] = rest
        self.wake()

    def flush(self, namespace: str, pod: str) -> None:
        """End an unterminated last line (the process exited)."""
        with self._lock:
            rest = self._partial.pop((namespace, pod), "")
            if rest:
                self._lines.setdefault((namespace, pod), []).append((time.time(), rest + "\n"))
        self.wake()

    def forget(self, namespace: str, pod: str) -> None:
        with self._lock:
            self._lines.pop((namespace, pod), None)
            self._partial.pop((namespace, pod), None)
        self.wake()

    def has(self, namespace: str, pod: str) -> bool:
        with self._lock:
            return (namespace, pod) in self._lines

    def text(self, namespace: str, pod: str) -> str:
        with self._lock:
            return "".join(item for _, item in self._lines.get((namespace, pod), []))

    def _select(
        self, namespace: str, pod: str, start: int, tail: int | None, since: float | None
    ) -> tuple[list[tuple[float, str]], int]:
        with self._lock:
            lines = self._lines.get((namespace, pod), [])
            end = len(lines)
            chosen = lines[start:end]
        if since is not None:
            chosen = [item for item in chosen if item[0] >= time.time() - since]
        if tail is not None:
            chosen = chosen[-tail:] if tail > 0 else []
        return chosen, end

    def read(
        self,
        namespace: str,
        pod: str,
        tail: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> str:
        chosen, _ = self._select(namespace, pod, 0, tail, since)
        return "".join(_render(item, timestamps) for item in chosen)

    def wake(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def follow(
        self,
        namespace: str,
        pod: str,
        finished: Callable[[], bool],
        tail: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]:
        """Existing lines, then new ones as they come, until `finished()` and drained."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            chosen, position = self._select(namespace, pod, 0, tail, since)
            while True:
                if chosen:
                    yield "".join(_render(item, timestamps) for item in chosen).encode()
                done = finished()
                chosen, position = self._select(namespace, pod, position, None, None)
                if chosen:
                    continue
                if done:
                    return
                await waiter[1].wait()
                waiter[1].clear()
                chosen, position = self._select(namespace, pod, position, None, None)
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def _render(item: tuple[float, str], timestamps: bool) -> str:
    return f"{_stamp(item[0])} {item[1]}" if timestamps else item[1]
