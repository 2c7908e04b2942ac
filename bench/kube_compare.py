"""Phase 5 of bench/kubernetes.py: one status check of N Jobs, the backend's way and the seeds' way.

- backend: one label-selected LIST of Jobs through lightkube's AsyncClient (what the informer's
  periodic resync sends), and `KubernetesBackend.statuses()` answered from the informer's cache
  (what the relay's sweep and every workflow's check call: no API request);
- seeds: `ansible-playbook` running `kubernetes.core.k8s_info`, as one playbook per Job and poll
  (the seeds' status check) and, for comparison, one label-selected playbook for all N.

Each measurement records wall time, the client's CPU, the API test server's CPU (its thread in this
process) and the API requests it made. All against the same server, in the same run.
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from kube_load import MANAGED, NS, cpu_of, summary

from tests.kube import KubeApiServer

SMALL_NS = "bench-n100"
SELECTOR = "app.kubernetes.io/managed-by=budeval"


def copy_runs(server: KubeApiServer, jobs: list[str], namespace: str) -> None:
    """Copies of some runs' Jobs (suspended: no new pods), pods and PVCs in another namespace,
    so that a status check there sees exactly len(jobs) runs of the real size and shape."""
    server.create("namespaces", {"metadata": {"name": namespace}}, namespace="")

    def fresh(obj: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(obj)
        meta = body["metadata"]
        for field in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
            meta.pop(field, None)
        meta["namespace"] = namespace
        return body

    for job in jobs:
        found = server.get("jobs", NS, job)
        assert found is not None, job
        body = fresh(found)
        body["spec"]["suspend"] = True
        body["spec"].pop("selector", None)
        labels = body["spec"]["template"]["metadata"]["labels"]
        for key in ("batch.kubernetes.io/controller-uid", "controller-uid"):
            labels.pop(key, None)
        server.create("jobs", body, namespace=namespace)
        for pod in server.pods(NS, job):
            server.create("pods", fresh(pod), namespace=namespace)
        for pvc in server.objects("persistentvolumeclaims", NS, {"budeval.io/job": job}):
            server.create("persistentvolumeclaims", fresh(pvc), namespace=namespace)


class ServerCpu:
    """CPU of the API test server's thread (it runs in this process)."""

    def __init__(self, server: KubeApiServer) -> None:
        assert server._thread is not None
        self.tid = server._thread.native_id

    def __call__(self) -> float:
        return cpu_of(os.getpid(), self.tid)


def _measured(samples: list[dict[str, float]]) -> dict[str, Any]:
    keys = samples[0].keys() if samples else []
    return {
        "runs": len(samples),
        **{key: summary([s[key] for s in samples]) for key in keys},
        "samples": samples,
    }


# --- the backend's way ---------------------------------------------------------------------------


async def _lightkube_lists(server: KubeApiServer, namespace: str, repeats: int) -> dict[str, Any]:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.resources.batch_v1 import Job

    server_cpu = ServerCpu(server)
    config = KubeConfig.from_dict(server.kubeconfig(namespace=namespace))
    samples = []
    async with AsyncClient(config, field_manager="budeval", trust_env=False) as client:
        for attempt in range(repeats + 1):  # the first one opens the connection: not counted
            requests, served = server.requests.total, server_cpu()
            cpu, wall = time.thread_time(), time.perf_counter()
            listing = client.list(Job, namespace=namespace, labels=MANAGED)
            items = [item.to_dict() async for item in listing]
            sample = {
                "wall_s": time.perf_counter() - wall,
                "client_cpu_s": time.thread_time() - cpu,
                "server_cpu_s": server_cpu() - served,
                "api_requests": server.requests.total - requests,
                "jobs": len(items),
            }
            if attempt:
                samples.append(sample)
    return _measured(samples)


async def _cache_statuses(
    server: KubeApiServer, namespace: str, repeats: int, home: Path
) -> dict[str, Any]:
    from budeval.backends.base import RunHandle
    from budeval.backends.kubernetes.backend import KubernetesBackend
    from budeval.backends.kubernetes.labels import ANNOTATION_EVAL_ID, ANNOTATION_RUN_ID
    from budeval.config import Settings
    from budeval.secrets import LocalSecretStore

    kubeconfig = home / f"kubeconfig-{namespace}.yaml"
    kubeconfig.write_text(yaml.safe_dump(server.kubeconfig(namespace=namespace)))
    settings = Settings(
        home=home, backend="kubernetes", kubeconfig=kubeconfig, kube_namespace=namespace
    )
    backend = KubernetesBackend(settings, LocalSecretStore(home / "secrets"))
    handles = []
    for job in server.objects("jobs", namespace, {"app.kubernetes.io/component": "run"}):
        annotations = job["metadata"]["annotations"]
        handles.append(
            RunHandle(
                backend="kubernetes",
                eval_id=annotations[ANNOTATION_EVAL_ID],
                run_id=annotations[ANNOTATION_RUN_ID],
                name=job["metadata"]["name"],
                namespace=namespace,
                cluster="default",
            )
        )
    server_cpu = ServerCpu(server)
    samples = []
    try:
        await backend.statuses(handles[:1])  # starts the informer: LIST + WATCH, not counted
        for _ in range(repeats):
            requests, served = server.requests.total, server_cpu()
            cpu, wall = time.thread_time(), time.perf_counter()
            states = await backend.statuses(handles)
            samples.append(
                {
                    "wall_s": time.perf_counter() - wall,
                    "client_cpu_s": time.thread_time() - cpu,
                    "server_cpu_s": server_cpu() - served,
                    "api_requests": server.requests.total - requests,
                    "jobs": len(states),
                }
            )
        statuses = sorted({state.status.value for state in states.values()})
    finally:
        await backend.stop()
    return _measured(samples) | {"statuses_seen": statuses}


def backend_checks(
    server: KubeApiServer, namespaces: dict[int, str], repeats: int, home: Path
) -> dict[str, Any]:
    """Runs in a thread of its own (with its own event loop), like the service's loop would."""
    result: dict[str, Any] = {}

    async def main() -> None:
        for n, namespace in namespaces.items():
            result[f"list_{n}"] = await _lightkube_lists(server, namespace, repeats)
            result[f"statuses_{n}"] = await _cache_statuses(server, namespace, repeats, home)

    error: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as failure:  # re-raised in the caller's thread
            error.append(failure)

    thread = threading.Thread(target=run, name="backend-checks")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result


# --- the seeds' way ------------------------------------------------------------------------------


def _playbook(path: Path, namespace: str, kubeconfig: Path, name: str | None) -> Path:
    query: dict[str, Any] = {
        "kubeconfig": str(kubeconfig),
        "api_version": "batch/v1",
        "kind": "Job",
        "namespace": namespace,
    }
    if name:
        query["name"] = name
    else:
        query["label_selectors"] = [SELECTOR]
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": [
            {"name": "job status", "kubernetes.core.k8s_info": query, "register": "found"},
        ],
    }
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


class Ansible:
    def __init__(self, env: Any, server: KubeApiServer, work: Path) -> None:
        self.env = env
        self.server = server
        self.work = work
        self.server_cpu = ServerCpu(server)
        tmp = work / "tmp"  # fresh per benchmark run: no discovery cache of another server
        tmp.mkdir(parents=True, exist_ok=True)
        self.environ = {
            **os.environ,
            "TMPDIR": str(tmp),
            "ANSIBLE_HOME": str(work / "ansible-home"),
            "ANSIBLE_COLLECTIONS_PATH": str(env.collections),
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "PATH": f"{env.venv / 'bin'}:{os.environ.get('PATH', '')}",
        }
        self.kubeconfigs: dict[str, Path] = {}

    def kubeconfig(self, namespace: str) -> Path:
        if namespace not in self.kubeconfigs:
            path = self.work / f"kubeconfig-{namespace}.yaml"
            path.write_text(yaml.safe_dump(self.server.kubeconfig(namespace=namespace)))
            self.kubeconfigs[namespace] = path
        return self.kubeconfigs[namespace]

    def run(self, namespace: str, name: str | None = None) -> dict[str, float]:
        """One `ansible-playbook` run: wall time and CPU of its whole process tree."""
        tag = name or f"list-{namespace}"
        book = _playbook(self.work / f"pb-{tag}.yml", namespace, self.kubeconfig(namespace), name)
        command = [str(self.env.playbook), "-i", "localhost,", str(book),
                   "-e", f"ansible_python_interpreter={self.env.python}"]  # fmt: skip
        log = (self.work / "ansible.log").open("ab")
        requests, discovery = self.server.requests.total, self.discovery()
        served, wall = self.server_cpu(), time.perf_counter()
        process = subprocess.Popen(command, env=self.environ, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - wall
        log.close()
        if process.returncode != 0:
            tail = (self.work / "ansible.log").read_text()[-2000:]
            raise RuntimeError(f"ansible-playbook failed (rc {process.returncode}):\n{tail}")
        return {
            "wall_s": elapsed,
            "client_cpu_s": usage.ru_utime + usage.ru_stime,
            "server_cpu_s": self.server_cpu() - served,
            "api_requests": self.server.requests.total - requests,
            "discovery_requests": self.discovery() - discovery,
        }

    def discovery(self) -> int:
        return self.server.requests[("get", "discovery")]


def seeds_checks(
    env: Any,
    server: KubeApiServer,
    namespaces: dict[int, str],
    jobs: list[str],
    list_repeats: int,
    per_job: int,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="budeval-bench-ansible-run-"))
    ansible = Ansible(env, server, work)
    result: dict[str, Any] = {"work_dir": str(work), "versions": env.versions()}
    # cold: the first run fills the discovery cache in TMPDIR (kept for the runs that follow)
    result["cold_per_job"] = ansible.run(NS, jobs[0])
    samples = [ansible.run(NS, job) for job in jobs[1 : per_job + 1]]
    result["per_job"] = _measured(samples)
    for n, namespace in namespaces.items():
        samples = [ansible.run(namespace) for _ in range(list_repeats)]
        result[f"list_{n}"] = _measured(samples)
    shutil.rmtree(work, ignore_errors=True)  # kept only when a playbook failed (its log)
    return result
