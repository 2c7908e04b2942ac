"""The normalised score and per-sample prediction, the same for every engine.

Engines' parsers produce these; the store persists them; the API returns them. Pure data.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Score(BaseModel, frozen=True):
    dataset: str
    metric: str
    value: float
    higher_is_better: bool = True
    n_samples: int | None = Field(default=None, ge=0)
    stderr: float | None = None


class Prediction(BaseModel, frozen=True):
    index: int = Field(ge=0)
    prompt: str | None = None
    prediction: str | None = None
    gold: str | None = None
    correct: bool | None = None


class ParsedResults(BaseModel, frozen=True):
    """What `Engine.parse` returns for one finished run."""

    engine: str
    engine_version: str
    scores: list[Score]
    predictions: list[Prediction] = Field(default_factory=list)
