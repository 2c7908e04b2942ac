"""pytest fixtures and manifest builders for tests that use the API test server.

Import the fixtures into a test module (`from tests.kube.fixtures import kube as kube`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig

from tests.kube.server import KubeApiServer

NS = "budeval"


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    with KubeApiServer(bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
async def client(kube: KubeApiServer) -> AsyncIterator[AsyncClient]:
    config = KubeConfig.from_dict(kube.kubeconfig())
    async with AsyncClient(config, field_manager="budeval", trust_env=False) as api:
        yield api


def job_manifest(
    name: str,
    command: list[str] | None = None,
    *,
    labels: dict[str, str] | None = None,
    backoff_limit: int | None = 0,
    namespace: str = NS,
    **spec: Any,
) -> dict[str, Any]:
    labels = labels or {"app.kubernetes.io/managed-by": "budeval"}
    job_spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "engine", "image": "budeval/engine:1", "command": command or ["true"]}
                ],
            },
        },
        **spec,
    }
    if backoff_limit is not None:
        job_spec["backoffLimit"] = backoff_limit
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": job_spec,
    }
