"""Liveness and readiness (no authentication: probes carry no token)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from budeval.api.problems import problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> dict[str, str] | Response:
    services = getattr(request.app.state, "services", None)
    if services is None or not getattr(request.app.state, "ready", False):
        return problem(503, "Not ready", "the service is starting")
    try:
        await asyncio.to_thread(
            services.store.list_evaluations,
            status=None,
            model_name=None,
            experiment_id=None,
            limit=1,
            offset=0,
        )
    except Exception as error:  # any store failure means not ready
        return problem(503, "Not ready", f"store unavailable: {type(error).__name__}")
    return {"status": "ready"}
