"""Watch streams: replay from a resourceVersion, live events, selector transitions, bookmarks.

A `Watch` subscribes to the store under its lock at the moment it reads the replay (history after
the given RV, or synthetic ADDED for the current objects), so no event is lost or doubled. Events
then flow through an asyncio queue on the server loop. Control signals — drop (abrupt close),
expire (410 ERROR event), close (clean end) — go through the same queue, from any thread.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from tests.kube.errors import ApiStatus, expired
from tests.kube.resources import ResourceType
from tests.kube.selectors import Predicate
from tests.kube.store import Event, Store

DROP, EXPIRE, CLOSE = "drop", "expire", "close"


def line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


class Watch:
    def __init__(
        self,
        store: Store,
        rtype: ResourceType,
        namespace: str | None,
        match: Predicate,
        bookmarks: bool = False,
        bookmark_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.rtype = rtype
        self.namespace = namespace
        self.match = match
        self.bookmarks = bookmarks
        self.bookmark_interval = bookmark_interval
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event | str] = asyncio.Queue()
        self.last_rv = 0
        self.expired = False

    def signal(self, what: str) -> None:
        """Thread-safe: drop, expire or close this stream."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, what)

    def _listener(self, event: Event) -> None:
        if event.plural == self.rtype.plural:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    def _start(self, resource_version: str | None) -> list[bytes]:
        """Subscribe and return the replay lines (raises 410 for a too old resourceVersion)."""
        with self.store.lock:
            if resource_version in (None, "", "0"):
                items, rv = self.store.list(self.rtype.plural, self.namespace)
                replay = [line("ADDED", i) for i in items if self.match(i)]
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise ApiStatus(400, "BadRequest", "invalid resourceVersion") from None
                events = [e for e in self.store.since(since) if e.plural == self.rtype.plural]
                rv = max(since, self.store.rv)
                replay = [out for e in events if (out := self.convert(e)) is not None]
            self.last_rv = rv
            self.store.subscribe(self._listener)
        return replay

    def convert(self, event: Event) -> bytes | None:
        if self.namespace is not None and event.namespace != self.namespace:
            return None
        if event.type == "ADDED":
            return line("ADDED", event.obj) if self.match(event.obj) else None
        if event.type == "DELETED":
            return line("DELETED", event.obj) if self.match(event.obj) else None
        now_ok = self.match(event.obj)
        was_ok = event.old is not None and self.match(event.old)
        if now_ok:
            return line("MODIFIED" if was_ok else "ADDED", event.obj)
        if was_ok:  # left the selection: the real cacher sends the old object, at the new RV
            old = copy.deepcopy(event.old)
            old["metadata"]["resourceVersion"] = str(event.rv)
            return line("DELETED", old)
        return None

    def _bookmark(self) -> bytes:
        obj = {
            "kind": self.rtype.kind,
            "apiVersion": self.rtype.api_version,
            "metadata": {"resourceVersion": str(self.last_rv)},
        }
        return line("BOOKMARK", obj)

    def close(self) -> None:
        self.store.unsubscribe(self._listener)

    def open(self, resource_version: str | None) -> list[bytes]:
        """Subscribe; the replay lines, or one 410 ERROR line (then the stream must end)."""
        try:
            return self._start(resource_version)
        except ApiStatus as error:
            if error.code != 410:
                raise
            self.expired = True
            return [line("ERROR", error.body())]

    async def lines(
        self, replay: list[bytes], timeout: float | None
    ) -> AsyncIterator[bytes | None]:
        """The stream after `open`; a final None means: close the connection abruptly."""
        try:
            for out in replay:
                yield out
            if self.expired:
                return
            async for out in self._live(timeout):
                yield out
        finally:
            self.store.unsubscribe(self._listener)

    async def _live(self, timeout: float | None) -> AsyncIterator[bytes | None]:
        now = self.loop.time()
        deadline = now + timeout if timeout else None
        next_bookmark = now + self.bookmark_interval if self.bookmarks else None
        while True:
            wakeups = [t for t in (deadline, next_bookmark) if t is not None]
            wait = max(0.0, min(wakeups) - self.loop.time()) if wakeups else None
            try:
                item = await asyncio.wait_for(self.queue.get(), wait)
            except TimeoutError:
                if deadline is not None and self.loop.time() >= deadline:
                    return
                yield self._bookmark()
                next_bookmark = self.loop.time() + self.bookmark_interval
                continue
            if item == DROP:
                yield None
                return
            if item == EXPIRE:
                yield line("ERROR", expired(f"too old resource version: {self.last_rv}").body())
                return
            if item == CLOSE:
                return
            assert isinstance(item, Event)
            self.last_rv = item.rv
            out = self.convert(item)
            if out is not None:
                yield out


class WatchHub:
    """The open watches, so faults and shutdown can reach them from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[Watch] = set()

    def add(self, watch: Watch) -> None:
        with self._lock:
            self._active.add(watch)

    def discard(self, watch: Watch) -> None:
        with self._lock:
            self._active.discard(watch)

    def signal_all(self, what: str) -> int:
        with self._lock:
            active = list(self._active)
        for watch in active:
            watch.signal(what)
        return len(active)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._active)
