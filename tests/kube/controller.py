"""A simulated Job controller: one pod per Job, success/failure conditions, deadline and TTL.

Runs on the server loop and reacts to store events (no polling). State it must remember across
events — which pods it already counted, its timers — lives here, keyed by the Job's uid.
Deciding always re-reads the store, so handling the same event twice is harmless.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from tests.kube import deletion, podstatus
from tests.kube.api import Api
from tests.kube.defaults import generated_name, now_rfc3339
from tests.kube.errors import ApiStatus
from tests.kube.resources import TYPES
from tests.kube.store import Event

log = logging.getLogger(__name__)


def _owner(pod: dict[str, Any]) -> dict[str, Any] | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "Job" and ref.get("controller"):
            return ref
    return None


def finished(job: dict[str, Any]) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"]
    return None


def _condition(kind: str, reason: str = "", message: str = "") -> dict[str, Any]:
    now = now_rfc3339()
    entry = {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        entry |= {"reason": reason, "message": message}
    return entry


class JobController:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.store = api.store
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, str, Event]] = asyncio.Queue()
        self.counted: dict[str, set[str]] = {}
        self.lost: dict[str, int] = {}  # pods deleted before finishing, per job uid
        self.timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.failed_creates: dict[tuple[str, str], str] = {}
        """(namespace, Job) → why its last pod creation was refused (the FailedCreate event)."""
        self.store.subscribe(self._listener)

    def close(self) -> None:
        self.store.unsubscribe(self._listener)
        for timer in self.timers.values():
            timer.cancel()

    def _listener(self, event: Event) -> None:
        if event.plural == "jobs":
            name = event.obj["metadata"]["name"]
        elif event.plural == "pods" and (ref := _owner(event.old or event.obj)):
            name = ref["name"]
        else:
            return
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (event.namespace, name, event))

    async def run(self) -> None:
        while True:
            namespace, name, event = await self.queue.get()
            try:
                with self.store.lock:
                    self._handle(namespace, name, event)
            except Exception:
                log.exception("job controller failed on %s/%s", namespace, name)

    def _handle(self, namespace: str, name: str, event: Event) -> None:
        if event.plural == "jobs" and event.type == "DELETED":
            uid = event.obj["metadata"]["uid"]
            for key in [k for k in self.timers if k[0] == uid]:
                self.timers.pop(key).cancel()
            return
        if event.plural == "pods" and event.type == "DELETED":
            ref, pod = _owner(event.old or event.obj), event.old or event.obj
            counted = self.counted.setdefault(ref["uid"], set())
            if not podstatus.is_terminal(pod) and pod["metadata"]["uid"] not in counted:
                counted.add(pod["metadata"]["uid"])
                self.lost[ref["uid"]] = self.lost.get(ref["uid"], 0) + 1
        self.reconcile(namespace, name)

    def reconcile(self, namespace: str, name: str) -> None:
        with self.store.lock:
            job = self.store.get("jobs", namespace, name)
            if job is None or job["metadata"].get("deletionTimestamp"):
                return
            if finished(job):
                self._ttl_timer(job)
                return
            if (job.get("spec") or {}).get("suspend"):
                return
            self._sync(job)

    def _sync(self, job: dict[str, Any]) -> None:
        meta, spec = job["metadata"], job.get("spec") or {}
        namespace, uid = meta["namespace"], meta["uid"]
        status = copy.deepcopy(job.get("status") or {})
        pods = deletion.owned_pods(self.store, namespace, uid)
        counted = self.counted.setdefault(uid, set())
        succeeded, failed = status.get("succeeded", 0), status.get("failed", 0)
        for pod in pods:
            if podstatus.is_terminal(pod) and pod["metadata"]["uid"] not in counted:
                counted.add(pod["metadata"]["uid"])
                if pod["status"]["phase"] == "Succeeded":
                    succeeded += 1
                else:
                    failed += 1
        failed += self.lost.pop(uid, 0)
        active = [p for p in pods if not podstatus.is_terminal(p)]
        conditions = list(status.get("conditions") or [])
        if succeeded >= int(spec.get("completions") or 1):
            conditions.append(_condition("Complete"))
            status["completionTime"] = now_rfc3339()
        elif failed > int(spec.get("backoffLimit", 6)):
            conditions.append(
                _condition(
                    "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                )
            )
            for pod in active:
                self.store.remove("pods", namespace, pod["metadata"]["name"])
            active = []
        elif not active:
            try:
                active = [self._create_pod(job)]
            except ApiStatus as refused:  # FailedCreate: the real controller only records events
                self.failed_creates[(namespace, meta["name"])] = refused.message
        status.setdefault("startTime", now_rfc3339())
        status.update({"active": len(active), "succeeded": succeeded, "failed": failed, "ready": 0})
        status["uncountedTerminatedPods"] = {}
        if conditions:
            status["conditions"] = conditions
        for field in ("active", "succeeded", "failed"):  # the real API omits zero counts
            if not status[field]:
                del status[field]
        self.store.mutate(
            "jobs", namespace, meta["name"], lambda j: j.__setitem__("status", status)
        )
        self._deadline_timer(job)

    def _create_pod(self, job: dict[str, Any]) -> dict[str, Any]:
        meta, template = job["metadata"], job["spec"]["template"]
        pod_meta = copy.deepcopy(template.get("metadata") or {})
        pod_meta["name"] = generated_name(f"{meta['name']}-")
        pod_meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        body = {"metadata": pod_meta, "spec": copy.deepcopy(template.get("spec") or {})}
        return self.api.create(TYPES["pods"], meta["namespace"], body)

    def _deadline_timer(self, job: dict[str, Any]) -> None:
        seconds = (job.get("spec") or {}).get("activeDeadlineSeconds")
        key = (job["metadata"]["uid"], "deadline")
        if seconds is None or key in self.timers:
            return
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        self.timers[key] = self.loop.call_later(
            float(seconds), self.expire_deadline, namespace, name, job["metadata"]["uid"]
        )

    def _ttl_timer(self, job: dict[str, Any]) -> None:
        seconds = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        key = (job["metadata"]["uid"], "ttl")
        if seconds is None or key in self.timers:
            return
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        self.timers[key] = self.loop.call_later(
            float(seconds), self._ttl_expired, namespace, name, job["metadata"]["uid"]
        )

    def _ttl_expired(self, namespace: str, name: str, uid: str) -> None:
        with self.store.lock:
            job = self.store.get("jobs", namespace, name)
            if job is not None and job["metadata"]["uid"] == uid:
                deletion.delete(self.store, TYPES["jobs"], namespace, name, "Background")

    def expire_deadline(self, namespace: str, name: str, uid: str | None = None) -> bool:
        """Fail the Job with DeadlineExceeded and delete its pods (any thread)."""
        with self.store.lock:
            job = self.store.get("jobs", namespace, name)
            if job is None or finished(job) or (uid and job["metadata"]["uid"] != uid):
                return False
            pods = deletion.owned_pods(self.store, namespace, job["metadata"]["uid"])
            active = [p for p in pods if not podstatus.is_terminal(p)]

            def fail(j: dict[str, Any]) -> None:
                status = j.setdefault("status", {})
                status.pop("active", None)
                if active:
                    status["failed"] = status.get("failed", 0) + len(active)
                status.setdefault("conditions", []).append(
                    _condition(
                        "Failed",
                        "DeadlineExceeded",
                        "Job was active longer than specified deadline",
                    )
                )

            self.store.mutate("jobs", namespace, name, fail)
            for pod in active:
                self.counted.setdefault(job["metadata"]["uid"], set()).add(pod["metadata"]["uid"])
                self.store.remove("pods", namespace, pod["metadata"]["name"])
            return True
