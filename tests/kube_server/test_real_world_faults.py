"""The faults a real v1.20 cluster showed (issue 8), reproduced by the API test server.

pods/log answering 500 when the kubelet cannot be reached; the v1.20 scheduler's messages for a
CPU shortage and for a WaitForFirstConsumer claim without a volume; a pull that fails once then
succeeds; ErrImagePull followed by ImagePullBackOff; RBAC that refuses what is not granted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, Secret

from tests.kube import KubeApiServer
from tests.kube.fixtures import NS, job_manifest
from tests.kube.fixtures import client as client
from tests.kube.fixtures import kube as kube
from tests.kube.store import Event


def scheduled_condition(kube: KubeApiServer, pod: str) -> dict[str, Any]:
    found = kube.get("pods", NS, pod) or {}
    for condition in (found.get("status") or {}).get("conditions") or []:
        if condition["type"] == "PodScheduled":
            return condition
    return {}


def waiting_reasons(kube: KubeApiServer) -> list[str]:
    """Every container waiting reason the pods pass through, in order."""
    seen: list[str] = []

    def listen(event: Event) -> None:
        if event.plural != "pods":
            return
        for status in (event.obj.get("status") or {}).get("containerStatuses") or []:
            reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
            if reason and (not seen or seen[-1] != reason):
                seen.append(reason)

    kube.store.subscribe(listen)
    return seen


async def test_pod_log_answers_500_when_the_kubelet_is_unreachable(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    await client.create(Job.from_dict(job_manifest("logs")))
    pod = await kube.await_pod(NS, "logs")
    kube.start(NS, pod)
    kube.set_log(NS, pod, "hello\n")
    assert [line async for line in client.log(pod)] == ["hello\n"]
    kube.kubelet_unreachable(node="kube-test-node")
    with pytest.raises(ApiError) as refused:
        _ = [line async for line in client.log(pod)]
    assert refused.value.status.code == 500
    assert "10250" in (refused.value.status.message or "")
    kube.kubelet_reachable()
    kube.kubelet_unreachable(NS, pod)  # one pod only
    with pytest.raises(ApiError):
        _ = [line async for line in client.log(pod)]
    kube.kubelet_reachable()
    assert [line async for line in client.log(pod)] == ["hello\n"]


async def test_a_cpu_shortage_keeps_the_pod_pending_with_the_v1_20_message(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    kube.node_cpu = "250m"
    kube.kubelet_mode = "run"
    manifest = job_manifest("big")
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "500m"}
    }
    await client.create(Job.from_dict(manifest))
    pod = await kube.await_pod(NS, "big")
    await kube.until(lambda: scheduled_condition(kube, pod).get("reason") == "Unschedulable")
    condition = scheduled_condition(kube, pod)
    assert condition["status"] == "False"
    assert condition["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    kube.node_cpu = "2"  # capacity frees up: the pod runs
    done = await asyncio.to_thread(kube.wait_for_job, NS, "big", 20)
    assert done["status"].get("succeeded") == 1


async def test_a_wait_for_first_consumer_claim_without_a_volume_has_the_v1_20_message(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    kube.create(
        "storageclasses",
        {
            "metadata": {"name": "wffc"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    )
    kube.unbindable_classes.add("wffc")
    kube.create(
        "persistentvolumeclaims",
        {
            "metadata": {"name": "claim"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "wffc",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    kube.kubelet_mode = "run"
    manifest = job_manifest("vol")
    spec = manifest["spec"]["template"]["spec"]
    spec["volumes"] = [{"name": "v", "persistentVolumeClaim": {"claimName": "claim"}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/data"}]
    await client.create(Job.from_dict(manifest))
    pod = await kube.await_pod(NS, "vol")
    await kube.until(lambda: scheduled_condition(kube, pod).get("reason") == "Unschedulable")
    message = scheduled_condition(kube, pod)["message"]
    assert "didn't find available persistent volumes to bind" in message
    assert "persistentvolumeclaim" not in message.lower()


async def test_a_pull_that_fails_once_then_succeeds(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    seen = waiting_reasons(kube)
    kube.flaky_pulls["budeval/engine:1"] = 1
    kube.kubelet_mode = "run"
    await client.create(Job.from_dict(job_manifest("flaky")))
    done = await asyncio.to_thread(kube.wait_for_job, NS, "flaky", 20)
    assert done["status"].get("succeeded") == 1
    assert seen == ["ErrImagePull"]


async def test_a_missing_image_is_err_image_pull_then_image_pull_back_off(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    seen = waiting_reasons(kube)
    kube.missing_images.add("budeval/engine:1")
    kube.kubelet_mode = "run"
    await client.create(Job.from_dict(job_manifest("missing")))
    await kube.until(lambda: "ImagePullBackOff" in seen)
    assert seen == ["ErrImagePull", "ImagePullBackOff"]


async def test_rbac_refuses_what_is_not_granted_and_records_what_was_used(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    kube.grant_only([("", "configmaps", ("patch",)), ("", "secrets", ("create", "patch"))])
    config = ConfigMap.from_dict({"metadata": {"name": "c", "namespace": NS}, "data": {}})
    with pytest.raises(ApiError) as refused:  # an apply that creates needs `create` too
        await client.apply(config, field_manager="budeval")
    assert refused.value.status.code == 403
    assert 'cannot create resource "configmaps" in API group ""' in refused.value.status.message
    secret = Secret.from_dict({"metadata": {"name": "s", "namespace": NS}, "data": {}})
    await client.apply(secret, field_manager="budeval")
    with pytest.raises(ApiError) as unreadable:
        await client.get(Secret, "s", namespace=NS)
    assert unreadable.value.status.code == 403
    assert kube.used_permissions >= {
        ("patch", "", "configmaps"),
        ("create", "", "configmaps"),
        ("create", "", "secrets"),
        ("get", "", "secrets"),
    }
    assert kube.refused_permissions == {("create", "", "configmaps"), ("get", "", "secrets")}
