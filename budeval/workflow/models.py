"""Inputs and outputs of the workflow's steps: pydantic models, checkpointed by DBOS."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from budeval.backends.base import RunHandle, RunState

STATUS_TOPIC = "budeval.status"
"""The one message topic of an evaluation workflow: "something changed, look again"."""


class Begun(BaseModel, frozen=True):
    started_at: float
    backend: str
    cancel_requested: bool = False
    """Cancelled before the workflow began (e.g. started late by the reconciler)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Checkpoints of workflows begun by an older build lack the newer fields."""
        state.setdefault("__dict__", {}).setdefault("cancel_requested", False)
        super().__setstate__(state)


class Check(BaseModel, frozen=True):
    """One look at all runs of an evaluation (one batched backend call)."""

    now: float
    states: dict[str, RunState]
    cancel_requested: bool

    @property
    def all_terminal(self) -> bool:
        return all(state.status.terminal for state in self.states.values())


class MonitorOutcome(BaseModel, frozen=True):
    states: dict[str, RunState]
    cancelled: bool = False
    timed_out: bool = False


class Extraction(BaseModel, frozen=True):
    scores: int = 0
    unreadable: dict[str, str] = Field(default_factory=dict)
    """run_id → why its results could not be read (the run then counts as failed)."""


class Deployment(BaseModel, frozen=True):
    handles: list[RunHandle]
    cancelled: bool = False
