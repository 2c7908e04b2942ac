"""A run's log, read through `pods/log` from its newest pod.

The API server proxies the log from the pod's kubelet, so a node it cannot reach answers 500:
that is a TransientError (client.py's table), for the caller to tolerate, never a silent "".
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from budeval.backends.base import RunHandle
from budeval.backends.kubernetes import objects, podstate
from budeval.backends.kubernetes.client import kube_errors
from budeval.backends.kubernetes.informer import Informer
from budeval.errors import Conflict


async def run_log(
    informer: Informer,
    handle: RunHandle,
    *,
    tail: int | None = None,
    since: float | None = None,
    follow: bool = False,
) -> AsyncIterator[str]:
    _, pods, _ = informer.view(handle.name)
    if not pods:  # the cache may lag a just-created pod by a moment: ask once
        pods = await objects.pods_of(informer.client, handle.name, informer.namespace)
    if not pods:
        raise Conflict(f"run {handle.run_id} has no pod (not started yet, or removed)")
    pod = podstate.newest(pods)["metadata"]["name"]
    with kube_errors(f"reading the log of {pod}"):
        async for line in informer.client.log(
            pod,
            namespace=informer.namespace,
            tail_lines=tail,
            since=int(since) if since else None,
            follow=follow,
        ):
            yield line
