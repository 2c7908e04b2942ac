"""Least privilege, proven against the API test server with RBAC switched on.

The server grants exactly `permissions.py` and records every (verb, group, resource) a request
needed. A whole life of runs through the backend — verify (a new namespace, the default and a named
storage class), submit with files, a run to success with its results read back, logs, a cancel,
a status question for a Job that is gone, cleanup (with a pod a
foreign delete orphaned) — must never meet a 403, and must have used
every permission granted: a new API call without a grant fails the first half, a grant nobody
uses any more fails the second.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from budeval.backends.kubernetes.backend import KubernetesBackend
from budeval.backends.kubernetes.permissions import CLUSTER_PERMISSIONS, NAMESPACE_PERMISSIONS
from budeval.config import Settings
from budeval.secrets import LocalSecretStore
from budeval.status import RunStatus
from tests.backends.kubernetes.test_backend import KEY, NS, Changes, run_spec
from tests.kube import KubeApiServer

GRANTED = {
    (verb, group, resource)
    for group, resource, verbs in (*NAMESPACE_PERMISSIONS, *CLUSTER_PERMISSIONS)
    for verb in verbs
}


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    with KubeApiServer(bookmark_interval=0.2) as server:
        server.grant_only([*NAMESPACE_PERMISSIONS, *CLUSTER_PERMISSIONS])
        yield server


def _backend(tmp_path: Path, kube: KubeApiServer, namespace: str, **update: object):
    kubeconfig = tmp_path / f"kubeconfig-{namespace}.yaml"
    kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig(namespace=namespace)))
    settings = Settings(
        home=tmp_path / "home",
        kubeconfig=kubeconfig,
        backend="kubernetes",
        kube_namespace=namespace,
        kube_request_timeout_seconds=2.0,
        **update,
    )
    settings.ensure_dirs()
    secrets = LocalSecretStore(settings.secrets_dir)
    secrets.put("key-e1", {"api_key": KEY})
    return KubernetesBackend(settings, secrets)


async def test_the_backend_uses_exactly_the_permissions_it_asks_for(
    tmp_path: Path, kube: KubeApiServer
) -> None:
    named = _backend(tmp_path, kube, "fresh-ns", storage_profile="production")
    try:  # a namespace to create, the default storage class to find
        report = await named.verify()
        assert report.ok, report
    finally:
        await named.stop()
    backend = _backend(tmp_path, kube, NS)
    try:
        await _one_life(kube, backend)
    finally:
        await backend.stop()
    assert kube.refused_permissions == set()
    unused = sorted(GRANTED - kube.used_permissions)
    missing = sorted(kube.used_permissions - GRANTED)
    assert (missing, unused) == ([], [])


async def _one_life(kube: KubeApiServer, backend: KubernetesBackend) -> None:
    kube.kubelet_mode = "run"
    report = await backend.verify()
    assert report.ok and report.checks["permissions"] == "all granted", report
    changes = Changes(backend)
    spec = run_spec("r1").model_copy(
        update={"files": {"config/eval.json": "{}"}, "priority_class": "system-cluster-critical"}
    )
    handle = await backend.submit(spec)
    await changes.until("r1", RunStatus.SUCCEEDED, timeout=30)
    await backend.fetch_outputs(handle)
    assert "smoke: done" in "".join([line async for line in backend.logs(handle, tail=50)])
    cancelled = await backend.submit(run_spec("r2", duration_seconds=30))
    await changes.until("r2", RunStatus.RUNNING, timeout=30)
    await backend.cancel(cancelled)
    await changes.until("r2", RunStatus.CANCELLED)
    gone = handle.model_copy(update={"run_id": "r3", "name": "eval-r3-gone"})
    state = (await backend.statuses([gone]))["r3"]  # asks the API once for a Job it never saw
    assert state.reason == "JobMissing"
    kube.delete("jobs", NS, handle.name, propagation="Orphan")  # someone else's delete
    assert kube.pods(NS, handle.name)  # left behind: cleanup must remove them itself
    for each in (handle, cancelled):
        await backend.cleanup(each)
    assert not kube.objects("pods", NS)
