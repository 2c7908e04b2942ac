"""`KubeApiServer`: the test double's public face — a thread running uvicorn and the actors.

Everything a test needs is a method here, callable from the test thread: kubeconfig, fault
knobs, request counts, kubelet transitions, object inspection and blocking waits. The server
loop (its own thread) serves HTTP and runs the job controller, PVC binder and kubelet.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import uvicorn

from tests.kube import deletion
from tests.kube.app import App
from tests.kube.cluster import Cluster
from tests.kube.controller import JobController, finished
from tests.kube.faults import Faults, RequestCounter
from tests.kube.kubelet import Kubelet
from tests.kube.resources import TYPES, ResourceType
from tests.kube.runner import PodRunner
from tests.kube.selectors import labels_match
from tests.kube.store import Store
from tests.kube.watch import CLOSE
from tests.kube.workload import WorkloadMixin


class _QuietDrops(logging.Filter):
    """Dropped watches end their responses on purpose; uvicorn need not report each one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


_QUIET_DROPS = _QuietDrops()


def resource_type(kind: str) -> ResourceType:
    """By plural ("jobs"), kind ("Job") or short name ("pvc")."""
    if kind in TYPES:
        return TYPES[kind]
    for rtype in TYPES.values():
        if kind.lower() in (rtype.kind.lower(), rtype.singular, *rtype.short_names):
            return rtype
    raise KeyError(f"unknown resource {kind!r}")


class KubeApiServer(WorkloadMixin):
    def __init__(
        self,
        *,
        kubelet_mode: str = "manual",
        history_limit: int = 10000,
        bookmark_interval: float = 1.0,
        seed: int = 0,
        root: Path | None = None,
    ) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="kube-test-")
        self.root = Path(root or self._tmp.name)  # type: ignore[union-attr]
        self.cluster = Cluster(self.root, history_limit, seed)
        self.cluster.bookmark_interval = bookmark_interval
        self.kubelet = Kubelet(self.cluster, kubelet_mode)
        self.controller: JobController | None = None
        self.port = 0
        self._thread: threading.Thread | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, namespace: str | None = None, pod: str | None = None) -> Any:
        """`start()` starts the server; `start(ns, pod)` is the kubelet's "container running"."""
        if namespace is not None:
            return self.kubelet.start(namespace, pod or "")
        if self._thread is not None:
            return self
        logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)  # idempotent
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._thread_main, args=(sock,), name="kube-api-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise RuntimeError(f"kube test server failed to start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self.cluster.stopping = True
        self.cluster.hub.signal_all(CLOSE)
        self.cluster.logs.wake()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        self._thread.join(timeout=15)
        self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main(sock))
        except BaseException as error:
            self._error = error
        finally:
            self._ready.set()
            loop.close()

    async def _main(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self.controller = JobController(self.cluster.api)
        self.cluster.attach(loop)
        runner = PodRunner(self.cluster, self.kubelet, self.root)
        self.kubelet.attach(loop, runner)
        controller_task = loop.create_task(self.controller.run())
        config = uvicorn.Config(
            App(self.cluster),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._uvicorn = uvicorn.Server(config)
        serving = loop.create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started and not serving.done():
            await asyncio.sleep(0.01)
        self._ready.set()
        try:
            await serving
        finally:
            self.controller.close()
            self.kubelet.close()
            self.cluster.volumes.close()
            controller_task.cancel()
            await runner.close()
            await asyncio.gather(controller_task, return_exceptions=True)
            sock.close()

    # -- connection -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, namespace: str = "budeval", token: str = "test-token") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-test", "cluster": {"server": self.url}}],
            "users": [{"name": "kube-test", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "kube-test",
                    "context": {
                        "cluster": "kube-test",
                        "user": "kube-test",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "kube-test",
        }

    # -- knobs ------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.cluster.store

    @property
    def faults(self) -> Faults:
        return self.cluster.faults

    @property
    def requests(self) -> RequestCounter:
        return self.cluster.requests

    def reset_counts(self) -> None:
        self.cluster.requests.reset()

    def compact(self) -> None:
        self.cluster.faults.compact()

    def drop_watches(self) -> int:
        return self.cluster.faults.drop_watches()

    def expire_watches(self) -> int:
        return self.cluster.faults.expire_watches()

    @property
    def open_watches(self) -> int:
        return self.cluster.hub.count

    @property
    def bookmark_interval(self) -> float:
        return self.cluster.bookmark_interval

    @bookmark_interval.setter
    def bookmark_interval(self, seconds: float) -> None:
        self.cluster.bookmark_interval = seconds

    def deny(self, verb: str, resource: str, group: str = "") -> None:
        self.cluster.access.deny(verb, resource, group)

    def allow(self, verb: str, resource: str, group: str = "") -> None:
        self.cluster.access.allow(verb, resource, group)

    def grant_only(self, rules: Iterable[tuple[str, str, Iterable[str]]] | None) -> None:
        """Enforce RBAC with exactly these (group, resource, verbs) rules (None: allow all)."""
        self.cluster.access.grant_only(rules)

    @property
    def used_permissions(self) -> set[tuple[str, str, str]]:
        """Every (verb, group, resource) a request has needed since start (or the last reset)."""
        return self.cluster.access.used

    @property
    def refused_permissions(self) -> set[tuple[str, str, str]]:
        return self.cluster.access.refused

    def reset_used_permissions(self) -> None:
        self.cluster.access.reset_used()

    # -- objects ----------------------------------------------------------------------------
    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        found = self.cluster.store.get(resource_type(kind).plural, namespace or "", name)
        return copy.deepcopy(found)

    def objects(
        self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        items, _ = self.cluster.store.list(resource_type(kind).plural, namespace)
        return [
            copy.deepcopy(i) for i in items if labels_match(i["metadata"].get("labels"), labels)
        ]

    def create(self, kind: str, body: dict[str, Any], namespace: str = "budeval") -> dict:
        rtype = resource_type(kind)
        return copy.deepcopy(
            self.cluster.api.create(rtype, namespace if rtype.namespaced else "", body)
        )

    def delete(
        self, kind: str, namespace: str | None, name: str, propagation: str | None = None
    ) -> dict[str, Any]:
        rtype = resource_type(kind)
        return deletion.delete(self.cluster.store, rtype, namespace or "", name, propagation)

    def wait(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate()` is truthy, re-checked after every change; return it."""
        return self.cluster.store.wait(predicate, timeout)

    async def until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """`wait` for async tests (runs in a worker thread, so the test's loop keeps going)."""
        return await asyncio.to_thread(self.wait, predicate, timeout)

    def pods(self, namespace: str, job: str | None = None) -> list[dict[str, Any]]:
        return self.objects("pods", namespace, {"job-name": job} if job else None)

    def wait_for_pod(
        self, namespace: str, job: str, timeout: float = 10.0, exclude: Iterable[str] = ()
    ) -> str:
        """The name of the Job's newest live pod (not in `exclude`), waiting for it to exist."""
        skip = set(exclude)

        def live() -> str | None:
            pods = [p for p in self.pods(namespace, job) if p["metadata"]["name"] not in skip]
            pods.sort(key=lambda p: p["metadata"]["creationTimestamp"])
            active = [p for p in pods if p["status"].get("phase") in ("Pending", "Running")]
            chosen = (active or pods)[-1:]
            return chosen[0]["metadata"]["name"] if chosen else None

        return self.wait(live, timeout)

    async def await_pod(
        self, namespace: str, job: str, timeout: float = 10.0, exclude: Iterable[str] = ()
    ) -> str:
        return await asyncio.to_thread(self.wait_for_pod, namespace, job, timeout, exclude)

    def wait_for_job(self, namespace: str, job: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the Job has a Complete or Failed condition; return it."""

        def done() -> dict[str, Any] | None:
            found = self.get("jobs", namespace, job)
            return found if found and finished(found) else None

        return self.wait(done, timeout)

    def expire_deadline(self, namespace: str, job: str) -> bool:
        assert self.controller is not None, "server not started"
        return self.controller.expire_deadline(namespace, job)

    def failed_create(self, namespace: str, job: str) -> str | None:
        """Why the Job's last pod creation was refused (its FailedCreate event), if it was."""
        assert self.controller is not None, "server not started"
        return self.controller.failed_creates.get((namespace, job))
