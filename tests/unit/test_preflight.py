"""Endpoint pre-flight against the real demo endpoint (HTTP on loopback)."""

from __future__ import annotations

import pytest

from budeval.demo.endpoint import DemoEndpoint
from budeval.egress import EgressPolicy, Unresolvable
from budeval.errors import PermanentError, TransientError
from budeval.preflight import check_endpoint
from tests.service import free_port


async def test_a_healthy_endpoint_passes_in_both_modes() -> None:
    with DemoEndpoint(api_key="sk-pre") as endpoint:
        await check_endpoint(endpoint.url, "demo-model", "sk-pre", "chat")
        await check_endpoint(endpoint.url, "demo-model", "sk-pre", "completions")
        assert endpoint.requests.total == 2


@pytest.mark.parametrize(
    ("setup", "mode", "reason"),
    [
        ({"api_key": "sk-right"}, "chat", "Unauthorized"),
        ({"mode": "chat"}, "completions", "ModeUnsupported"),
        ({"mode": "completions"}, "chat", "ModeUnsupported"),
        ({"model": "other-model"}, "chat", "ModelNotFound"),
    ],
)
async def test_refusals_name_the_reason(setup: dict[str, str], mode: str, reason: str) -> None:
    with DemoEndpoint(**setup) as endpoint, pytest.raises(PermanentError) as caught:
        await check_endpoint(endpoint.url, "demo-model", "sk-wrong", mode)
    assert caught.value.reason == reason
    assert "sk-wrong" not in caught.value.message


async def test_nobody_listening_is_unreachable() -> None:
    with pytest.raises(PermanentError) as caught:
        await check_endpoint(f"http://127.0.0.1:{free_port()}/v1", "m", "k", "chat")
    assert caught.value.reason == "EndpointUnreachable"


async def test_busy_endpoint_is_transient() -> None:
    with DemoEndpoint() as endpoint:
        endpoint.fail_next(1, status=429)
        with pytest.raises(TransientError) as caught:
            await check_endpoint(endpoint.url, "demo-model", "", "chat")
        assert caught.value.reason == "EndpointBusy"
        await check_endpoint(endpoint.url, "demo-model", "", "chat")  # the burst is over


async def test_the_egress_policy_is_applied_again_at_connection_time() -> None:
    """DNS may change between submit and use: the pre-flight check resolves and checks again."""
    with DemoEndpoint(api_key="sk-pre") as endpoint:
        denying = EgressPolicy(deny=("127.0.0.0/8",))
        with pytest.raises(PermanentError) as caught:
            await check_endpoint(endpoint.url, "demo-model", "sk-pre", "chat", policy=denying)
        assert caught.value.reason == "EgressRefused"
        rebound = endpoint.url.replace("127.0.0.1", "rebound.example")

        def to_metadata(host: str) -> list[str]:
            assert host == "rebound.example"
            return ["169.254.169.254"]

        with pytest.raises(PermanentError) as caught:
            await check_endpoint(rebound, "demo-model", "sk-pre", "chat", resolver=to_metadata)
        assert caught.value.reason == "EgressRefused"
        assert endpoint.requests.total == 0  # nothing was sent


async def test_a_name_that_does_not_resolve_at_connection_time_is_unreachable() -> None:
    def nothing(host: str) -> list[str]:
        raise Unresolvable("no such host")

    with pytest.raises(PermanentError) as caught:
        await check_endpoint("http://gone.example/v1", "m", "k", "chat", resolver=nothing)
    assert caught.value.reason == "EndpointUnreachable"
