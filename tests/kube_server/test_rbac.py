"""ServiceAccounts and rbac.authorization.k8s.io/v1 objects: discovery, CRUD and roleRef rules.

The server stores them as plain objects (no authorization is enforced: SelfSubjectAccessReviews
answer from the test's deny set); what the Ansible playbooks and `kubectl apply` need is that they
are discoverable, creatable, patchable and validated like on a real API server.
"""

from __future__ import annotations

import httpx
import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.resources.rbac_authorization_v1 import (
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
)

from tests.kube import KubeApiServer
from tests.kube.fixtures import NS
from tests.kube.fixtures import client as client
from tests.kube.fixtures import kube as kube

RBAC = "rbac.authorization.k8s.io"


async def test_discovery_lists_serviceaccounts_and_rbac(kube: KubeApiServer) -> None:
    async with httpx.AsyncClient(base_url=kube.url) as http:
        groups = (await http.get("/apis")).json()["groups"]
        (rbac,) = [g for g in groups if g["name"] == RBAC]
        assert rbac["preferredVersion"]["groupVersion"] == f"{RBAC}/v1"
        core = {r["name"]: r for r in (await http.get("/api/v1")).json()["resources"]}
        listed = {r["name"]: r for r in (await http.get(f"/apis/{RBAC}/v1")).json()["resources"]}
    assert core["serviceaccounts"]["kind"] == "ServiceAccount"
    assert core["serviceaccounts"]["namespaced"] and core["serviceaccounts"]["shortNames"] == ["sa"]
    assert {name: (r["kind"], r["namespaced"]) for name, r in listed.items()} == {
        "roles": ("Role", True),
        "rolebindings": ("RoleBinding", True),
        "clusterroles": ("ClusterRole", False),
        "clusterrolebindings": ("ClusterRoleBinding", False),
    }
    assert all("patch" in r["verbs"] and "watch" in r["verbs"] for r in listed.values())


async def test_create_get_patch_serviceaccount_role_and_bindings(
    client: AsyncClient, kube: KubeApiServer
) -> None:
    rules = [PolicyRule(apiGroups=["batch"], resources=["jobs"], verbs=["get", "list"])]
    ref = RoleRef(apiGroup=RBAC, kind="Role", name="runner")
    subject = Subject(kind="ServiceAccount", name="runner", namespace=NS)
    await client.create(ServiceAccount(metadata=ObjectMeta(name="runner")))
    await client.create(Role(metadata=ObjectMeta(name="runner"), rules=rules))
    await client.create(
        RoleBinding(metadata=ObjectMeta(name="runner"), roleRef=ref, subjects=[subject])
    )
    await client.create(ClusterRole(metadata=ObjectMeta(name="runner-ns"), rules=rules))
    await client.create(
        ClusterRoleBinding(
            metadata=ObjectMeta(name="runner-ns"),
            roleRef=RoleRef(apiGroup=RBAC, kind="ClusterRole", name="runner-ns"),
            subjects=[subject],
        )
    )
    role = await client.get(Role, "runner", namespace=NS)
    assert role.rules == rules and role.metadata.uid
    assert (await client.get(ClusterRole, "runner-ns")).metadata.namespace is None
    patched = await client.patch(Role, "runner", {"metadata": {"labels": {"a": "b"}}}, namespace=NS)
    assert patched.metadata.labels == {"a": "b"} and patched.rules == rules
    assert kube.get("rolebindings", NS, "runner")["roleRef"]["name"] == "runner"
    assert kube.get("serviceaccounts", NS, "runner")["kind"] == "ServiceAccount"
    assert [o["metadata"]["name"] for o in kube.objects("clusterrolebindings")] == ["runner-ns"]


async def test_role_binding_needs_a_role_ref_and_cannot_change_it(client: AsyncClient) -> None:
    with pytest.raises(ApiError) as missing:
        await client.create(
            RoleBinding(
                metadata=ObjectMeta(name="no-ref"), roleRef=RoleRef(apiGroup=RBAC, kind="", name="")
            )
        )
    assert missing.value.status.code == 422
    ref = RoleRef(apiGroup=RBAC, kind="Role", name="a")
    await client.create(RoleBinding(metadata=ObjectMeta(name="bound"), roleRef=ref))
    with pytest.raises(ApiError) as changed:
        await client.patch(RoleBinding, "bound", {"roleRef": {"name": "b"}}, namespace=NS)
    assert changed.value.status.code == 422
    assert "cannot change roleRef" in changed.value.status.message
