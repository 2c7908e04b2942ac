"""Watch streams: events, selector transitions, resume, 410, dropped streams, bookmarks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import httpx2
import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Secret
from lightkube.types import PatchType

from tests.kube import KubeApiServer
from tests.kube.fixtures import NS
from tests.kube.fixtures import client as client
from tests.kube.fixtures import kube as kube

WATCHED = {"app.kubernetes.io/managed-by": "budeval"}


def cm(name: str, labels: dict[str, str] | None = None) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, labels=WATCHED if labels is None else labels))


async def take(stream: AsyncIterator, n: int, timeout: float = 5.0) -> list[tuple[str, str]]:
    events = []
    for _ in range(n):
        kind, obj = await asyncio.wait_for(anext(stream), timeout)
        events.append((kind, obj.metadata.name))
    return events


async def list_rv(client: AsyncClient) -> str:
    listing = client.list(ConfigMap, namespace=NS)
    _ = [item async for item in listing]
    return listing.resourceVersion


async def test_watch_streams_added_modified_deleted(client: AsyncClient) -> None:
    rv = await list_rv(client)
    stream = aiter(client.watch(ConfigMap, namespace=NS, labels=WATCHED, resource_version=rv))
    await client.create(cm("ignored", labels={}))
    await client.create(cm("a"))
    await client.patch(ConfigMap, "a", {"data": {"k": "v"}}, patch_type=PatchType.MERGE)
    await client.delete(ConfigMap, "a")
    await client.create(cm("b"))
    unlabel = {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    await client.patch(ConfigMap, "b", unlabel, patch_type=PatchType.MERGE)  # leaves the selection
    relabel = {"metadata": {"labels": WATCHED}}
    await client.patch(ConfigMap, "b", relabel, patch_type=PatchType.MERGE)  # enters it again
    assert await take(stream, 6) == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
        ("ADDED", "b"),
        ("DELETED", "b"),
        ("ADDED", "b"),
    ]


async def test_watch_without_rv_starts_with_current_objects(client: AsyncClient) -> None:
    await client.create(cm("x"))
    await client.create(cm("y"))
    stream = aiter(client.watch(ConfigMap, namespace=NS, labels=WATCHED))
    assert sorted(await take(stream, 2)) == [("ADDED", "x"), ("ADDED", "y")]


async def test_watch_resumes_from_resource_version(client: AsyncClient) -> None:
    rv = await list_rv(client)
    await client.create(cm("p"))
    await client.create(cm("q"))
    stream = aiter(client.watch(ConfigMap, namespace=NS, resource_version=rv))
    assert await take(stream, 2) == [("ADDED", "p"), ("ADDED", "q")]


async def test_resumed_watch_replays_only_its_own_kind(client: AsyncClient) -> None:
    rv = await list_rv(client)
    await client.create(Secret(metadata=ObjectMeta(name="other-kind", labels=WATCHED)))
    await client.create(cm("mine"))
    stream = aiter(client.watch(ConfigMap, namespace=NS, resource_version=rv))
    assert await take(stream, 1) == [("ADDED", "mine")]


async def test_compacted_history_answers_410(kube: KubeApiServer, client: AsyncClient) -> None:
    rv = await list_rv(client)
    await client.create(cm("after"))
    kube.compact()
    with pytest.raises(ApiError) as caught:
        await take(aiter(client.watch(ConfigMap, namespace=NS, resource_version=rv)), 1)
    assert caught.value.status.code == 410 and caught.value.status.reason == "Expired"
    current = await list_rv(client)  # watching from the current RV is fine
    stream = aiter(client.watch(ConfigMap, namespace=NS, resource_version=current))
    await client.create(cm("fresh"))
    assert await take(stream, 1) == [("ADDED", "fresh")]


async def test_history_window_is_bounded() -> None:
    with KubeApiServer(history_limit=3) as server:
        start = str(server.store.rv)
        for i in range(5):
            server.create("configmaps", {"metadata": {"name": f"h{i}"}})
        config = KubeConfig.from_dict(server.kubeconfig())
        async with AsyncClient(config, trust_env=False) as api:
            with pytest.raises(ApiError) as caught:
                await take(aiter(api.watch(ConfigMap, namespace=NS, resource_version=start)), 1)
            assert caught.value.status.code == 410
            recent = str(server.store.rv - 2)  # still inside the window
            stream = aiter(api.watch(ConfigMap, namespace=NS, resource_version=recent))
            assert await take(stream, 2) == [("ADDED", "h3"), ("ADDED", "h4")]


async def test_expired_watches_get_a_410_error_event(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    stream = aiter(client.watch(ConfigMap, namespace=NS, resource_version=await list_rv(client)))
    first = asyncio.ensure_future(take(stream, 1))
    await kube.until(lambda: kube.open_watches == 1)
    assert kube.expire_watches() == 1
    with pytest.raises(ApiError) as caught:
        await first
    assert caught.value.status.code == 410


async def test_dropped_watch_breaks_the_stream(kube: KubeApiServer, client: AsyncClient) -> None:
    stream = aiter(client.watch(ConfigMap, namespace=NS, resource_version=await list_rv(client)))
    first = asyncio.ensure_future(take(stream, 1))
    await kube.until(lambda: kube.open_watches == 1)
    assert kube.faults.drop_watches() == 1
    with pytest.raises(httpx2.TransportError):  # premature end of the chunked body
        await first


async def test_lightkube_reconnects_after_server_timeout(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    rv = await list_rv(client)
    stream = aiter(client.watch(ConfigMap, namespace=NS, resource_version=rv, server_timeout=1))
    pending = asyncio.ensure_future(take(stream, 1))
    await kube.until(lambda: kube.requests[("watch", "configmaps")] >= 2)
    await client.create(cm("late"))
    assert await pending == [("ADDED", "late")]


async def read_lines(kube: KubeApiServer, params: dict[str, str]) -> list[dict]:
    async with (
        httpx.AsyncClient(base_url=kube.url, timeout=10) as http,
        http.stream("GET", f"/api/v1/namespaces/{NS}/configmaps", params=params) as response,
    ):
        assert response.status_code == 200
        return [json.loads(line) async for line in response.aiter_lines() if line]


async def test_bookmarks_only_when_asked(kube: KubeApiServer, client: AsyncClient) -> None:
    kube.bookmark_interval = 0.1
    rv = await list_rv(client)
    plain = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}
    started = time.monotonic()
    assert await read_lines(kube, plain) == []
    assert 0.9 <= time.monotonic() - started < 3  # timeoutSeconds closes the stream cleanly
    lines = await read_lines(kube, {**plain, "allowWatchBookmarks": "true"})
    assert lines and {line["type"] for line in lines} == {"BOOKMARK"}
    assert lines[0]["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv},
    }


async def test_stop_closes_open_watches_promptly() -> None:
    server = KubeApiServer().start()
    reading = asyncio.ensure_future(read_lines(server, {"watch": "1"}))
    await server.until(lambda: server.open_watches == 1)
    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    lines = await asyncio.wait_for(reading, 5)
    assert {line["object"]["metadata"]["name"] for line in lines} == set()
    assert time.monotonic() - started < 3
