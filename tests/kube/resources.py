"""The resource types the server knows, and the discovery documents built from them.

One `ResourceType` per plural (plurals are unique across the groups served here, so the plural is
the store key). Discovery is what the kubernetes Python client and ansible's kubernetes.core need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class ResourceType:
    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    verbs: tuple[str, ...] = tuple(CRUD)
    subresources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    short_names: tuple[str, ...] = ()
    name_is_label: bool = False  # metadata.name must be a DNS-1123 label (else: subdomain)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _types() -> dict[str, ResourceType]:
    status = {"status": tuple(STATUS_VERBS)}
    types = [
        ResourceType(
            "namespaces",
            "namespace",
            "Namespace",
            "",
            "v1",
            False,
            ("create", "delete", "get", "list", "patch", "update", "watch"),
            status,
            ("ns",),
            name_is_label=True,
        ),
        ResourceType("secrets", "secret", "Secret", "", "v1", True),
        ResourceType(
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            "",
            "v1",
            True,
            short_names=("sa",),
        ),
        ResourceType("configmaps", "configmap", "ConfigMap", "", "v1", True, short_names=("cm",)),
        ResourceType(
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            "",
            "v1",
            True,
            subresources=status,
            short_names=("pvc",),
        ),
        ResourceType(
            "pods",
            "pod",
            "Pod",
            "",
            "v1",
            True,
            subresources={**status, "log": ("get",)},
            short_names=("po",),
        ),
        ResourceType(
            "jobs", "job", "Job", "batch", "v1", True, subresources=status, name_is_label=True
        ),
        ResourceType(
            "storageclasses",
            "storageclass",
            "StorageClass",
            "storage.k8s.io",
            "v1",
            False,
            short_names=("sc",),
        ),
        ResourceType(
            "priorityclasses",
            "priorityclass",
            "PriorityClass",
            "scheduling.k8s.io",
            "v1",
            False,
            short_names=("pc",),
        ),
        *(
            ResourceType(plural, plural[:-1], kind, RBAC, "v1", namespaced)
            for plural, kind, namespaced in (
                ("roles", "Role", True),
                ("rolebindings", "RoleBinding", True),
                ("clusterroles", "ClusterRole", False),
                ("clusterrolebindings", "ClusterRoleBinding", False),
            )
        ),
        ResourceType(
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
            "authorization.k8s.io",
            "v1",
            False,
            ("create",),
        ),
    ]
    return {t.plural: t for t in types}


TYPES = _types()
GROUP_VERSIONS = {"v1": ""} | {
    t.api_version: t.group for t in TYPES.values() if t.group
}  # groupVersion → group


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    found = TYPES.get(plural)
    if found is None or found.group != group or found.version != version:
        return None
    return found


def version_info() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "28",
        "gitVersion": "v1.28.0",
        "gitCommit": "855e7c48de7388eb330da0f8d9d2394ee818fb8d",
        "gitTreeState": "clean",
        "buildDate": "2023-08-15T10:20:15Z",
        "goVersion": "go1.20.7",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list() -> dict[str, Any]:
    groups = []
    for group_version, group in GROUP_VERSIONS.items():
        if not group:
            continue
        version = {"groupVersion": group_version, "version": group_version.split("/")[1]}
        groups.append({"name": group, "versions": [version], "preferredVersion": version})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    for entry in api_group_list()["groups"]:
        if entry["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None


def api_resource_list(group_version: str) -> dict[str, Any] | None:
    if group_version not in GROUP_VERSIONS:
        return None
    resources: list[dict[str, Any]] = []
    for t in TYPES.values():
        if t.api_version != group_version:
            continue
        main: dict[str, Any] = {
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": list(t.verbs),
        }
        if t.short_names:
            main["shortNames"] = list(t.short_names)
        resources.append(main)
        for sub, verbs in t.subresources.items():
            resources.append(
                {
                    "name": f"{t.plural}/{sub}",
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": list(verbs),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
