"""Response shapes of `GET /evals/{eval_id}/predictions` (apart from schemas.py, the seeds').

`gold` is the reference the engine's metric compared, processed the same way for every engine
(lm-eval's `target`, OpenCompass's evaluator detail); see the engines' results readers.
"""

from __future__ import annotations

from pydantic import BaseModel

MAX_PAGE = 1000
MAX_OFFSET = 10_000_000


class PredictionPublic(BaseModel):
    run_id: str
    dataset: str
    index: int
    prompt: str | None
    prediction: str | None
    gold: str | None
    correct: bool | None


class PredictionPage(BaseModel):
    eval_id: str
    items: list[PredictionPublic]
    total: int
    limit: int
    offset: int
