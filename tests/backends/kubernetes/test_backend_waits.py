"""Through the API test server's real-world faults: what waits and what fails (issue 8, 11 to 13).

A CPU shortage keeps a run `scheduled` until capacity frees (or the grace period ends); a
WaitForFirstConsumer claim without a volume gets the PVC grace, not Unschedulable; a pull that
fails once is retried by the kubelet and the run succeeds; a missing image fails on
ImagePullBackOff; a pods/log 500 is a TransientError.
"""

from __future__ import annotations

import pytest

from budeval.backends.kubernetes.backend import KubernetesBackend
from budeval.config import Settings
from budeval.errors import BackendError, TransientError
from budeval.secrets import LocalSecretStore
from budeval.status import RunStatus
from tests.backends.kubernetes.test_backend import KEY, NS, Changes, poll_until_terminal, run_spec
from tests.backends.kubernetes.test_backend import backend as backend
from tests.backends.kubernetes.test_backend import kube as kube
from tests.backends.kubernetes.test_backend import settings as settings
from tests.kube import KubeApiServer


def tuned(settings: Settings, **update: object) -> KubernetesBackend:
    secrets = LocalSecretStore(settings.secrets_dir)
    secrets.put("key-e1", {"api_key": KEY})
    return KubernetesBackend(settings.model_copy(update=update), secrets)


def scheduler_message(kube: KubeApiServer, job: str) -> str:
    for pod in kube.pods(NS, job):
        for condition in pod["status"].get("conditions") or []:
            if condition["type"] == "PodScheduled" and condition["status"] == "False":
                return str(condition.get("message") or "")
    return ""


async def test_a_cpu_shortage_waits_until_capacity_frees(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    kube.node_cpu = "100m"  # the run requests 500m
    kube.kubelet_mode = "run"
    assert (await backend.verify()).ok
    handle = await backend.submit(run_spec())
    await kube.until(lambda: "Insufficient cpu" in scheduler_message(kube, handle.name))
    state = (await backend.statuses([handle]))["r1"]
    assert state.status is RunStatus.SCHEDULED, state
    changes = Changes(backend)
    kube.node_cpu = "4"
    assert (await changes.until("r1", RunStatus.SUCCEEDED, timeout=30)).status is (
        RunStatus.SUCCEEDED
    )


async def test_a_cpu_shortage_fails_after_the_grace_period(
    kube: KubeApiServer, settings: Settings
) -> None:
    kube.node_cpu = "100m"
    kube.kubelet_mode = "run"
    backend = tuned(settings, kube_unschedulable_grace_seconds=0.5)
    try:
        handle = await backend.submit(run_spec())
        state = await poll_until_terminal(backend, handle)
        assert (state.status, state.reason) == (RunStatus.FAILED, "Unschedulable")
        assert state.message == "0/1 nodes are available: 1 Insufficient cpu."
    finally:
        await backend.stop()


async def test_a_wait_for_first_consumer_claim_gets_the_pvc_grace(
    kube: KubeApiServer, settings: Settings
) -> None:
    kube.delete("storageclasses", None, "local-path")
    kube.create(
        "storageclasses",
        {
            "metadata": {"name": "local-path"},
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    )
    kube.unbindable_classes.add("local-path")  # no volume will ever come
    kube.kubelet_mode = "run"
    backend = tuned(settings, kube_pvc_pending_seconds=1.0)
    try:
        handle = await backend.submit(run_spec())
        await kube.until(
            lambda: "persistent volumes to bind" in scheduler_message(kube, handle.name)
        )
        early = (await backend.statuses([handle]))["r1"]
        assert early.status is RunStatus.SCHEDULED, early  # not Unschedulable at once
        state = await poll_until_terminal(backend, handle)
        assert (state.status, state.reason) == (RunStatus.FAILED, "PVCPending")
    finally:
        await backend.stop()


async def test_a_pull_that_fails_once_does_not_fail_the_run(
    kube: KubeApiServer, backend: KubernetesBackend, settings: Settings
) -> None:
    kube.kubelet_mode = "run"
    kube.kubelet.pull_backoff_seconds = 0.3  # long enough for the backend to see it
    assert (await backend.verify()).ok
    kube.flaky_pulls[settings.kube_service_image] = 1
    changes = Changes(backend)
    await backend.submit(run_spec())
    final = await changes.until("r1", RunStatus.SUCCEEDED, timeout=30)
    assert final.status is RunStatus.SUCCEEDED
    assert kube.flaky_pulls[settings.kube_service_image] == 0  # the failed pull did happen


async def test_a_missing_image_fails_on_image_pull_back_off(
    kube: KubeApiServer, backend: KubernetesBackend, settings: Settings
) -> None:
    kube.kubelet_mode = "run"
    assert (await backend.verify()).ok
    kube.missing_images.add(settings.kube_service_image)
    changes = Changes(backend)
    await backend.submit(run_spec())
    state = await changes.until("r1", RunStatus.FAILED, timeout=30)
    assert state.reason == "ImagePullBackOff"


async def test_an_unreachable_kubelet_makes_logs_a_transient_error(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    handle = await backend.submit(run_spec())
    pod = await kube.await_pod(NS, handle.name)
    kube.start(NS, pod)
    kube.set_log(NS, pod, "one\n")
    assert await backend.log_tail(handle, 5) == "one\n"
    kube.kubelet_unreachable(node="kube-test-node")
    with pytest.raises(TransientError) as unreachable:
        _ = [line async for line in backend.logs(handle, tail=5)]
    assert unreachable.value.reason == "KubernetesUnavailable"
    with pytest.raises(TransientError):
        await backend.log_tail(handle, 5)


async def test_an_unknown_priority_class_refuses_the_run_at_once(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    spec = run_spec().model_copy(update={"priority_class": "no-such-class"})
    with pytest.raises(BackendError) as refused:
        await backend.submit(spec)
    assert refused.value.reason == "PriorityClassNotFound"
    assert "no-such-class" in refused.value.message
    assert not kube.objects("jobs", NS)  # nothing was sent


async def test_a_job_admission_refuses_pods_for_fails_after_the_grace(
    kube: KubeApiServer, settings: Settings
) -> None:
    """Without the right to read PriorityClasses, the Job's missing pod is the one sign."""
    kube.deny("get", "priorityclasses", "scheduling.k8s.io")
    backend = tuned(settings, kube_unschedulable_grace_seconds=0.5)
    try:
        spec = run_spec().model_copy(update={"priority_class": "no-such-class"})
        handle = await backend.submit(spec)
        refusal = await kube.until(lambda: kube.failed_create(NS, handle.name))
        assert "no PriorityClass with name no-such-class" in refusal
        state = await poll_until_terminal(backend, handle)
        assert (state.status, state.reason) == (RunStatus.FAILED, "PodNotCreated")
    finally:
        await backend.stop()
