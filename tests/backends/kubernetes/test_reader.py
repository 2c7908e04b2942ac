"""The results reader under the pod fates of runs (issue 8 item 14).

Its own pod may never start (an image that cannot be pulled, no node for it) or its log may be
unreadable (the kubelet unreachable): each fails the fetch quickly with that reason instead of
waiting the reader's 600 s, and the reader Job is deleted on every path.
"""

from __future__ import annotations

import asyncio

import pytest

from budeval.backends.base import RunHandle
from budeval.backends.kubernetes.backend import KubernetesBackend
from budeval.backends.kubernetes.labels import object_names
from budeval.config import Settings
from budeval.errors import BudevalError, PermanentError, TransientError
from budeval.status import RunStatus
from tests.backends.kubernetes.test_backend import NS, Changes, run_spec
from tests.backends.kubernetes.test_backend import kube as kube
from tests.backends.kubernetes.test_backend import settings as settings
from tests.backends.kubernetes.test_backend_waits import tuned
from tests.kube import KubeApiServer

QUICKLY = 20.0
"""Far below the reader's 600 s: only a fail-fast reader ends within it."""


async def succeeded_run(kube: KubeApiServer, backend: KubernetesBackend) -> RunHandle:
    kube.kubelet_mode = "run"
    assert (await backend.verify()).ok
    changes = Changes(backend)
    handle = await backend.submit(run_spec())
    await changes.until("r1", RunStatus.SUCCEEDED, timeout=30)
    return handle


async def fetch_fails(backend: KubernetesBackend, handle: RunHandle) -> BudevalError:
    with pytest.raises(BudevalError) as failure:
        await asyncio.wait_for(backend.fetch_outputs(handle), QUICKLY)
    return failure.value


async def reader_gone(kube: KubeApiServer, handle: RunHandle) -> None:
    reader = object_names(handle.name).reader_job
    await kube.until(lambda: kube.get("jobs", NS, reader) is None and not kube.pods(NS, reader))


async def test_a_reader_whose_image_cannot_be_pulled_fails_fast_and_is_removed(
    kube: KubeApiServer, settings: Settings
) -> None:
    backend = tuned(settings)
    try:
        handle = await succeeded_run(kube, backend)
        kube.missing_images.add(settings.kube_service_image)
        failure = await fetch_fails(backend, handle)
        assert isinstance(failure, PermanentError)
        assert failure.reason == "ImagePullBackOff"
        assert object_names(handle.name).reader_job in failure.message
        await reader_gone(kube, handle)
    finally:
        await backend.stop()


async def test_a_reader_no_node_can_take_fails_after_the_grace_and_is_removed(
    kube: KubeApiServer, settings: Settings
) -> None:
    backend = tuned(settings, kube_unschedulable_grace_seconds=0.5)
    try:
        handle = await succeeded_run(kube, backend)
        kube.node_cpu = "10m"  # the reader requests 100m
        failure = await fetch_fails(backend, handle)
        assert failure.reason == "Unschedulable"
        await reader_gone(kube, handle)
    finally:
        await backend.stop()


async def test_an_unreadable_reader_log_is_transient_and_the_reader_is_removed(
    kube: KubeApiServer, settings: Settings
) -> None:
    backend = tuned(settings)
    try:
        handle = await succeeded_run(kube, backend)
        kube.kubelet_unreachable(node="kube-test-node")
        failure = await fetch_fails(backend, handle)
        assert isinstance(failure, TransientError)
        await reader_gone(kube, handle)
        kube.kubelet_reachable()  # the next attempt reads the results
        output = await asyncio.wait_for(backend.fetch_outputs(handle), QUICKLY)
        assert (output / "result.json").exists() or any(output.iterdir())
        await reader_gone(kube, handle)
    finally:
        await backend.stop()
