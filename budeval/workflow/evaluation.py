"""The evaluation workflow: verify → prepare → deploy → monitor → extract → finish.

Durable (DBOS, workflow id = eval_id): after a crash it resumes where it stopped; finished steps
are not run again. The body only decides; every I/O is a step. The monitor waits for *change
messages* (sent by the relay when a backend reports a change) with a long safety timeout used for
progress notifications and the maximum duration, so an idle evaluation costs nothing.

Every evaluation ends: whatever a step raises after its retries (or a bug raises), the body's
last step records `failed` with the reason, ends the unfinished runs and forgets the key. If even
that step fails (the store is down for longer than its retries), the workflow ends in ERROR and
the reconciler ends the evaluation later.
"""

from __future__ import annotations

from dbos import DBOS

from budeval.backends.base import RunHandle
from budeval.status import EvalStatus
from budeval.workflow import steps
from budeval.workflow.models import STATUS_TOPIC, Begun, MonitorOutcome
from budeval.workflow.services import current


@DBOS.workflow()
async def evaluate(eval_id: str) -> str:
    try:
        return await _evaluate(eval_id)
    except Exception as error:  # retries exhausted, a refusal, or a bug: the evaluation ends
        reason, message = steps.describe(error)
        return await steps.fail_early(eval_id, EvalStatus.FAILED, reason, message)


async def _evaluate(eval_id: str) -> str:
    begun = await steps.begin(eval_id)
    if begun.cancel_requested:
        return await steps.fail_early(
            eval_id, EvalStatus.CANCELLED, "Cancelled", "cancelled before it started"
        )
    report = await steps.verify(eval_id, begun.backend)
    if not report.ok:
        reason, message = report.reason or "VerifyFailed", report.message or "verify failed"
        return await steps.fail_early(eval_id, EvalStatus.FAILED, reason, message)
    specs = await steps.prepare(eval_id)
    deployment = await steps.deploy(eval_id, begun.backend, specs)
    if deployment.cancelled:
        return await steps.fail_early(eval_id, EvalStatus.CANCELLED, "Cancelled", "cancelled")
    outcome = await monitor(eval_id, deployment.handles, begun)
    extraction = await steps.extract(eval_id, deployment.handles, outcome)
    return await steps.finish(eval_id, outcome, extraction)


async def monitor(eval_id: str, handles: list[RunHandle], begun: Begun) -> MonitorOutcome:
    settings = current().settings
    interval = settings.progress_interval_seconds
    deadline = begun.started_at + settings.max_duration_seconds
    cancelling = timed_out = False
    check = await steps.check_runs(eval_id, handles, None)
    next_progress = check.now + interval
    while not check.all_terminal:
        if check.cancel_requested and not (cancelling or timed_out):
            cancelling = True
            await steps.cancel_runs(handles, check.states)
        elif check.now >= deadline and not (cancelling or timed_out):
            timed_out = True
            await steps.cancel_runs(handles, check.states)
        if check.now >= next_progress:
            await steps.report_progress(eval_id, check, begun.started_at)
            next_progress = check.now + interval
        wake_at = next_progress if (cancelling or timed_out) else min(next_progress, deadline)
        await DBOS.recv_async(STATUS_TOPIC, timeout_seconds=max(0.0, wake_at - check.now))
        check = await steps.check_runs(eval_id, handles, "DeadlineExceeded" if timed_out else None)
    return MonitorOutcome(states=check.states, cancelled=cancelling, timed_out=timed_out)
