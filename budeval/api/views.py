"""Store records → public response bodies. Pure; never includes the fingerprint or a secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from budeval.api.schemas import (
    EvaluationPublic,
    JobDetails,
    JobStatus,
    RunPublic,
    ScorePublic,
)
from budeval.status import RunStatus
from budeval.store import EvaluationRecord, RunRecord, ScoreRecord


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def run_public(run: RunRecord) -> RunPublic:
    return RunPublic(
        run_id=run.id,
        dataset_id=run.dataset,
        job_name=run.name,
        status=run.status.value,
        reason=run.reason,
        message=run.message,
        exit_code=run.exit_code,
        log_tail=run.log_tail,
        scheduled_at=_iso(run.scheduled_at),
        started_at=_iso(run.started_at),
        finished_at=_iso(run.finished_at),
    )


def evaluation_public(record: EvaluationRecord) -> EvaluationPublic:
    return EvaluationPublic(
        eval_id=record.id,
        job_id=record.id,
        status=record.status.value,
        reason=record.reason,
        message=record.message,
        experiment_id=record.experiment_id,
        model_name=record.model_name,
        endpoint=record.endpoint,
        engine=record.engine,
        backend=record.backend,
        created_at=record.created_at.isoformat(),
        started_at=_iso(record.started_at),
        finished_at=_iso(record.finished_at),
        cleaned=record.cleaned_at is not None,
        runs=[run_public(run) for run in record.runs],
    )


def score_public(score: ScoreRecord) -> ScorePublic:
    return ScorePublic.model_validate(score.model_dump())


_PHASES = {
    RunStatus.PENDING: "Pending",
    RunStatus.SCHEDULED: "Pending",
    RunStatus.RUNNING: "Running",
    RunStatus.SUCCEEDED: "Succeeded",
    RunStatus.FAILED: "Failed",
    RunStatus.CANCELLED: "Failed",
}


def job_status(
    job_id: str,
    record: EvaluationRecord,
    runs: list[RunRecord],
    observed: dict[str, Any] | None = None,
) -> JobStatus:
    """The seeds' job status: one run (job) or, for an evaluation id, all its runs together.
    `observed` is what the cluster itself says about a single run's Job, when the backend can
    tell (Kubernetes); otherwise the details are derived from the recorded run states."""
    namespace = next(
        (run.handle["namespace"] for run in runs if run.handle and run.handle.get("namespace")),
        record.backend,
    )
    if observed is not None:
        return JobStatus(
            job_id=job_id,
            status=runs[0].status.value,
            namespace=namespace,
            details=JobDetails(**{**observed, "status": runs[0].status.value}),
        )
    statuses = [run.status for run in runs]
    if len(runs) == 1:
        status, phase = statuses[0].value, _PHASES[statuses[0]]
    else:
        status = record.status.value
        phase = next(
            (_PHASES[s] for s in (RunStatus.RUNNING, RunStatus.FAILED) if s in statuses),
            "Succeeded"
            if statuses and all(s is RunStatus.SUCCEEDED for s in statuses)
            else "Pending",
        )
    volumes = "Deleted" if record.cleaned_at else "Bound"
    started = [run for run in runs if run.started_at is not None]
    return JobStatus(
        job_id=job_id,
        status=status,
        namespace=namespace,
        details=JobDetails(
            status=status,
            phase=phase,
            active=statuses.count(RunStatus.RUNNING),
            succeeded=statuses.count(RunStatus.SUCCEEDED),
            failed=sum(s in (RunStatus.FAILED, RunStatus.CANCELLED) for s in statuses),
            pod_count=len(started),
            data_pvc_status=volumes,
            output_pvc_status=volumes,
        ),
    )
