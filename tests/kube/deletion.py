"""DELETE and its garbage collection: Job → Pod cascade by ownerReference, namespace contents.

Propagation: `Background` deletes the Job then its pods; `Foreground` marks the Job deleting,
deletes its pods, then the Job; `Orphan` (the batch/v1 default when no policy is given) keeps the
pods and strips their ownerReference. Deletion is immediate (no graceful termination).
"""

from __future__ import annotations

from typing import Any

from tests.kube import defaults, errors
from tests.kube.errors import bad_request
from tests.kube.resources import TYPES, ResourceType
from tests.kube.selectors import Predicate
from tests.kube.store import Store

POLICIES = ("Background", "Foreground", "Orphan")


def owned_pods(store: Store, namespace: str, uid: str) -> list[dict[str, Any]]:
    pods, _ = store.list("pods", namespace)
    return [
        p
        for p in pods
        if any(ref.get("uid") == uid for ref in p["metadata"].get("ownerReferences") or [])
    ]


def delete(
    store: Store, rtype: ResourceType, namespace: str, name: str, policy: str | None = None
) -> dict[str, Any]:
    if policy is not None and policy not in POLICIES:
        raise bad_request(f"unsupported propagationPolicy {policy!r}")
    with store.lock:
        current = store.get(rtype.plural, namespace, name)
        if current is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        if rtype.kind == "Namespace":
            for plural, other in TYPES.items():
                if other.namespaced:
                    for obj in store.list(plural, name)[0]:
                        store.remove(plural, name, obj["metadata"]["name"])
        if rtype.kind != "Job":
            return store.remove(rtype.plural, namespace, name) or current
        return _delete_job(store, current, policy or "Orphan")


def _delete_job(store: Store, job: dict[str, Any], policy: str) -> dict[str, Any]:
    meta = job["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    pods = owned_pods(store, namespace, uid)
    if policy == "Orphan":
        for pod in pods:
            store.mutate("pods", namespace, pod["metadata"]["name"], _strip_owner(uid))
        return store.remove("jobs", namespace, name) or job
    if policy == "Foreground":
        store.mutate("jobs", namespace, name, _mark_deleting)
        for pod in pods:
            store.remove("pods", namespace, pod["metadata"]["name"])
        return store.remove("jobs", namespace, name) or job
    gone = store.remove("jobs", namespace, name) or job
    for pod in pods:
        store.remove("pods", namespace, pod["metadata"]["name"])
    return gone


def _strip_owner(uid: str):
    def change(pod: dict[str, Any]) -> None:
        refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
        if refs:
            pod["metadata"]["ownerReferences"] = refs
        else:
            pod["metadata"].pop("ownerReferences", None)

    return change


def _mark_deleting(job: dict[str, Any]) -> None:
    job["metadata"]["deletionTimestamp"] = defaults.now_rfc3339()
    job["metadata"]["finalizers"] = ["foregroundDeletion"]


def delete_collection(
    store: Store, rtype: ResourceType, namespace: str | None, match: Predicate, policy: str | None
) -> dict[str, Any]:
    with store.lock:
        items, _ = store.list(rtype.plural, namespace)
        deleted = []
        for obj in items:
            if match(obj):
                meta = obj["metadata"]
                deleted.append(
                    delete(store, rtype, meta.get("namespace", ""), meta["name"], policy)
                )
        _, rv = store.list(rtype.plural, namespace)
    return {
        "kind": rtype.list_kind,
        "apiVersion": rtype.api_version,
        "metadata": {"resourceVersion": str(rv)},
        "items": deleted,
    }
