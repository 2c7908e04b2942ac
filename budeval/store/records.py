"""What the store hands out: frozen pydantic copies of its rows.

Callers (API, workflow steps, CLI) get plain values they may keep, pickle or pass between threads;
an ORM object would drag its session along and lazy-load after the transaction ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from budeval.events.models import CloudEvent
from budeval.spec import EvaluationSpec
from budeval.status import EvalStatus, RunStatus


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class RunRecord(_Record):
    id: str
    eval_id: str
    position: int
    dataset: str
    name: str
    """DNS-1123 name (the Job name on Kubernetes)."""
    status: RunStatus
    reason: str | None = None
    message: str | None = None
    log_tail: str | None = None
    exit_code: int | None = None
    handle: dict[str, Any] | None = None
    created_at: datetime
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime

    @property
    def run_id(self) -> str:
        return self.id


class EvaluationRecord(_Record):
    id: str
    fingerprint: str
    experiment_id: str | None = None
    model_name: str
    endpoint: str
    engine: str
    backend: str
    status: EvalStatus
    reason: str | None = None
    message: str | None = None
    spec: EvaluationSpec
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    cleaned_at: datetime | None = None
    runs: list[RunRecord]
    """Ordered by position (the order of `spec.datasets`)."""

    @property
    def eval_id(self) -> str:
        return self.id


class ScoreRecord(_Record):
    id: int
    eval_id: str
    run_id: str
    dataset: str
    metric: str
    value: float
    higher_is_better: bool
    n_samples: int | None = None
    stderr: float | None = None
    engine: str
    engine_version: str
    created_at: datetime


class PredictionRecord(_Record):
    id: int
    run_id: str
    eval_id: str
    idx: int
    prompt: str | None = None
    prediction: str | None = None
    gold: str | None = None
    correct: bool | None = None


class EventRecord(_Record):
    id: str
    eval_id: str
    run_id: str | None = None
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]
    delivered_at: datetime | None = None

    def to_cloudevent(self) -> CloudEvent:
        return CloudEvent(
            id=self.id, type=self.type, subject=self.subject, time=self.time, data=self.data
        )
