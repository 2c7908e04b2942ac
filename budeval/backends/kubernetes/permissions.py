"""Exactly the API permissions the Kubernetes backend uses — the one source for RBAC.

`verify` asks a SelfSubjectAccessReview for each; the Helm chart's Role and the Ansible playbook
grant the same (tests compare them), so a new API call means a change here first. Nothing more:
tests/backends/kubernetes/test_permissions.py runs the backend against RBAC that grants exactly
this and fails on a refused call and on a grant no call used. Secrets are written and deleted,
never read (`get secrets` would expose every Secret of the namespace). A server-side apply that
creates its object is authorized as `create` as well as `patch`.
(group, resource[/subresource], verbs)
"""

from __future__ import annotations

NAMESPACE_PERMISSIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("batch", "jobs", ("get", "list", "watch", "create", "patch", "delete")),
    ("", "pods", ("list", "watch", "delete")),
    ("", "pods/log", ("get",)),
    ("", "persistentvolumeclaims", ("get", "list", "watch", "create", "patch", "delete")),
    ("", "secrets", ("create", "patch", "delete")),
    ("", "configmaps", ("create", "patch", "delete")),
)
CLUSTER_PERMISSIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "namespaces", ("get", "create")),
    ("storage.k8s.io", "storageclasses", ("get", "list")),
    ("scheduling.k8s.io", "priorityclasses", ("get",)),
    ("authorization.k8s.io", "selfsubjectaccessreviews", ("create",)),
)
