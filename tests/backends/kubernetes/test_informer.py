"""The informer's cache against the API test server: what a re-LIST keeps and what it drops."""

from __future__ import annotations

from lightkube import AsyncClient, KubeConfig

from budeval.backends.kubernetes.informer import Informer
from tests.kube import KubeApiServer
from tests.kube.fixtures import job_manifest
from tests.kube.fixtures import kube as kube

NS = "budeval"


async def test_a_relist_keeps_what_was_written_after_its_snapshot_and_drops_the_deleted(
    kube: KubeApiServer,
) -> None:
    client = AsyncClient(KubeConfig.from_dict(kube.kubeconfig()), trust_env=False)
    changed: list[str] = []
    informer = Informer(client, NS, changed.append, resync_seconds=3600, watch_timeout=60)
    kube.create("jobs", job_manifest("gone"))
    version = await informer.relist("Job")
    assert set(informer.cache["Job"]) == {"gone"}
    just_written = job_manifest("fresh")
    just_written["metadata"]["resourceVersion"] = str(int(version) + 1000)
    informer.remember("Job", just_written)  # applied by us; not yet in any LIST
    kube.delete("jobs", NS, "gone", propagation="Background")

    await informer.relist("Job")

    assert set(informer.cache["Job"]) == {"fresh"}
    assert "gone" in changed and "fresh" in changed
    assert informer.view("fresh")[0] is just_written
    await client.close()
