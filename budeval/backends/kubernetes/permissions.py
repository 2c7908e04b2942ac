"""Exactly the API permissions the Kubernetes backend uses — the one source for RBAC.

`verify` asks a SelfSubjectAccessReview for each; the Helm chart's Role and the Ansible playbook
grant the same (tests compare them), so a new API call means a change here first.
(group, resource[/subresource], verbs)
"""

from __future__ import annotations

NAMESPACE_PERMISSIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("batch", "jobs", ("get", "list", "watch", "create", "patch", "delete")),
    ("", "pods", ("get", "list", "watch", "delete")),
    ("", "pods/log", ("get",)),
    ("", "persistentvolumeclaims", ("get", "list", "watch", "create", "patch", "delete")),
    ("", "secrets", ("get", "create", "patch", "delete")),
    ("", "configmaps", ("get", "create", "patch", "delete")),
)
CLUSTER_PERMISSIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "namespaces", ("get", "create")),
    ("storage.k8s.io", "storageclasses", ("get", "list")),
    ("authorization.k8s.io", "selfsubjectaccessreviews", ("create",)),
)
