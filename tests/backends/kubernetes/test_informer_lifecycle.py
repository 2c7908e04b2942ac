"""Informers of request kubeconfigs close when no live run needs them (issue 8 item 10).

Seen on a real cluster: the service's connections to the API server grew from 14 to 36 after six
evaluations with their own kubeconfigs. Here several runs on distinct request kubeconfigs run to
their end against the API test server; afterwards its open watch streams and TCP connections
return to what they were, and a later question about a run (also from a restarted backend)
opens what it needs again.
"""

from __future__ import annotations

import json
from pathlib import Path

from budeval.backends.base import REQUEST_PREFIX, RunHandle
from budeval.backends.kubernetes.backend import KubernetesBackend
from budeval.config import Settings
from budeval.secrets import LocalSecretStore
from budeval.status import RunStatus
from tests.backends.kubernetes.test_backend import KEY, NS, Changes, run_spec
from tests.backends.kubernetes.test_backend import kube as kube
from tests.backends.kubernetes.test_backend import settings as settings
from tests.kube import KubeApiServer

RUNS = 4
ESTABLISHED = "01"


def server_connections(port: int) -> int:
    """Established TCP connections whose local end is the test server's port (Linux /proc)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def backend_for(settings: Settings) -> tuple[KubernetesBackend, LocalSecretStore]:
    secrets = LocalSecretStore(settings.secrets_dir)
    return KubernetesBackend(settings, secrets), secrets


async def run_on_own_kubeconfig(
    kube: KubeApiServer, backend: KubernetesBackend, secrets: LocalSecretStore, index: int
) -> RunHandle:
    name = f"key-req-{index}"
    kubeconfig = kube.kubeconfig(namespace=NS, token=f"request-token-{index}")
    secrets.put(name, {"api_key": KEY, "kubeconfig": json.dumps(kubeconfig)})
    spec = run_spec(f"r{index}").model_copy(
        update={"cluster": REQUEST_PREFIX + name, "eval_id": f"e{index}"}
    )
    return await backend.submit(spec)


async def test_request_informers_close_when_their_runs_end_and_reopen_on_demand(
    kube: KubeApiServer, settings: Settings
) -> None:
    kube.kubelet_mode = "run"
    settings = settings.model_copy(update={"kube_informer_idle_seconds": 0.2})
    backend, secrets = backend_for(settings)
    secrets.put("key-e1", {"api_key": KEY})
    assert (await backend.verify()).ok  # the datasets PVC the runs mount
    before = (kube.open_watches, server_connections(kube.port))
    try:
        changes = Changes(backend)
        handles = []
        for index in range(RUNS):
            handles.append(await run_on_own_kubeconfig(kube, backend, secrets, index))
        during = (kube.open_watches, server_connections(kube.port))
        for handle in handles:
            await changes.until(handle.run_id, RunStatus.SUCCEEDED, timeout=30)
        await kube.until(
            lambda: kube.open_watches <= before[0] and server_connections(kube.port) <= before[1],
            timeout=15,
        )  # measured: (watches, connections) before (0, 0), during (12, 16), after (0, 0)
        assert during[0] >= before[0] + 3 * RUNS  # each kubeconfig had its own watches
        again = (await backend.statuses([handles[0]]))[handles[0].run_id]
        assert again.status is RunStatus.SUCCEEDED  # reopened to answer
        await kube.until(lambda: kube.open_watches <= before[0], timeout=15)
    finally:
        await backend.stop()
    restarted, _ = backend_for(settings)
    try:
        state = (await restarted.statuses([handles[1]]))[handles[1].run_id]
        assert state.status is RunStatus.SUCCEEDED
        await restarted.cleanup(handles[1])
        await kube.until(lambda: kube.open_watches <= before[0], timeout=15)
    finally:
        await restarted.stop()
