"""Endpoint pre-flight: before any run starts, is the model endpoint there, does it accept the
key, and does it serve the API the engine needs (chat or completions)?

Fails fast with a reason an operator can act on — `EndpointUnreachable`, `Unauthorized`,
`ModeUnsupported`, `ModelNotFound` — instead of letting every run discover it after minutes of
engine start-up.
Server trouble (5xx, 429, timeouts) is a TransientError, so the verify step retries it. The key is
sent only in the Authorization header and never appears in a message.

The egress policy is applied again here, at connection time, to what DNS says now (a name may
have been re-pointed since submit): a refused destination is `EgressRefused` and gets no request.
"""

from __future__ import annotations

import asyncio

import httpx

from budeval import egress
from budeval.errors import PermanentError, TransientError

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
PROBES = {
    "chat": (
        "chat/completions",
        lambda model: {
            "model": model,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        },
    ),
    "completions": (
        "completions",
        lambda model: {"model": model, "prompt": "ping", "max_tokens": 1},
    ),
}


async def check_endpoint(
    endpoint: str,
    model: str,
    api_key: str,
    mode: str,
    *,
    policy: egress.EgressPolicy | None = None,
    resolver: egress.Resolver | None = None,
) -> None:
    """Raise PermanentError (reason says what is wrong) or TransientError; return when usable.

    `policy` defaults to the built-in one; `resolver` to the system's, bounded in time.
    """
    await check_egress(endpoint, policy or egress.EgressPolicy(), resolver)
    path, body = PROBES[mode]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base = endpoint.rstrip("/") + "/"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=TIMEOUT) as client:
        try:
            response = await client.post(path, json=body(model))
        except httpx.ConnectError as error:
            raise PermanentError(
                f"cannot connect to {endpoint}: {type(error).__name__}",
                reason="EndpointUnreachable",
            ) from None
        except httpx.TransportError as error:
            raise TransientError(
                f"{endpoint} did not answer: {type(error).__name__}", reason="EndpointUnreachable"
            ) from None
    status = response.status_code
    if status in (401, 403):
        raise PermanentError(
            f"{endpoint} refused the API key (HTTP {status})", reason="Unauthorized"
        )
    if status == 404 and _error_code(response) == "model_not_found":
        raise PermanentError(f"{endpoint} does not serve model {model!r}", reason="ModelNotFound")
    if status in (404, 405):
        raise PermanentError(
            f"{endpoint} does not serve /{path} (HTTP {status}); the engine needs the {mode} API",
            reason="ModeUnsupported",
        )
    if status == 429 or status >= 500:
        raise TransientError(
            f"{endpoint} is busy or failing (HTTP {status})", reason="EndpointBusy"
        )
    if status >= 400:
        raise PermanentError(
            f"{endpoint} rejected a 1-token {mode} request for model {model!r} (HTTP {status})",
            reason="EndpointRejected",
        )


async def check_egress(
    endpoint: str, policy: egress.EgressPolicy, resolver: egress.Resolver | None
) -> None:
    resolve = resolver or egress.system_resolver(policy.resolve_timeout_seconds)
    try:
        await asyncio.to_thread(egress.check, endpoint, policy, resolve)
    except egress.Unresolvable:
        raise PermanentError(
            f"cannot connect to {endpoint}: its host does not resolve",
            reason="EndpointUnreachable",
        ) from None
    except egress.EgressRefused as refused:
        raise PermanentError(f"{endpoint}: {refused.message}", reason="EgressRefused") from None


def _error_code(response: httpx.Response) -> str | None:
    """The OpenAI-style `error.code` (vLLM and OpenAI answer an unknown model with 404 + code)."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return None
    return error.get("code") if isinstance(error, dict) else None
