"""GET pods/{name}/log: plain text, or a stream with `follow=true` until the container exits."""

from __future__ import annotations

from typing import Any

from tests.kube import podstatus
from tests.kube.cluster import Cluster
from tests.kube.errors import ApiStatus, bad_request
from tests.kube.resources import TYPES
from tests.kube.routes import Route

TEXT = [(b"content-type", b"text/plain")]
WAITING_TEXT = {
    "ImagePullBackOff": "trying and failing to pull image",
    "ErrImagePull": "trying and failing to pull image",
}


def _int(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid {name}: {value!r}") from None


def check_readable(cluster: Cluster, namespace: str, name: str, container: str | None) -> None:
    """404 when the pod is missing; 400 when the container never started; 500 when its node's
    kubelet cannot be reached (the API server proxies the log from it), like the real API."""
    pod = cluster.api.get(TYPES["pods"], namespace, name)
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if container and container not in names:
        raise bad_request(f"container {container} is not valid for pod {name}")
    node = (pod.get("spec") or {}).get("nodeName")
    if cluster.faults.kubelet_unreachable(namespace, name, node):
        raise ApiStatus(
            500,
            "InternalError",
            f'Get "https://10.0.0.1:10250/containerLogs/{namespace}/{name}/'
            f'{container or names[0]}": dial tcp 10.0.0.1:10250: connect: no route to host',
        )
    state = podstatus.container_state(pod)
    if cluster.logs.has(namespace, name) or "running" in state or "terminated" in state:
        return
    reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
    raise ApiStatus(
        400,
        "BadRequest",
        f'container "{container or names[0]}" in pod "{name}" is waiting to start: '
        f"{WAITING_TEXT.get(reason, reason)}",
    )


async def serve_log(cluster: Cluster, route: Route, query: dict[str, str], send: Any) -> None:
    namespace, name = route.namespace or "", route.name or ""
    check_readable(cluster, namespace, name, query.get("container"))
    tail, since = _int(query, "tailLines"), _int(query, "sinceSeconds")
    timestamps = query.get("timestamps", "").lower() == "true"
    if query.get("follow", "").lower() != "true":
        body = cluster.logs.read(namespace, name, tail, since, timestamps).encode()
        limit = _int(query, "limitBytes")
        if limit is not None:
            body = body[:limit]
        headers = [*TEXT, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return

    def finished() -> bool:
        if cluster.stopping:
            return True
        pod = cluster.store.get("pods", namespace, name)
        return pod is None or "terminated" in podstatus.container_state(pod)

    await send({"type": "http.response.start", "status": 200, "headers": TEXT})
    stream = cluster.logs.follow(namespace, name, finished, tail, since, timestamps)
    async for chunk in stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
