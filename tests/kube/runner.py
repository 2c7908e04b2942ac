"""Run-mode kubelet: runs a pod's container as a local process group and reports its fate.

Output goes to the pod's log; the exit code and the termination message file (≤ 4096 bytes, or
the log tail with `FallbackToLogsOnError`) become the container's terminated state. Deleting the
pod kills the process group. Everything here runs on the server loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path

from tests.kube import podenv, podstatus, scheduling
from tests.kube.cluster import Cluster

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 4096
Key = tuple[str, str]


class PodRunner:
    def __init__(self, cluster: Cluster, kubelet, root: Path) -> None:
        self.cluster = cluster
        self.kubelet = kubelet
        self.root = root
        self.tasks: dict[Key, asyncio.Task] = {}
        self.procs: dict[Key, asyncio.subprocess.Process] = {}

    def launch(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        pod = self.cluster.store.get("pods", namespace, name)
        if key in self.tasks or pod is None:
            return
        state = podstatus.container_state(pod)
        if (pod.get("status") or {}).get("phase") != "Pending" or "running" in state:
            return
        task = asyncio.get_running_loop().create_task(self._run(namespace, name))
        self.tasks[key] = task
        task.add_done_callback(lambda _t, k=key: self.tasks.pop(k, None))

    def kill(self, namespace: str, name: str) -> None:
        proc = self.procs.get((namespace, name))
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        for namespace, name in list(self.procs):
            self.kill(namespace, name)
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _edit(self, namespace: str, name: str, uid: str, change: podstatus.Change) -> bool:
        with self.cluster.store.lock:
            pod = self.cluster.store.get("pods", namespace, name)
            if pod is None or pod["metadata"]["uid"] != uid:
                return False
            self.cluster.store.mutate("pods", namespace, name, change)
            return True

    async def _run(self, namespace: str, name: str) -> None:
        pod = self.cluster.store.get("pods", namespace, name)
        if pod is None:
            return
        uid, container = pod["metadata"]["uid"], pod["spec"]["containers"][0]
        shortage = scheduling.shortage(pod, self.kubelet.node_cpu)
        if shortage:  # stays Pending until capacity is raised (the kubelet scans again)
            self._edit(namespace, name, uid, podstatus.unschedulable(shortage))
            return
        if not await self._pull(namespace, name, uid, container.get("image", "")):
            return
        workdir = self.root / "pods" / namespace / f"{name}-{uid[:8]}"
        try:
            launch = podenv.prepare(self.cluster, pod, workdir)
        except podenv.Park as why:
            if why.scheduled:
                change = podstatus.waiting("ContainerCreating", str(why))
            else:
                change = podstatus.unschedulable(str(why))
            self._edit(namespace, name, uid, change)
            return
        except podenv.ConfigError as why:
            change = podstatus.waiting("CreateContainerConfigError", str(why))
            self._edit(namespace, name, uid, change)
            return
        if not self._edit(namespace, name, uid, podstatus.start):
            return
        code = await self._execute(namespace, name, launch)
        message = launch.termination.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
        if not message and code != 0 and launch.policy == "FallbackToLogsOnError":
            tail = self.cluster.logs.read(namespace, name, tail=80)
            message = tail.encode()[-2048:].decode(errors="replace")
        reason = "Completed" if code == 0 else "Error"
        self._edit(namespace, name, uid, podstatus.terminate(code, reason, message))
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir / "tmp")

    async def _pull(self, namespace: str, name: str, uid: str, image: str) -> bool:
        """The kubelet's pull: ErrImagePull first; a missing image then ImagePullBackOff for
        good; a flaky one (`flaky_pulls`) fails that many times, then is pulled."""
        kubelet = self.kubelet
        if image in kubelet.missing_images:
            message = f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}"'
            self._edit(namespace, name, uid, podstatus.waiting("ErrImagePull", message))
            await asyncio.sleep(kubelet.pull_backoff_seconds)
            backoff = f'Back-off pulling image "{image}"'
            self._edit(namespace, name, uid, podstatus.waiting("ImagePullBackOff", backoff))
            return False
        while kubelet.take_pull_failure(image):
            message = (
                f'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": '
                "failed to do request: dial tcp: i/o timeout"
            )
            if not self._edit(namespace, name, uid, podstatus.waiting("ErrImagePull", message)):
                return False
            await asyncio.sleep(kubelet.pull_backoff_seconds)
        return True

    async def _execute(self, namespace: str, name: str, launch: podenv.Launch) -> int:
        key = (namespace, name)
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                cwd=launch.cwd,
                env=launch.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:  # like a container runtime that cannot exec the entrypoint
            self.cluster.logs.append(namespace, name, f"exec failed: {error}\n")
            return 128
        self.procs[key] = proc
        try:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                self.cluster.logs.append(namespace, name, chunk.decode(errors="replace"))
            code = await proc.wait()
        except asyncio.CancelledError:
            self.kill(namespace, name)
            raise
        finally:
            self.procs.pop(key, None)
            self.cluster.logs.flush(namespace, name)
        return 128 - code if code < 0 else code
