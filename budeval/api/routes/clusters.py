"""`/clusters`: the Kubernetes clusters evaluations can be sent to (by name, `cluster`).

Available whatever the backend (registering is harmless; a local service refuses `cluster` at
start). The kubeconfig is write-only: it goes to the secret store, and responses show only the
server URL, namespace and context.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Response

from budeval.api.deps import Authenticated, ServicesDep
from budeval.api.kube_schemas import (
    DNS1123_LABEL,
    ClusterCreate,
    ClusterPublic,
    cluster_public,
)
from budeval.errors import InvalidRequest
from budeval.workflow import commands

router = APIRouter(prefix="/clusters", tags=["clusters"], dependencies=Authenticated)
ClusterNameParam = Annotated[str, Path(pattern=DNS1123_LABEL, max_length=63)]


@router.get("")
async def list_clusters(services: ServicesDep) -> list[ClusterPublic]:
    """`default` (the service's own) first, then the registered ones by name."""

    def read() -> list[ClusterPublic]:
        clusters = services.clusters
        return [cluster_public(clusters.info(name)) for name in clusters.names()]

    return await asyncio.to_thread(read)


@router.get("/{name}")
async def show_cluster(name: ClusterNameParam, services: ServicesDep) -> ClusterPublic:
    return cluster_public(await asyncio.to_thread(services.clusters.info, name))


@router.post("", status_code=201)
async def register_cluster(body: ClusterCreate, services: ServicesDep) -> ClusterPublic:
    """409 when the name is taken; 422 for a kubeconfig without clusters or a usable context."""
    try:
        info = await asyncio.to_thread(
            services.clusters.register,
            body.name,
            body.kubeconfig.get_secret_value(),
            body.namespace,
            body.context,
        )
    except (TypeError, ValueError):  # its JSON encoding failed: nothing was kept
        raise InvalidRequest(commands.NOT_PLAIN_KUBECONFIG, field="kubeconfig") from None
    return cluster_public(info)


@router.delete("/{name}", status_code=204)
async def remove_cluster(name: ClusterNameParam, services: ServicesDep) -> Response:
    """409 for `default` and for a cluster unfinished evaluations run on."""
    await commands.remove_cluster(services, name)
    return Response(status_code=204)
