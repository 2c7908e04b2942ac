"""Fault injection, request counting and SelfSubjectAccessReview."""

from __future__ import annotations

import time

import httpx2
import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ConfigMap

from tests.kube import KubeApiServer
from tests.kube.fixtures import NS
from tests.kube.fixtures import client as client
from tests.kube.fixtures import kube as kube


async def outcomes(client: AsyncClient, n: int) -> list[int]:
    codes = []
    for _ in range(n):
        try:
            await client.get(ConfigMap, "missing")
        except ApiError as error:
            codes.append(error.status.code)
    return codes


async def test_error_rate_is_roughly_the_configured_fraction(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    kube.faults.error_rate = 0.3
    codes = await outcomes(client, 300)
    failed = codes.count(500) / len(codes)
    assert 0.2 < failed < 0.4
    assert set(codes) == {404, 500}
    kube.faults.error_rate = 0.0
    assert set(await outcomes(client, 20)) == {404}


async def test_fault_sequence_is_deterministic_per_seed(kube: KubeApiServer, client: AsyncClient):
    kube.faults.error_rate = 0.5
    kube.faults.seed(7)
    first = await outcomes(client, 40)
    kube.faults.seed(7)
    assert await outcomes(client, 40) == first


async def test_fail_next_and_timeouts(kube: KubeApiServer, client: AsyncClient) -> None:
    kube.faults.fail_next(2, status=503)
    assert await outcomes(client, 3) == [503, 503, 404]
    kube.faults.error_rate, kube.faults.timeout_fraction, kube.faults.timeout_delay = 1.0, 1.0, 0.3
    started = time.monotonic()
    assert await outcomes(client, 1) == [504]
    assert time.monotonic() - started >= 0.3


async def test_client_side_timeout_sees_a_hung_request(
    kube: KubeApiServer,
) -> None:
    kube.faults.error_rate, kube.faults.timeout_fraction, kube.faults.timeout_delay = 1.0, 1.0, 5.0
    from lightkube import KubeConfig

    config = KubeConfig.from_dict(kube.kubeconfig())
    async with AsyncClient(config, timeout=httpx2.Timeout(0.2), trust_env=False) as impatient:
        with pytest.raises(httpx2.TimeoutException):
            await impatient.get(ConfigMap, "x")


async def test_requests_are_counted_by_verb_and_resource(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    kube.reset_counts()
    await client.create(ConfigMap.from_dict({"metadata": {"name": "c"}}))
    await client.get(ConfigMap, "c")
    _ = [c async for c in client.list(ConfigMap, namespace=NS)]
    await outcomes(client, 2)
    assert kube.requests.snapshot() == {
        ("create", "configmaps"): 1,
        ("get", "configmaps"): 3,
        ("list", "configmaps"): 1,
    }
    assert (kube.requests.total, kube.requests.watches) == (5, 0)
    kube.reset_counts()
    assert kube.requests.total == 0


async def test_access_review_answers_from_the_deny_set(
    kube: KubeApiServer, client: AsyncClient
) -> None:
    async def allowed(verb: str, resource: str, group: str = "", sub: str | None = None) -> bool:
        attributes = ResourceAttributes(
            verb=verb, group=group, resource=resource, namespace=NS, subresource=sub
        )
        review = SelfSubjectAccessReview(
            spec=SelfSubjectAccessReviewSpec(resourceAttributes=attributes)
        )
        return (await client.create(review)).status.allowed

    assert await allowed("create", "jobs", "batch")
    kube.deny("create", "jobs", group="batch")
    kube.deny("get", "pods/log")
    assert not await allowed("create", "jobs", "batch")
    assert await allowed("delete", "jobs", "batch")
    assert not await allowed("get", "pods", sub="log")
    assert await allowed("get", "pods")
    _ = Job  # the review is about Jobs; creating them is not affected
