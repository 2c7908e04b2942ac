"""The Kubernetes backend: each run a Job (+ Secret, ConfigMap, two PVCs), watched, not polled.

submit applies the run's objects with server-side apply (field manager `budeval`), so submitting
again after a crash adopts what exists instead of duplicating it. Status comes from one informer
per (cluster, namespace) — see informer.py — and every change that moves a run is put on the
`events()` stream for the relay. A run's final word is also written onto its output PVC
(annotations), because the Job may be gone (TTL, cancel, a pod-level failure we stopped) while the
evaluation still needs to know how the run ended and its results are still on that volume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from budeval.backends.base import RunHandle, RunSpec, RunState, StatusChange, VerifyReport
from budeval.backends.kubernetes import manifests, objects, outcome, podstate
from budeval.backends.kubernetes.client import connect
from budeval.backends.kubernetes.clusters import ClusterDirectory
from budeval.backends.kubernetes.informer import Informer
from budeval.backends.kubernetes.podlogs import run_log
from budeval.backends.kubernetes.pool import InformerPool
from budeval.backends.kubernetes.results import fetch_results
from budeval.backends.kubernetes.verify import verify_cluster
from budeval.backends.registry import register_backend
from budeval.config import Settings
from budeval.errors import BackendError, Conflict, NotFound, PermanentError
from budeval.secrets import LocalSecretStore
from budeval.status import RunStatus

log = logging.getLogger(__name__)
BACKEND = "kubernetes"


class KubernetesBackend:
    name = BACKEND

    def __init__(self, settings: Settings, secrets: LocalSecretStore) -> None:
        self.settings = settings
        self.secrets = secrets
        self.directory = ClusterDirectory(settings, secrets)
        self.pool = InformerPool(settings.kube_informer_idle_seconds)
        self._informers = self.pool.informers
        self._clusters = self.pool.clusters
        self._lock = self.pool.lock
        self._changes: asyncio.Queue[StatusChange] = asyncio.Queue()
        self._reported: dict[tuple[str, str], RunStatus] = {}
        self._marking: set[tuple[str, str]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._verified: dict[str, tuple[float, VerifyReport]] = {}
        self._reaping = False

    async def start(self) -> None:
        """Nothing to do up front: informers start with the first run of each namespace."""

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await self.pool.close_all()

    # -- clusters -------------------------------------------------------------------------------

    async def informer(self, cluster_key: str, *, hold: bool = False) -> Informer:
        """The (started) informer of a run's cluster and namespace, shared by same credentials;
        with `hold`, held for the caller (who must `release()` it) so it is not closed under it."""
        cluster = await asyncio.to_thread(self.directory.resolve, cluster_key)
        async with self._lock:
            informer = self._informers.get(cluster.fingerprint)
            if informer is None:
                client = connect(cluster, self.settings.kube_request_timeout_seconds)
                informer = Informer(
                    client,
                    cluster.namespace,
                    lambda job, key=cluster.fingerprint: self._on_change(key, job),
                    resync_seconds=self.settings.poll_interval_seconds,
                    watch_timeout=self.settings.kube_watch_timeout_seconds,
                )
                informer.key = cluster.fingerprint
                self._informers[cluster.fingerprint] = informer
                self._clusters[cluster.fingerprint] = cluster
            self.pool.opened(cluster_key, informer, hold=hold)
            if not self._reaping:
                self._reaping = True
                self._spawn(self._close_idle_forever())
        try:
            await informer.start()
        except BaseException:
            if hold:
                informer.release()
            raise
        return informer

    @contextlib.asynccontextmanager
    async def using(self, cluster_key: str) -> AsyncIterator[Informer]:
        """The informer of `cluster_key`, kept open while the block runs."""
        informer = await self.informer(cluster_key, hold=True)
        try:
            yield informer
        finally:
            informer.release()

    async def _close_idle_forever(self) -> None:
        """Close informers no live run needs (pool.py); the next question reopens them."""
        while True:
            await asyncio.sleep(min(self.pool.idle_seconds / 2, 5.0))
            closed = set(await self.pool.close_idle())
            if closed:
                self._reported = {k: v for k, v in self._reported.items() if k[0] not in closed}

    async def verify(self, cluster: str = "default") -> VerifyReport:
        """Check the cluster; a success is remembered for `kube_verify_cache_seconds`, so a burst
        of evaluations costs the API one round of checks, not one per evaluation."""
        try:
            config = await asyncio.to_thread(self.directory.resolve, cluster)
        except NotFound as missing:
            return VerifyReport(ok=False, reason="ClusterNotFound", message=missing.message)
        cached = self._verified.get(config.fingerprint)
        if (
            cached is not None
            and time.monotonic() - cached[0] < self.settings.kube_verify_cache_seconds
        ):
            return cached[1]
        try:
            client = connect(config, self.settings.kube_request_timeout_seconds)
        except BackendError as refused:
            return VerifyReport(ok=False, reason=refused.reason, message=refused.message)
        try:
            report = await verify_cluster(client, config.namespace, self.settings)
        except PermanentError as refused:
            return VerifyReport(ok=False, reason=refused.reason, message=refused.message)
        finally:
            await client.close()
        if report.ok:
            self._verified[config.fingerprint] = (time.monotonic(), report)
        return report

    # -- runs -----------------------------------------------------------------------------------

    async def submit(self, spec: RunSpec) -> RunHandle:
        async with self.using(spec.cluster) as informer:
            settings = manifests.JobSettings.from_settings(self.settings, informer.namespace)
            values = objects.secret_values(self.secrets, spec)
            if spec.priority_class:
                await objects.require_priority_class(informer.client, spec.priority_class)
            self.pool.track(informer.key, spec.name, None)
            documents = [manifests.run_secret(spec, settings, values)]
            config_map = manifests.run_config_map(spec, settings)
            if config_map is not None:
                documents.append(config_map)
            documents += [*manifests.run_pvcs(spec, settings), manifests.run_job(spec, settings)]
            for document in documents:
                informer.remember(document["kind"], await objects.apply(informer.client, document))
        return RunHandle(
            backend=BACKEND,
            eval_id=spec.eval_id,
            run_id=spec.run_id,
            name=spec.name,
            namespace=informer.namespace,
            cluster=spec.cluster,
        )

    def state(self, informer: Informer, job: str) -> RunState:
        found, pods, pvcs = informer.view(job)
        return outcome.resolve(found, pods, pvcs, now=time.time(), settings=self.settings)

    async def details(self, handle: RunHandle) -> dict[str, Any]:
        """The seeds' job status details, as the cluster reports them (the cache's view)."""
        async with self.using(handle.cluster or "default") as informer:
            found, pods, pvcs = informer.view(handle.name)
        return podstate.job_details(found, pods, pvcs)

    async def statuses(self, handles: list[RunHandle]) -> dict[str, RunState]:
        """From the informers' caches: no API call per run (one informer per cluster key)."""
        states = {}
        informers: dict[str, Informer] = {}
        async with contextlib.AsyncExitStack() as held:
            for position, handle in enumerate(handles, 1):
                if position % 200 == 0:
                    await asyncio.sleep(0)  # 1,000 runs: let waiting API requests in between
                key = handle.cluster or "default"
                if key not in informers:
                    informers[key] = await held.enter_async_context(self.using(key))
                state = self.state(informers[key], handle.name)
                if state.reason == "JobMissing":  # before saying so, ask the API once
                    await informers[key].confirm(handle.name)
                    state = self.state(informers[key], handle.name)
                self.pool.track(informers[key].key, handle.name, state.status)
                states[handle.run_id] = state
        return states

    def _on_change(self, key: str, job: str) -> None:
        informer = self._informers.get(key)
        if informer is None:
            return
        found, _, pvcs = informer.view(job)
        if found is None and not outcome.marked(pvcs):
            return  # being created (its PVCs come first) or gone unmarked: the sweep decides
        handle = outcome.handle_of(found, pvcs, self._clusters[key], BACKEND)
        if handle is None:  # a results reader: not a run
            return
        state = self.state(informer, job)
        self.pool.track(key, job, state.status)
        if self._reported.get((key, job)) != state.status:
            self._reported[(key, job)] = state.status
            self._changes.put_nowait(StatusChange(handle=handle, state=state))
        if state.status.terminal and not outcome.marked(pvcs) and (key, job) not in self._marking:
            self._marking.add((key, job))
            informer.hold()  # released by _finalise
            self._spawn(self._finalise(key, informer, job, state, found is not None))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _finalise(
        self, key: str, informer: Informer, job: str, state: RunState, alive: bool
    ) -> None:
        """Write the run's final word on its output PVC; stop a Job a pod-level failure doomed;
        take the run's key out of the cluster."""
        try:
            await outcome.finalise(informer, job, state, alive)
        except Exception as error:  # marked again on the next change; the state stays correct
            log.warning("recording the outcome of %s failed: %s", job, error)
        finally:
            self._marking.discard((key, job))
            informer.release()

    async def managed_runs(self) -> list[RunHandle]:
        """Every run whose objects the default cluster (and any cluster in use) still holds."""
        try:
            await self.informer("default")
        except Exception as error:  # no default cluster configured or reachable: skip it
            log.info("default cluster not available for collection: %s", error)
        handles = []
        for key, informer in list(self._informers.items()):
            for job in informer.jobs():
                found, _, pvcs = informer.view(job)
                handle = outcome.handle_of(found, pvcs, self._clusters[key], BACKEND)
                if handle is not None:
                    handles.append(handle)
        return handles

    async def events(self) -> AsyncIterator[StatusChange]:
        while True:
            yield await self._changes.get()

    async def cancel(self, handle: RunHandle) -> None:
        cancelled = RunState(status=RunStatus.CANCELLED, reason="Cancelled", message="cancelled")
        async with self.using(handle.cluster or "default") as informer:
            if self.state(informer, handle.name).status.terminal:
                return
            await outcome.mark(informer, handle.name, cancelled)
            await objects.delete_job(informer.client, handle.name, informer.namespace)
            await objects.delete_secret(informer.client, handle.name, informer.namespace)
            self.pool.track(informer.key, handle.name, RunStatus.CANCELLED)
        self._changes.put_nowait(StatusChange(handle=handle, state=cancelled))

    async def cleanup(self, handle: RunHandle) -> None:
        async with self.using(handle.cluster or "default") as informer:
            await objects.delete_run(informer.client, handle.name, informer.namespace)
            self.pool.forget(informer.key, handle.name)
        local = self.settings.runs_dir / handle.run_id
        await asyncio.to_thread(objects.remove_tree, local)

    # -- logs and results -----------------------------------------------------------------------

    async def logs(
        self,
        handle: RunHandle,
        *,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncIterator[str]:
        async with self.using(handle.cluster or "default") as informer:
            async for line in run_log(informer, handle, tail=tail, since=since, follow=follow):
                yield line

    async def log_tail(self, handle: RunHandle, lines: int) -> str:
        try:
            return "".join([line async for line in self.logs(handle, tail=lines)])
        except (Conflict, NotFound, BackendError):
            return ""

    async def fetch_outputs(self, handle: RunHandle) -> Path:
        destination = self.settings.runs_dir / handle.run_id / "output"
        async with self.using(handle.cluster or "default") as informer:
            await fetch_results(informer, handle, destination, self.settings)
        return destination


@register_backend(BACKEND)
def build(settings: Settings, secrets: LocalSecretStore) -> KubernetesBackend:
    return KubernetesBackend(settings, secrets)
