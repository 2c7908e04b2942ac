"""Bringing a finished run's /output back to the service, with no exec and any RWO volume.

A short-lived reader Job mounts the run's own output PVC (read-only; the engine pod has ended, so a
ReadWriteOnce volume is free) and prints a tar.gz of it as base64 between markers on its log; the
backend reads that log (`pods/log`, which the logs route needs anyway), checks the digest the
in-job wrapper put in the run's termination message, and unpacks it where the engine's parser
reads local runs. Idempotent: a finished fetch leaves a marker and is not repeated. The reader's
pod is judged by the same rules as a run's (podstate), so a reader that cannot start fails fast,
and its Job is deleted on every path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from budeval.backends.base import RunHandle, RunSpec
from budeval.backends.kubernetes import artifacts, manifests, objects, outcome, podstate
from budeval.backends.kubernetes.client import retrying
from budeval.backends.kubernetes.informer import Informer
from budeval.backends.kubernetes.labels import object_names
from budeval.config import Settings
from budeval.errors import BackendError, BudevalError, TransientError
from budeval.status import RunStatus

log = logging.getLogger(__name__)
FETCHED = "fetched.json"
WAKE_SECONDS = 1.0


def _reader_spec(handle: RunHandle, settings: Settings) -> RunSpec:
    """The identity part of a run spec: all the reader manifest needs (labels, names)."""
    return RunSpec(
        eval_id=handle.eval_id,
        run_id=handle.run_id,
        dataset="",
        engine="",
        engine_version="",
        name=handle.name,
        image=settings.kube_service_image,
        environment="service",
        command=[],
        cluster=handle.cluster or "default",
    )


async def _lines(stream: AsyncIterator[str]) -> list[str]:
    return [line async for line in stream]


async def _wait_for_reader(informer: Informer, reader: str, settings: Settings) -> str:
    """The reader's succeeded pod. Its pod meets the fates of a run's (podstate): an image that
    cannot be pulled or no node for it fails at once (or after the same grace periods), as a
    PermanentError with that reason; only taking longer than READER_SECONDS is transient."""
    deadline = time.monotonic() + manifests.READER_SECONDS
    while True:
        job, pods, _ = informer.view(reader)
        done = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Succeeded"]
        if done:
            return str(done[0]["metadata"]["name"])
        if job is not None:
            state = podstate.run_state(
                job,
                pods,
                [],
                now=time.time(),
                pvc_pending_seconds=settings.kube_pvc_pending_seconds,
                unschedulable_seconds=settings.kube_unschedulable_grace_seconds,
            )
            if state.status is RunStatus.FAILED:
                raise BackendError(
                    f"results reader {reader} cannot run: {state.reason}: {state.message or ''}",
                    reason=state.reason or "ReaderFailed",
                )
        if time.monotonic() > deadline:
            raise TransientError(
                f"results reader {reader} did not finish within {manifests.READER_SECONDS}s",
                reason="ResultsUnavailable",
            )
        wait = min(WAKE_SECONDS, max(0.0, deadline - time.monotonic()))
        await informer.changed(reader, wait)  # time-based fates need a look without an event


async def fetch_results(
    informer: Informer, handle: RunHandle, destination: Path, settings: Settings
) -> None:
    """Read the run's /output through a reader Job, removed afterwards whatever happened."""
    marker = destination.parent / FETCHED
    if marker.exists():
        return
    names = object_names(handle.name)
    _, pods, pvcs = informer.view(handle.name)
    expected = outcome.digest(pvcs, pods)
    js = manifests.JobSettings.from_settings(settings, informer.namespace)
    try:
        applied = await objects.apply(
            informer.client, manifests.reader_job(_reader_spec(handle, settings), js)
        )
        informer.remember("Job", applied)
        pod = await _wait_for_reader(informer, names.reader_job, settings)
        lines = await retrying(
            lambda: _lines(informer.client.log(pod, namespace=informer.namespace)),
            f"reading the results of {handle.run_id}",
        )
        archive = artifacts.decode_artifacts(lines)
        await asyncio.to_thread(artifacts.unpack, archive, destination, expected)
        marker.write_text(json.dumps({"digest": expected, "bytes": len(archive)}))
    finally:
        await _remove_reader(informer, names.reader_job)


async def _remove_reader(informer: Informer, reader: str) -> None:
    """Best effort: a reader left behind ends by its TTL and goes at the run's cleanup."""
    try:
        await objects.delete_job(informer.client, reader, informer.namespace)
    except BudevalError as error:
        log.warning("removing results reader %s failed: %s", reader, error)
