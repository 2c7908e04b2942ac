"""Sending manifests and deleting a run's objects: the thin I/O layer over lightkube.

Manifests are built as plain dicts (manifests.py, pure) and become typed lightkube objects only
here, at the edge. Deletes are idempotent (404 is success) and Jobs are deleted with
propagation Background, or the API would orphan their pods.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lightkube import AsyncClient, codecs
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap, PersistentVolumeClaim, Pod, Secret
from lightkube.resources.scheduling_v1 import PriorityClass
from lightkube.types import CascadeType, PatchType

from budeval.backends.base import RunSpec
from budeval.backends.kubernetes.client import retrying
from budeval.backends.kubernetes.labels import LABEL_JOB_NAME, object_names
from budeval.errors import BackendError, NotFound
from budeval.secrets import LocalSecretStore


async def apply(client: AsyncClient, document: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply (field manager `budeval`, forced: budeval owns these objects); returns
    the object as the API server now has it."""
    obj = codecs.from_dict(document)
    metadata = document["metadata"]
    applied = await retrying(
        lambda: client.apply(obj, namespace=metadata.get("namespace"), force=True),
        f"applying {document['kind']} {metadata['name']}",
    )
    return dict(applied.to_dict())


async def annotate(
    client: AsyncClient, resource: Any, name: str, namespace: str, values: dict
) -> None:
    """Merge annotations into an object (a merge patch: apply would drop the fields it omits)."""
    patch = {"metadata": {"annotations": values}}
    await retrying(
        lambda: client.patch(
            resource, name, patch, namespace=namespace, patch_type=PatchType.MERGE
        ),
        f"annotating {name}",
    )


async def _delete(client: AsyncClient, resource: Any, name: str, namespace: str) -> bool:
    cascade = CascadeType.BACKGROUND if resource is Job else None
    try:
        await retrying(
            lambda: client.delete(resource, name, namespace=namespace, cascade=cascade),
            f"deleting {resource.__name__} {name}",
        )
    except NotFound:
        return False
    return True


async def delete_job(client: AsyncClient, job: str, namespace: str) -> None:
    await _delete(client, Job, job, namespace)


async def delete_secret(client: AsyncClient, job: str, namespace: str) -> None:
    """The run's key leaves the cluster as soon as no pod of the run can need it again."""
    await _delete(client, Secret, object_names(job).secret, namespace)


async def delete_run(client: AsyncClient, job: str, namespace: str) -> list[str]:
    """Every object of one run, including pods a foreign delete may have orphaned."""
    names = object_names(job)
    removed = []
    for resource, name in (
        (Job, names.job),
        (Job, names.reader_job),
        (PersistentVolumeClaim, names.data_pvc),
        (PersistentVolumeClaim, names.output_pvc),
        (Secret, names.secret),
        (ConfigMap, names.config),
    ):
        if await _delete(client, resource, name, namespace):
            removed.append(f"{resource.__name__}/{name}")
    for owner in (names.job, names.reader_job):
        pods = await retrying(
            lambda owner=owner: _names(
                client.list(Pod, namespace=namespace, labels={LABEL_JOB_NAME: owner})
            ),
            f"listing the pods of {owner}",
        )
        for pod in pods:
            if await _delete(client, Pod, pod, namespace):
                removed.append(f"Pod/{pod}")
    return removed


async def _names(listing: Any) -> list[str]:
    return [item.metadata.name async for item in listing]


async def pods_of(client: AsyncClient, job: str, namespace: str) -> list[dict[str, Any]]:
    """The Job's pods as the API has them now (one label-selected LIST)."""

    async def read() -> list[dict[str, Any]]:
        listing = client.list(Pod, namespace=namespace, labels={LABEL_JOB_NAME: job})
        return [item.to_dict() async for item in listing]

    return await retrying(read, f"listing the pods of {job}")


async def require_priority_class(client: AsyncClient, name: str) -> None:
    """Admission refuses every pod naming an unknown PriorityClass and the Job only records
    FailedCreate events, so such a run could never start: refuse it before sending anything.
    Not allowed to read PriorityClasses: the Job's missing pod decides later (PodNotCreated)."""
    try:
        await retrying(lambda: client.get(PriorityClass, name), f"reading PriorityClass {name}")
    except NotFound:
        raise BackendError(
            f"PriorityClass {name!r} does not exist in the cluster", reason="PriorityClassNotFound"
        ) from None
    except BackendError as error:
        if error.reason != "Forbidden":
            raise


def secret_values(secrets: LocalSecretStore, spec: RunSpec) -> dict[str, str]:
    """The values of the run's Secret, from the service's secret store."""
    values = {}
    for name, ref in spec.secret_env.items():
        try:
            values[ref.key] = secrets.get(ref.name)[ref.key]
        except (NotFound, KeyError):
            raise BackendError(
                f"secret {ref.name!r} (key {ref.key!r}) needed by {name} is missing",
                reason="SecretMissing",
            ) from None
    return values


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
