"""`GET /evals/{eval_id}/predictions`: the per-sample outputs stored with each run's scores."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query

from budeval.api.deps import Authenticated, ServicesDep
from budeval.api.prediction_schemas import (
    MAX_OFFSET,
    MAX_PAGE,
    PredictionPage,
    PredictionPublic,
)
from budeval.ids import ID_PATTERN

router = APIRouter(prefix="/evals", tags=["evaluations"], dependencies=Authenticated)
Id = Annotated[str, Path(pattern=ID_PATTERN, max_length=128)]


@router.get("/{eval_id}/predictions")
async def list_predictions(
    eval_id: Id,
    services: ServicesDep,
    run_id: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=128)] = None,
    dataset: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    correct: Annotated[bool | None, Query(description="only right (or wrong) answers")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PredictionPage:
    """Predictions in run order, then sample order; 404 for an unknown evaluation (or a run of
    another one). `total` counts every prediction matching the filters."""
    items, total = await asyncio.to_thread(
        services.store.list_predictions,
        eval_id,
        run_id=run_id,
        dataset=dataset,
        correct=correct,
        limit=limit,
        offset=offset,
    )
    return PredictionPage(
        eval_id=eval_id,
        items=[
            PredictionPublic(
                run_id=item.run_id,
                dataset=item.dataset,
                index=item.idx,
                prompt=item.prompt,
                prediction=item.prediction,
                gold=item.gold,
                correct=item.correct,
            )
            for item in items
        ],
        total=total,
        limit=limit,
        offset=offset,
    )
