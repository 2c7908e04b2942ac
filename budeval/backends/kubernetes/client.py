"""The one place that builds lightkube clients and translates their failures into budeval's tree.

    5xx / 429, timeouts, connection errors   → TransientError (reason KubernetesUnavailable)
    403                                        → BackendError   (reason Forbidden)
    404                                        → NotFound
    409 / 422 / other 4xx                      → BackendError   (reason = the Status reason)
Messages carry the API server's own message (which never contains our secrets: we never send a
secret except inside a Secret's data, and the API does not echo data back in errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig

from budeval.backends.kubernetes.clusters import ClusterConfig
from budeval.errors import BackendError, NotFound, TransientError

FIELD_MANAGER = "budeval"
T = TypeVar("T")


def connect(cluster: ClusterConfig, timeout_seconds: float) -> AsyncClient:
    """A client for one cluster; its namespace is the cluster's (not the kubeconfig's)."""
    try:
        if cluster.kubeconfig is not None:
            config = KubeConfig.from_dict(cluster.kubeconfig)
        elif cluster.kubeconfig_file is not None:
            config = KubeConfig.from_file(cluster.kubeconfig_file)
        else:
            config = KubeConfig.from_env()
        single = config.get(cluster.context) if cluster.context else config.get()
    except Exception as error:  # lightkube raises several types for unusable configs
        raise BackendError(
            f"cannot use the kubeconfig of cluster {cluster.key!r}: {type(error).__name__}",
            reason="KubeconfigInvalid",
        ) from None
    if single is None:
        raise BackendError(
            f"cluster {cluster.key!r}: context {cluster.context!r} not in its kubeconfig",
            reason="KubeconfigInvalid",
        )
    return AsyncClient(
        single,
        namespace=cluster.namespace,
        timeout=httpx2.Timeout(timeout_seconds),
        field_manager=FIELD_MANAGER,
        trust_env=False,
    )


def status_code(error: BaseException) -> int | None:
    """The HTTP status of a lightkube/httpx2 error (a watch's 410 arrives in both forms)."""
    if isinstance(error, ApiError):
        return int(error.status.code or error.response.status_code)
    if isinstance(error, httpx2.HTTPStatusError):
        return error.response.status_code
    return None


def translate(error: BaseException, doing: str) -> Exception:
    code = status_code(error)
    if code is None:
        return TransientError(
            f"Kubernetes API unreachable while {doing}: {type(error).__name__}",
            reason="KubernetesUnavailable",
        )
    message = error.status.message if isinstance(error, ApiError) else str(code)
    reason = error.status.reason if isinstance(error, ApiError) else None
    if code >= 500 or code == 429:
        return TransientError(
            f"Kubernetes API error {code} while {doing}: {message}", reason="KubernetesUnavailable"
        )
    if code == 404:
        return NotFound(f"{doing}: {message}")
    if code == 403:
        return BackendError(f"forbidden while {doing}: {message}", reason="Forbidden")
    return BackendError(f"{doing}: {message}", reason=reason or f"HTTP{code}")


@contextlib.contextmanager
def kube_errors(doing: str) -> Iterator[None]:
    """Translate what lightkube raises inside the block."""
    try:
        yield
    except (ApiError, httpx2.HTTPError) as error:
        raise translate(error, doing) from error


def http_of(client: AsyncClient) -> httpx2.AsyncClient:
    """lightkube's own httpx2 client (private, but it carries the cluster's URL, TLS and auth)."""
    return client._client._client  # type: ignore[no-any-return]


async def list_raw(
    client: AsyncClient, path: str, selector: str, *, page: int = 500
) -> tuple[list[dict[str, Any]], str]:
    """A label-selected LIST as plain JSON, paged; returns (items, resourceVersion).

    Why not `client.list`: decoding into lightkube's typed models and back to dicts cost ≈0.45 s
    of CPU per 1,000 Jobs (measured in bench/kubernetes.py), on the event loop; plain JSON is
    about ten times cheaper. Items of a LIST carry no kind/apiVersion, as in the real API.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params = {"labelSelector": selector, "limit": str(page)}
        if token:
            params["continue"] = token
        response = await http_of(client).get(path, params=params)
        response.raise_for_status()
        body = await asyncio.to_thread(json.loads, response.content)  # MBs: off the event loop
        items += body.get("items") or []
        metadata = body.get("metadata") or {}
        token = metadata.get("continue") or None
        if token is None:
            return items, str(metadata.get("resourceVersion") or "")


async def server_version(client: AsyncClient) -> dict[str, Any]:
    """GET /version. lightkube has no call for it; its underlying httpx2 client does."""

    async def read() -> dict[str, Any]:
        response = await http_of(client).get("/version")
        response.raise_for_status()
        return dict(response.json())

    return await retrying(read, "reading the server version")


async def retrying(
    call: Callable[[], Awaitable[T]], doing: str, *, attempts: int = 5, first_delay: float = 0.05
) -> T:
    """`call()` with translated errors, retried a few times on TransientError (5xx, timeouts).

    A busy API server drops requests now and then; retrying each call here keeps one flaky call
    from costing a whole workflow step (which re-submits every run of the evaluation).
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            with kube_errors(doing):
                return await call()
        except TransientError:
            if attempt == attempts:
                raise
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
