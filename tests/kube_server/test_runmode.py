"""Run-mode kubelet: the container's command runs as a local process with mapped mounts."""

from __future__ import annotations

import asyncio
import textwrap

from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, PersistentVolumeClaim, Pod, Secret

from tests.kube import KubeApiServer
from tests.kube.fixtures import NS, job_manifest
from tests.kube.fixtures import client as client
from tests.kube.fixtures import kube as kube

SCRIPT = textwrap.dedent(
    """
    import os, sys
    out, termination = sys.argv[1], sys.argv[2]
    data = open(os.environ["INPUT"]).read()
    with open(os.path.join(out, "result.txt"), "w") as f:
        f.write(data + ":" + os.environ["API_KEY"])
    print("runners present:", os.path.isdir(os.environ["RUNNERS"]))
    print("working", flush=True)
    open(termination, "w").write('{"budeval": 1, "exit_code": %s}' % os.environ["CODE"])
    sys.exit(int(os.environ["CODE"]))
    """
)


async def setup_run(client: AsyncClient, name: str, code: int) -> dict:
    await client.create(
        Secret(metadata=ObjectMeta(name=f"{name}-secret"), stringData={"api_key": "sk-9"})
    )
    await client.create(
        ConfigMap(metadata=ObjectMeta(name=f"{name}-config"), data={"file-0": "rows"})
    )
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    await client.create(
        PersistentVolumeClaim.from_dict({"metadata": {"name": f"{name}-out"}, "spec": claim})
    )
    manifest = job_manifest(
        name, ["python", "-c", SCRIPT, "/output", "/dev/termination-log"], backoff_limit=0
    )
    pod_spec = manifest["spec"]["template"]["spec"]
    pod_spec["volumes"] = [
        {"name": "output", "persistentVolumeClaim": {"claimName": f"{name}-out"}},
        {"name": "files", "configMap": {"name": f"{name}-config"}},
    ]
    container = pod_spec["containers"][0]
    container["volumeMounts"] = [
        {"name": "output", "mountPath": "/output"},
        {"name": "files", "mountPath": "/data/input.txt", "subPath": "file-0", "readOnly": True},
    ]
    key_ref = {"secretKeyRef": {"name": f"{name}-secret", "key": "api_key"}}
    container["env"] = [
        {"name": "API_KEY", "valueFrom": key_ref},
        {"name": "INPUT", "value": "/data/input.txt"},
        {"name": "RUNNERS", "value": "/opt/budeval/runners"},
        {"name": "CODE", "value": str(code)},
    ]
    return manifest


async def test_run_mode_runs_the_command_with_mounts(kube: KubeApiServer, client: AsyncClient):
    kube.kubelet_mode = "run"
    await client.create(Job.from_dict(await setup_run(client, "ok", 0)))
    done = await asyncio.to_thread(kube.wait_for_job, NS, "ok", 15)
    assert done["status"]["succeeded"] == 1
    assert (kube.volume_dir(NS, "ok-out") / "result.txt").read_text() == "rows:sk-9"
    pod = kube.pods(NS, "ok")[0]["metadata"]["name"]
    terminated = (await client.get(Pod, pod)).status.containerStatuses[0].state.terminated
    assert (terminated.exitCode, terminated.reason) == (0, "Completed")
    assert terminated.message == '{"budeval": 1, "exit_code": 0}'
    lines = [line async for line in client.log(pod, namespace=NS)]
    assert lines == ["runners present: True\n", "working\n"]


async def test_run_mode_failure_sets_exit_code_and_fails_the_job(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    kube.kubelet_mode = "run"
    await client.create(Job.from_dict(await setup_run(client, "bad", 3)))
    done = await asyncio.to_thread(kube.wait_for_job, NS, "bad", 15)
    assert done["status"]["conditions"][0]["reason"] == "BackoffLimitExceeded"
    pod = kube.pods(NS, "bad")[0]
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")


async def test_missing_secret_and_image(kube: KubeApiServer, client: AsyncClient) -> None:
    kube.kubelet_mode = "run"
    manifest = await setup_run(client, "nokey", 0)
    manifest["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"] = {
        "secretKeyRef": {"name": "absent", "key": "api_key"}
    }
    await client.create(Job.from_dict(manifest))
    pod = await kube.await_pod(NS, "nokey")

    def waiting_reason(name: str) -> str | None:
        statuses = (kube.get("pods", NS, name) or {}).get("status", {}).get("containerStatuses")
        return statuses[0]["state"].get("waiting", {}).get("reason") if statuses else None

    await kube.until(lambda: waiting_reason(pod) == "CreateContainerConfigError")
    kube.missing_images.add("ghost:1")
    ghost = job_manifest("ghost")
    ghost["spec"]["template"]["spec"]["containers"][0]["image"] = "ghost:1"
    await client.create(Job.from_dict(ghost))
    ghost_pod = await kube.await_pod(NS, "ghost")
    await kube.until(lambda: waiting_reason(ghost_pod) == "ImagePullBackOff")


async def test_follow_a_running_process_and_kill_it_by_deleting_the_pod(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    kube.kubelet_mode = "run"
    script = "import time\nprint('up', flush=True)\nwhile True: time.sleep(0.05)"
    await client.create(Job.from_dict(job_manifest("loop", ["python", "-c", script])))
    pod = await kube.await_pod(NS, "loop")
    await kube.until(lambda: kube.log_text(NS, pod) == "up\n")
    followed: list[str] = []

    async def follow() -> None:
        async for line in client.log(pod, namespace=NS, follow=True):
            followed.append(line)

    following = asyncio.ensure_future(follow())
    await kube.until(lambda: followed == ["up\n"])
    assert kube.kubelet.runner.procs
    await client.delete(Pod, pod)
    await asyncio.wait_for(following, 5)  # the pod is gone: the stream ends
    await kube.until(lambda: not kube.kubelet.runner.procs)
