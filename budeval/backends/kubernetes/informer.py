"""One watch-fed cache of budeval's Jobs, Pods and PVCs in one (cluster, namespace).

The scale rule of DESIGN.md: the cost of watching must not grow with the number of evaluations.
So there is one LIST + WATCH per kind and namespace (label `app.kubernetes.io/managed-by=budeval`),
whatever the number of runs; `statuses()` answers from this cache, and every change calls
`on_change(job_name)` so the backend can tell the waiting workflow. The watch resumes from the last
resourceVersion it saw; on 410 Gone (an ERROR event or an HTTP 410) it re-LISTs, diffs the cache
(so deletions in the gap are not lost) and watches again. A periodic re-LIST of Jobs and Pods
(one per kind per poll interval) is the poll fallback that heals anything a watch missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import PersistentVolumeClaim, Pod

from budeval.backends.kubernetes.client import http_of, list_raw, retrying, status_code
from budeval.errors import NotFound

log = logging.getLogger(__name__)

SELECTOR = {"app.kubernetes.io/managed-by": "budeval"}
SELECTOR_TEXT = "app.kubernetes.io/managed-by=budeval"
LIST_PATHS = {
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs",
    "Pod": "/api/v1/namespaces/{namespace}/pods",
    "PersistentVolumeClaim": "/api/v1/namespaces/{namespace}/persistentvolumeclaims",
}
JOB_LABEL = "budeval.io/job"
KINDS: dict[str, Any] = {"Job": Job, "Pod": Pod, "PersistentVolumeClaim": PersistentVolumeClaim}
RESYNCED = ("Job", "Pod")
"""PVCs change rarely and only through us or the binder; their watch suffices."""


def job_of(kind: str, obj: dict[str, Any]) -> str | None:
    """The run Job an object belongs to: the Job itself, a Pod's `job-name`, a PVC's label."""
    metadata = obj.get("metadata") or {}
    if kind == "Job":
        return metadata.get("name")
    labels = metadata.get("labels") or {}
    if kind == "Pod":
        return labels.get("job-name") or labels.get("batch.kubernetes.io/job-name")
    return labels.get(JOB_LABEL)


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _after(obj: dict[str, Any], version: str) -> bool:
    """Whether `obj` was written after the snapshot at resourceVersion `version`."""
    mine = _version(obj)
    return mine.isdigit() and version.isdigit() and int(mine) > int(version)


async def _get_raw(client: AsyncClient, path: str) -> dict[str, Any]:
    response = await http_of(client).get(path)
    response.raise_for_status()
    return dict(response.json())


def _newer(candidate: dict[str, Any], current: dict[str, Any] | None) -> bool:
    if current is None:
        return True
    new, old = (o.get("metadata", {}).get("resourceVersion", "") for o in (candidate, current))
    if new.isdigit() and old.isdigit():
        return int(new) >= int(old)
    return True


class Informer:
    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        on_change: Callable[[str], None],
        *,
        resync_seconds: float,
        watch_timeout: int,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.on_change = on_change
        self.resync_seconds = resync_seconds
        self.watch_timeout = watch_timeout
        self.cache: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._index: dict[str, defaultdict[str | None, set[str]]] = {
            kind: defaultdict(set) for kind in KINDS
        }
        """kind → run Job name → object names: a run's view without scanning every object."""
        self._tasks: list[asyncio.Task[None]] = []
        self._started = asyncio.Lock()
        self._changed: dict[str, asyncio.Event] = {}
        self.key = ""
        """The backend's name for this informer (its cluster's fingerprint)."""
        self.users = 0
        """Operations using this informer now: it is not closed under them."""
        self.last_used = time.monotonic()

    def hold(self) -> None:
        self.users += 1
        self.last_used = time.monotonic()

    def release(self) -> None:
        self.users -= 1
        self.last_used = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last operation ended (0 while one is under way)."""
        return 0.0 if self.users else time.monotonic() - self.last_used

    async def start(self) -> None:
        """List every kind once (raises when the cluster is unreachable), then watch."""
        async with self._started:
            if self._tasks:
                return
            versions = {kind: await self.relist(kind) for kind in KINDS}
            for kind, version in versions.items():
                self._tasks.append(asyncio.create_task(self._watch_forever(kind, version)))
            self._tasks.append(asyncio.create_task(self._resync_forever()))

    @property
    def started(self) -> bool:
        return bool(self._tasks)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.client.close()

    async def relist(self, kind: str) -> str:
        """Refresh the cache of `kind` from a LIST; report what changed; return its RV.

        An object the cache holds in a newer version than the LIST's snapshot (written by us or
        seen on the watch after the LIST began) is kept: a slow LIST must not make a Job that
        was just created look deleted.
        """
        path = LIST_PATHS[kind].format(namespace=self.namespace)
        items, version = await retrying(
            lambda: list_raw(self.client, path, SELECTOR_TEXT),
            f"listing {kind}s in {self.namespace}",
        )
        fresh = {item["metadata"]["name"]: item for item in items}
        old = self.cache[kind]
        merged = dict(fresh)
        for name, obj in old.items():
            if name in fresh:
                if not _newer(fresh[name], obj):
                    merged[name] = obj
            elif _after(obj, version):
                merged[name] = obj
        self.cache[kind] = merged
        self._index[kind] = defaultdict(set)
        for name, obj in merged.items():
            self._index[kind][job_of(kind, obj)].add(name)
        for name in set(old) | set(merged):
            if old.get(name) != merged.get(name):
                self._notify(kind, merged.get(name) or old[name])
        return version

    async def confirm(self, job: str) -> None:
        """Ask the API for a Job the cache does not have (a safety net: normally never used)."""
        path = LIST_PATHS["Job"].format(namespace=self.namespace) + f"/{job}"
        try:
            found = await retrying(lambda: _get_raw(self.client, path), f"reading Job {job}")
        except NotFound:
            return
        self.remember("Job", found)

    def remember(self, kind: str, obj: dict[str, Any]) -> None:
        """Take an object we just wrote, before its watch event arrives (so a status question
        asked right after a submit already sees the Job)."""
        if kind in self.cache:
            self._apply(kind, "MODIFIED", obj)

    def _apply(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event == "DELETED":
            self.cache[kind].pop(name, None)
            self._index[kind][job_of(kind, obj)].discard(name)
        elif _newer(obj, self.cache[kind].get(name)):
            self.cache[kind][name] = obj
            self._index[kind][job_of(kind, obj)].add(name)
        else:
            return
        self._notify(kind, obj)

    def _notify(self, kind: str, obj: dict[str, Any]) -> None:
        job = job_of(kind, obj)
        if job is None:
            return
        event = self._changed.pop(job, None)
        if event is not None:
            event.set()
        self.on_change(job)

    async def changed(self, job: str, timeout: float) -> None:
        """Wait until anything about `job` changes (or the timeout passes)."""
        event = self._changed.setdefault(job, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _watch_forever(self, kind: str, version: str) -> None:
        backoff = 0.1
        while True:
            try:
                async for event, obj in self.client.watch(
                    KINDS[kind],
                    namespace=self.namespace,
                    labels=SELECTOR,
                    resource_version=version,
                    server_timeout=self.watch_timeout,
                ):
                    version = obj.metadata.resourceVersion or version
                    if event != "BOOKMARK":
                        self._apply(kind, event, obj.to_dict())
                    backoff = 0.1
            except (ApiError, httpx2.HTTPError) as error:
                if status_code(error) == 410:  # too old: the gap must be re-listed
                    log.info("%s watch in %s expired; re-listing", kind, self.namespace)
                    version = await self._relist_until_ok(kind)
                    continue
                log.warning("%s watch in %s broke (%s); resuming", kind, self.namespace, error)
            except Exception:  # never let a watch die: the cache would silently go stale
                log.exception("%s watch in %s failed; resuming", kind, self.namespace)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _relist_until_ok(self, kind: str) -> str:
        backoff = 0.1
        while True:
            try:
                return await self.relist(kind)
            except Exception as error:
                log.warning("re-listing %ss in %s failed: %s", kind, self.namespace, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            for kind in RESYNCED:
                try:
                    await self.relist(kind)
                except Exception as error:  # the watch may still be fine; try again next time
                    log.warning("resync of %ss in %s failed: %s", kind, self.namespace, error)

    def view(self, job: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict]]:
        """The Job, its Pods and its PVCs, as the API last described them."""
        pods, pvcs = (
            [
                self.cache[kind][name]
                for name in self._index[kind].get(job, ())
                if name in self.cache[kind]
            ]
            for kind in ("Pod", "PersistentVolumeClaim")
        )
        return self.cache["Job"].get(job), pods, pvcs

    def jobs(self) -> set[str]:
        """Every run Job name this cache knows of (through any of its objects)."""
        names = set()
        for kind, objects in self.cache.items():
            names.update(filter(None, (job_of(kind, obj) for obj in objects.values())))
        return names
