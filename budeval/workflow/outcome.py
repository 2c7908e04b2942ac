"""How an evaluation's final status, reason and message follow from its runs. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from budeval.status import EvalStatus, RunStatus, overall_status
from budeval.workflow.models import Extraction, MonitorOutcome

if TYPE_CHECKING:
    from budeval.store import EvaluationRecord


def final_status(
    record: EvaluationRecord, outcome: MonitorOutcome, extraction: Extraction
) -> tuple[EvalStatus, str | None, str | None]:
    if outcome.timed_out:
        return (
            EvalStatus.TIMED_OUT,
            "DeadlineExceeded",
            "the evaluation exceeded its maximum duration",
        )
    if outcome.cancelled:
        return EvalStatus.CANCELLED, "Cancelled", "cancelled on request"
    statuses = []
    problems = []
    for run in record.runs:
        state = outcome.states[run.id]
        status = state.status
        if run.id in extraction.unreadable:
            status = RunStatus.FAILED
            problems.append(f"{run.dataset} ({run.id}): {extraction.unreadable[run.id]}")
        elif status is not RunStatus.SUCCEEDED:
            problems.append(
                f"{run.dataset} ({run.id}): {state.reason or status.value} ({state.message or '-'})"
            )
        statuses.append(status)
    status = overall_status(statuses)
    if status is EvalStatus.SUCCEEDED:
        return status, None, None
    failed = len(problems)
    message = f"{failed} of {len(statuses)} runs failed: " + "; ".join(problems)
    first_reason = next(
        (outcome.states[run.id].reason for run in record.runs if outcome.states[run.id].reason),
        None,
    )
    if extraction.unreadable and first_reason is None:
        first_reason = "ResultsUnreadable"
    return status, first_reason, message[:2000]
