"""Server-side defaulting and metadata stamping, idempotent so it can run after every write.

What a real apiserver fills in that clients may read back: uid, creationTimestamp, generation,
Job selector/template labels and `backoffLimit`, container termination-message defaults,
Secret `stringData` folded into `data`, the PVC's default storage class (admission plugin).
"""

from __future__ import annotations

import base64
import datetime
import random
import uuid
from typing import Any

from tests.kube.resources import ResourceType

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName alphabet


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(rng: random.Random | None = None) -> str:
    rng = rng or random
    return "".join(rng.choice(NAME_ALPHABET) for _ in range(5))


def generated_name(base: str) -> str:
    return base[:58] + random_suffix()


def stamp_new(obj: dict[str, Any], rtype: ResourceType, namespace: str | None) -> None:
    """Metadata of a newly created object (name must already be set)."""
    obj["apiVersion"] = rtype.api_version
    obj["kind"] = rtype.kind
    meta = obj.setdefault("metadata", {})
    if rtype.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    for field in ("resourceVersion", "deletionTimestamp", "selfLink"):
        meta.pop(field, None)
    if rtype.kind == "Job":
        meta["generation"] = 1
        uid = meta["uid"]
        spec = obj.setdefault("spec", {})
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": meta["name"],
                "controller-uid": uid,
                "job-name": meta["name"],
            }
        )
    if rtype.kind == "Namespace":
        obj["status"] = {"phase": "Active"}


def _container_defaults(spec: dict[str, Any]) -> None:
    for container in spec.get("containers") or []:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", "IfNotPresent")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)


def apply_defaults(obj: dict[str, Any], rtype: ResourceType, default_class: str | None) -> None:
    """Fill defaults (idempotent)."""
    kind = rtype.kind
    if kind == "Secret":
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {}) if string_data else obj.get("data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj.setdefault("type", "Opaque")
    elif kind == "Job":
        spec = obj.setdefault("spec", {})
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        pod_spec = spec.setdefault("template", {}).setdefault("spec", {})
        _container_defaults(pod_spec)
    elif kind == "Pod":
        _container_defaults(obj.setdefault("spec", {}))
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    elif kind == "PersistentVolumeClaim":
        spec = obj.setdefault("spec", {})
        if spec.get("storageClassName") is None and default_class:
            spec["storageClassName"] = default_class
        spec.setdefault("volumeMode", "Filesystem")
        obj.setdefault("status", {}).setdefault("phase", "Pending")
