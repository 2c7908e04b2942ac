"""The evaluation routes: the seeds' three plus list, show, results and cancel."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from budeval.api import streaming, views
from budeval.api.deps import Authenticated, ServicesDep
from budeval.api.schemas import (
    CleanupPublic,
    EvaluationPage,
    EvaluationPublic,
    JobStatus,
    ResultsPublic,
    StartFull,
    StartShort,
    full_to_spec,
    short_to_full,
)
from budeval.ids import ID_PATTERN
from budeval.status import EvalStatus
from budeval.workflow import commands
from budeval.workflow.services import Services

router = APIRouter(prefix="/evals", tags=["evaluations"], dependencies=Authenticated)
EvalId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]
MAX_OFFSET = 1_000_000_000
"""Far beyond any store's size, well inside a 64-bit OFFSET (an unbounded one was a 500)."""
MAX_SINCE = 10 * 365 * 86400.0


def _parse_start(payload: dict[str, Any], services: Services) -> StartFull:
    """Either request shape → the full shape."""
    try:
        if "eval_request_id" in payload:
            short = StartShort.model_validate(payload)
            settings = services.settings
            engine = services.engines.get(settings.default_engine)
            datasets = settings.default_datasets or [engine.default_dataset]
            return short_to_full(short, datasets)
        return StartFull.model_validate(payload)
    except ValidationError as error:
        raise RequestValidationError(
            [{**issue, "loc": ("body", *issue["loc"])} for issue in error.errors()]
        ) from None


@router.post("/start", status_code=201)
async def start_evaluation(
    payload: Annotated[dict[str, Any], Body()], services: ServicesDep, response: Response
) -> EvaluationPublic:
    """Start an evaluation; repeating the same request returns the same evaluation (200)."""
    body = _parse_start(payload, services)
    spec = full_to_spec(
        body, default_engine=services.settings.default_engine, backend=services.settings.backend
    )
    api_key = body.eval_model_info.api_key.get_secret_value()
    kubeconfig = body.kubeconfig.get_secret_value() if body.kubeconfig else None
    record, created = await commands.start(services, spec, api_key, kubeconfig)
    if not created:
        response.status_code = 200
    return views.evaluation_public(record)


@router.get("/status/{job_id}")
async def job_status(job_id: EvalId, services: ServicesDep) -> JobStatus:
    """The seeds' status: `job_id` is an evaluation id, a run id or a run's job name."""
    record, run = await asyncio.to_thread(services.store.resolve, job_id)
    if run is None:
        return views.job_status(job_id, record, record.runs)
    return views.job_status(job_id, record, [run], await commands.observed(services, run))


@router.delete("/cleanup/{job_id}")
async def cleanup(job_id: EvalId, services: ServicesDep) -> CleanupPublic:
    """Remove the evaluation's run resources (processes, directories); idempotent. `job_id` is
    an evaluation id, a run id or a run's job name (of the evaluation to clean)."""
    record, _ = await asyncio.to_thread(services.store.resolve, job_id)
    removed = await commands.cleanup(services, record.id)
    record = await asyncio.to_thread(services.store.get_evaluation, record.id)
    return CleanupPublic(
        job_id=job_id, eval_id=record.id, removed=removed, status=record.status.value
    )


@router.get("")
async def list_evaluations(
    services: ServicesDep,
    status: EvalStatus | None = None,
    model: Annotated[str | None, Query(max_length=256)] = None,
    experiment: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> EvaluationPage:
    records, total = await asyncio.to_thread(
        services.store.list_evaluations,
        status=status,
        model_name=model,
        experiment_id=experiment,
        limit=limit,
        offset=offset,
    )
    items = [views.evaluation_public(record) for record in records]
    return EvaluationPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{eval_id}")
async def show_evaluation(eval_id: EvalId, services: ServicesDep) -> EvaluationPublic:
    return views.evaluation_public(await asyncio.to_thread(services.store.get_evaluation, eval_id))


@router.get("/{eval_id}/results")
async def results(eval_id: EvalId, services: ServicesDep) -> ResultsPublic:
    record = await asyncio.to_thread(services.store.get_evaluation, eval_id)
    scores = await asyncio.to_thread(services.store.get_scores, eval_id)
    return ResultsPublic(
        eval_id=eval_id,
        status=record.status.value,
        scores=[views.score_public(score) for score in scores],
    )


@router.post("/{eval_id}/cancel", status_code=202)
async def cancel(eval_id: EvalId, services: ServicesDep) -> EvaluationPublic:
    """Stop the evaluation: 202 means it will end `cancelled`; 409 when it already ended."""
    return views.evaluation_public(await commands.cancel(services, eval_id))


@router.get("/{eval_id}/runs/{run_id}/logs", response_class=StreamingResponse)
async def run_logs(
    eval_id: EvalId,
    run_id: EvalId,
    services: ServicesDep,
    tail: Annotated[int | None, Query(ge=1, le=100_000, description="the last N lines")] = None,
    since: Annotated[
        float | None,
        Query(gt=0, le=MAX_SINCE, allow_inf_nan=False, description="the last S seconds"),
    ] = None,
    follow: Annotated[bool, Query(description="stream until the run ends")] = False,
) -> StreamingResponse:
    """The run's log as text/plain, streamed; 409 while the run is not deployed yet."""
    lines = await commands.run_logs(
        services, eval_id, run_id, tail=tail, since=since, follow=follow
    )
    body = await streaming.primed(lines)  # an early backend error is still a status code
    return StreamingResponse(body, media_type="text/plain; charset=utf-8")
