"""The simulated job controller, manual kubelet, deletion propagation and the log endpoint."""

from __future__ import annotations

import asyncio

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType

from tests.kube import KubeApiServer
from tests.kube.fixtures import NS, job_manifest
from tests.kube.fixtures import client as client
from tests.kube.fixtures import kube as kube


def conditions(kube: KubeApiServer, job: str) -> dict[str, str]:
    found = kube.get("jobs", NS, job) or {}
    return {
        c["type"]: c.get("reason", "")
        for c in (found.get("status") or {}).get("conditions") or []
        if c["status"] == "True"
    }


async def test_job_gets_one_owned_pod_and_completes(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    job = await client.create(Job.from_dict(job_manifest("run-1")))
    pod_name = await kube.await_pod(NS, "run-1")
    pod = await client.get(Pod, pod_name)
    assert pod_name.startswith("run-1-") and len(pod_name) == len("run-1-") + 5
    owner = pod.metadata.ownerReferences[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Job",
        "run-1",
        job.metadata.uid,
        True,
    )
    assert pod.metadata.labels["job-name"] == "run-1"
    assert pod.metadata.labels["controller-uid"] == job.metadata.uid
    assert pod.metadata.labels["app.kubernetes.io/managed-by"] == "budeval"
    assert pod.status.phase == "Pending"
    await kube.until(lambda: (kube.get("jobs", NS, "run-1")["status"]).get("active") == 1)
    kube.schedule(NS, pod_name)
    kube.start(NS, pod_name)
    assert (await client.get(Pod, pod_name)).status.phase == "Running"
    kube.succeed(NS, pod_name, message="all good")
    done = await asyncio.to_thread(kube.wait_for_job, NS, "run-1")
    assert conditions(kube, "run-1") == {"Complete": ""}
    assert done["status"]["succeeded"] == 1 and "active" not in done["status"]
    assert done["status"]["completionTime"] and done["status"]["startTime"]
    terminated = (await client.get(Pod, pod_name)).status.containerStatuses[0].state.terminated
    assert (terminated.exitCode, terminated.reason, terminated.message) == (
        0,
        "Completed",
        "all good",
    )
    assert len(kube.pods(NS, "run-1")) == 1


async def test_failures_retry_until_the_backoff_limit(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    await client.create(Job.from_dict(job_manifest("flaky", backoff_limit=1)))
    first = await kube.await_pod(NS, "flaky")
    kube.fail(NS, first, exit_code=3)
    second = await kube.await_pod(NS, "flaky", exclude=[first])
    assert conditions(kube, "flaky") == {}
    kube.oom(NS, second)
    done = await asyncio.to_thread(kube.wait_for_job, NS, "flaky")
    assert conditions(kube, "flaky") == {"Failed": "BackoffLimitExceeded"}
    assert done["status"]["failed"] == 2
    state = (await client.get(Pod, second)).status.containerStatuses[0].state.terminated
    assert (state.reason, state.exitCode) == ("OOMKilled", 137)


async def test_waiting_states_and_unschedulable(kube: KubeApiServer, client: AsyncClient) -> None:
    await client.create(Job.from_dict(job_manifest("w")))
    pod = await kube.await_pod(NS, "w")
    kube.unschedulable(NS, pod)
    scheduled = [
        c for c in (await client.get(Pod, pod)).status.conditions if c.type == "PodScheduled"
    ]
    assert (scheduled[0].status, scheduled[0].reason) == ("False", "Unschedulable")
    for drive, reason in [
        (kube.image_pull_backoff, "ImagePullBackOff"),
        (kube.err_image_pull, "ErrImagePull"),
        (kube.create_container_config_error, "CreateContainerConfigError"),
    ]:
        drive(NS, pod)
        waiting = (await client.get(Pod, pod)).status.containerStatuses[0].state.waiting
        assert waiting.reason == reason and waiting.message


async def test_expire_deadline_fails_the_job_and_deletes_its_pod(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    await client.create(Job.from_dict(job_manifest("slow", activeDeadlineSeconds=3600)))
    pod = await kube.await_pod(NS, "slow")
    assert kube.expire_deadline(NS, "slow")
    assert conditions(kube, "slow") == {"Failed": "DeadlineExceeded"}
    assert kube.get("pods", NS, pod) is None


async def test_default_delete_orphans_pods_background_deletes_them(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    await client.create(Job.from_dict(job_manifest("orphan")))
    orphan = await kube.await_pod(NS, "orphan")
    await client.delete(Job, "orphan")
    left = kube.get("pods", NS, orphan)
    assert left is not None and "ownerReferences" not in left["metadata"]
    await client.create(Job.from_dict(job_manifest("gone")))
    pod = await kube.await_pod(NS, "gone")
    await client.delete(Job, "gone", cascade=CascadeType.BACKGROUND)
    assert kube.get("pods", NS, pod) is None and kube.get("jobs", NS, "gone") is None
    await client.create(Job.from_dict(job_manifest("fg")))
    pod = await kube.await_pod(NS, "fg")
    await client.delete(Job, "fg", cascade=CascadeType.FOREGROUND)
    assert kube.get("pods", NS, pod) is None
    assert kube.pods(NS, "fg") == []  # no replacement pod was created


async def test_ttl_after_finished_deletes_the_job(kube: KubeApiServer, client: AsyncClient) -> None:
    await client.create(Job.from_dict(job_manifest("ttl", ttlSecondsAfterFinished=0)))
    pod = await kube.await_pod(NS, "ttl")
    kube.succeed(NS, pod)
    await kube.until(lambda: kube.get("jobs", NS, "ttl") is None)
    assert kube.get("pods", NS, pod) is None


async def test_log_endpoint(kube: KubeApiServer, client: AsyncClient) -> None:
    with pytest.raises(ApiError) as missing:
        await anext(aiter(client.log("nope", namespace=NS)))
    assert missing.value.status.code == 404
    await client.create(Job.from_dict(job_manifest("logs")))
    pod = await kube.await_pod(NS, "logs")
    with pytest.raises(ApiError) as waiting:
        await anext(aiter(client.log(pod, namespace=NS)))
    assert (
        waiting.value.status.code == 400 and "is waiting to start" in waiting.value.status.message
    )
    kube.start(NS, pod)
    kube.set_log(NS, pod, "one\ntwo\nthree\n")
    assert [line async for line in client.log(pod, namespace=NS)] == ["one\n", "two\n", "three\n"]
    assert [line async for line in client.log(pod, namespace=NS, tail_lines=1)] == ["three\n"]
    stamped = [line async for line in client.log(pod, namespace=NS, tail_lines=1, timestamps=True)]
    assert stamped[0].endswith("Z three\n")

    followed: list[str] = []

    async def follow() -> None:
        async for line in client.log(pod, namespace=NS, follow=True):
            followed.append(line)

    following = asyncio.ensure_future(follow())
    await kube.until(lambda: len(followed) == 3)  # the existing lines first
    kube.append_log(NS, pod, "four\n")
    await kube.until(lambda: len(followed) == 4)  # then each new line as it comes
    kube.append_log(NS, pod, "five\n")
    kube.succeed(NS, pod)  # the stream ends when the container has terminated
    await asyncio.wait_for(following, 5)
    assert followed == ["one\n", "two\n", "three\n", "four\n", "five\n"]
