"""Bringing a finished run's /output back to the service, with no exec and any RWO volume.

A short-lived reader Job mounts the run's own output PVC (read-only; the engine pod has ended, so a
ReadWriteOnce volume is free) and prints a tar.gz of it as base64 between markers on its log; the
backend reads that log (`pods/log`, which the logs route needs anyway), checks the digest the
in-job wrapper put in the run's termination message, and unpacks it where the engine's parser
reads local runs. Idempotent: a finished fetch leaves a marker and is not repeated.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from budeval.backends.base import RunHandle, RunSpec
from budeval.backends.kubernetes import artifacts, manifests, objects, outcome, podstate
from budeval.backends.kubernetes.client import retrying
from budeval.backends.kubernetes.informer import Informer
from budeval.backends.kubernetes.labels import object_names
from budeval.config import Settings
from budeval.errors import TransientError

FETCHED = "fetched.json"


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


async def _wait_for_reader(informer: Informer, reader: str, seconds: float) -> str:
    """The reader's succeeded pod; TransientError when it failed or took too long."""
    deadline = time.monotonic() + seconds
    while True:
        job, pods, _ = informer.view(reader)
        done = [pod for pod in pods if (pod.get("status") or {}).get("phase") == "Succeeded"]
        if done:
            return str(done[0]["metadata"]["name"])
        failed = job is not None and podstate.job_condition(job, "Failed")
        if failed or time.monotonic() > deadline:
            await objects.delete_job(informer.client, reader, informer.namespace)
            why = "failed" if failed else f"did not finish within {seconds:.0f}s"
            raise TransientError(f"results reader {reader} {why}", reason="ResultsUnavailable")
        await informer.changed(reader, max(0.0, deadline - time.monotonic()))


async def fetch_results(
    informer: Informer, handle: RunHandle, destination: Path, settings: Settings
) -> None:
    marker = destination.parent / FETCHED
    if marker.exists():
        return
    names = object_names(handle.name)
    _, pods, pvcs = informer.view(handle.name)
    expected = outcome.digest(pvcs, pods)
    js = manifests.JobSettings.from_settings(settings, informer.namespace)
    await objects.apply(informer.client, manifests.reader_job(_reader_spec(handle, settings), js))
    pod = await _wait_for_reader(informer, names.reader_job, manifests.READER_SECONDS)
    lines = await retrying(
        lambda: _lines(informer.client.log(pod, namespace=informer.namespace)),
        f"reading the results of {handle.run_id}",
    )
    archive = artifacts.decode_artifacts(lines)
    await asyncio.to_thread(artifacts.unpack, archive, destination, expected)
    marker.write_text(json.dumps({"digest": expected, "bytes": len(archive)}))
    await objects.delete_job(informer.client, names.reader_job, informer.namespace)
