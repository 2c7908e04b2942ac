"""verify: is this (cluster, namespace) ready for runs? Each failure names what to fix.

API reachable (server version) → namespace exists or is created → a SelfSubjectAccessReview for
every verb the backend uses → the storage class (or a default one) exists → the shared datasets
PVC exists or is created. Transient API failures raise (the workflow step retries); refusals
become a report with a reason.
"""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.core_v1 import Namespace, PersistentVolumeClaim
from lightkube.resources.storage_v1 import StorageClass

from budeval.backends.base import VerifyReport
from budeval.backends.kubernetes.client import retrying, server_version
from budeval.backends.kubernetes.manifests import datasets_pvc
from budeval.backends.kubernetes.objects import apply
from budeval.backends.kubernetes.permissions import CLUSTER_PERMISSIONS, NAMESPACE_PERMISSIONS
from budeval.config import Settings
from budeval.errors import BackendError, NotFound

DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


class Refused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


async def verify_cluster(client: AsyncClient, namespace: str, settings: Settings) -> VerifyReport:
    checks: dict[str, str] = {}
    try:
        version = await server_version(client)
        checks["version"] = str(version.get("gitVersion", "unknown"))
        checks["namespace"] = await _namespace(client, namespace)
        checks["permissions"] = await _permissions(client, namespace)
        checks["storage_class"] = await _storage_class(client, settings)
        checks["datasets_pvc"] = await _datasets_pvc(client, namespace, settings)
    except Refused as refusal:
        return VerifyReport(ok=False, checks=checks, reason=refusal.reason, message=refusal.message)
    return VerifyReport(ok=True, checks=checks)


async def _all(listing: Any) -> list[Any]:
    return [item async for item in listing]


async def _namespace(client: AsyncClient, namespace: str) -> str:
    try:
        await retrying(lambda: client.get(Namespace, namespace), f"reading namespace {namespace}")
        return "exists"
    except NotFound:
        pass
    created = Namespace(metadata=ObjectMeta(name=namespace))
    try:
        await retrying(lambda: client.create(created), f"creating namespace {namespace}")
    except BackendError as error:
        if error.reason != "AlreadyExists":  # a retried create that had gone through
            raise
    return "created"


async def _permissions(client: AsyncClient, namespace: str) -> str:
    denied = []
    wanted = [(rule, namespace) for rule in NAMESPACE_PERMISSIONS]
    wanted += [(rule, None) for rule in CLUSTER_PERMISSIONS]
    for (group, resource, verbs), scope in wanted:
        base, _, subresource = resource.partition("/")
        for verb in verbs:
            review = SelfSubjectAccessReview(
                spec=SelfSubjectAccessReviewSpec(
                    resourceAttributes=ResourceAttributes(
                        verb=verb,
                        group=group,
                        resource=base,
                        subresource=subresource or None,
                        namespace=scope,
                    )
                )
            )
            answer = await retrying(
                lambda review=review: client.create(review), "reviewing permissions"
            )
            if not (answer.status and answer.status.allowed):
                denied.append(f"{verb} {resource}" + (f" in {scope}" if scope else ""))
    if denied:
        raise Refused("Forbidden", "missing permissions: " + ", ".join(denied))
    return "all granted"


async def _storage_class(client: AsyncClient, settings: Settings) -> str:
    wanted = settings.profile.storage_class
    if wanted is not None:
        try:
            await retrying(
                lambda: client.get(StorageClass, wanted), f"reading storage class {wanted}"
            )
        except NotFound:
            raise Refused(
                "StorageClassMissing", f"storage class {wanted!r} does not exist"
            ) from None
        return wanted
    classes = await retrying(lambda: _all(client.list(StorageClass)), "listing storage classes")
    for item in classes:
        if (item.metadata.annotations or {}).get(DEFAULT_CLASS) == "true":
            return f"default ({item.metadata.name})"
    raise Refused(
        "NoDefaultStorageClass",
        "the cluster has no default storage class; name one in the storage profile",
    )


async def _datasets_pvc(client: AsyncClient, namespace: str, settings: Settings) -> str:
    name = settings.kube_datasets_pvc
    try:
        claim = await retrying(
            lambda: client.get(PersistentVolumeClaim, name, namespace=namespace),
            f"reading PVC {name}",
        )
        return f"{claim.status.phase if claim.status else 'Unknown'}"
    except NotFound:
        pass
    manifest = datasets_pvc(settings, namespace)
    await apply(client, manifest)
    return "created (empty: copy your datasets into it)"
