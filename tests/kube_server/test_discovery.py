"""Discovery documents, as the kubernetes Python client / ansible kubernetes.core read them."""

from __future__ import annotations

import httpx
from lightkube.models.meta_v1 import APIGroupList, APIResourceList, APIVersions

from tests.kube import KubeApiServer
from tests.kube.fixtures import kube as kube


async def test_discovery_documents(kube: KubeApiServer) -> None:
    async with httpx.AsyncClient(base_url=kube.url) as http:
        version = (await http.get("/version")).json()
        assert version["gitVersion"] == "v1.28.0" and version["major"] == "1"
        assert APIVersions.from_dict((await http.get("/api")).json()).versions == ["v1"]
        groups = APIGroupList.from_dict((await http.get("/apis")).json())
        names = {g.name: g.preferredVersion.groupVersion for g in groups.groups}
        assert names == {
            "batch": "batch/v1",
            "storage.k8s.io": "storage.k8s.io/v1",
            "scheduling.k8s.io": "scheduling.k8s.io/v1",
            "authorization.k8s.io": "authorization.k8s.io/v1",
            "rbac.authorization.k8s.io": "rbac.authorization.k8s.io/v1",
        }
        listed = {}
        for path in ("/api/v1", "/apis/batch/v1", "/apis/storage.k8s.io/v1"):
            resources = APIResourceList.from_dict((await http.get(path)).json())
            listed |= {r.name: r for r in resources.resources}
        missing = await http.get("/apis/apps/v1")
        assert missing.status_code == 404 and missing.json()["kind"] == "Status"
    assert listed["jobs"].kind == "Job" and listed["jobs"].namespaced
    assert "watch" in listed["jobs"].verbs and "patch" in listed["jobs"].verbs
    assert listed["jobs/status"].verbs == ["get", "patch", "update"]
    assert listed["pods/log"].verbs == ["get"]
    assert not listed["namespaces"].namespaced and not listed["storageclasses"].namespaced
    assert {"secrets", "configmaps", "persistentvolumeclaims", "pods"} <= set(listed)
    assert kube.requests[("get", "discovery")] == 7
