"""The workflow's steps: every read of the world and every change to it.

Each step is idempotent (it may run again after a crash before its checkpoint), translates
third-party failures into the error tree, and is retried with backoff only for TransientError.
Blocking store calls run in threads so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from dbos import DBOS

from budeval.backends.base import REQUEST_PREFIX, RunHandle, RunSpec, RunState, VerifyReport
from budeval.engines.base import API_KEY_SECRET_KEY
from budeval.errors import BudevalError, NotFound, PermanentError, TransientError
from budeval.events.models import EVALUATION_PROGRESS
from budeval.metrics import EVALUATIONS_FINISHED
from budeval.preflight import check_endpoint
from budeval.spec import EvaluationSpec
from budeval.status import EvalStatus, RunStatus
from budeval.workflow.models import Begun, Check, Deployment, Extraction, MonitorOutcome
from budeval.workflow.outcome import final_status
from budeval.workflow.services import current


def _transient(error: BaseException) -> bool:
    return isinstance(error, TransientError)


RETRYING = {
    "retries_allowed": True,
    "max_attempts": 6,
    "interval_seconds": 1.0,
    "backoff_rate": 2.0,
    "should_retry": _transient,
}


@DBOS.step(**RETRYING)
async def begin(eval_id: str) -> Begun:
    services = current()
    record = await asyncio.to_thread(services.store.get_evaluation, eval_id)
    if not record.cancel_requested:
        await asyncio.to_thread(services.store.set_evaluation_status, eval_id, EvalStatus.RUNNING)
    return Begun(started_at=time.time(), backend=record.spec.backend)


@DBOS.step(**RETRYING)
async def verify(eval_id: str, backend: str) -> VerifyReport:
    """The backend is ready, and the model endpoint answers in the mode the engine needs."""
    services = current()
    spec = (await asyncio.to_thread(services.store.get_evaluation, eval_id)).spec
    report = await services.backend(backend).verify(spec.cluster)
    if not report.ok:
        return report
    mode = services.engines.get(spec.engine).endpoint_mode(spec)
    if mode is None:
        return report
    api_key = services.secrets.get(spec.secret_name)[API_KEY_SECRET_KEY]
    try:
        await check_endpoint(
            spec.model.endpoint,
            spec.model.model_name,
            api_key,
            mode,
            policy=services.settings.egress,
            resolver=services.resolver,
        )
    except PermanentError as refusal:
        return VerifyReport(ok=False, reason=refusal.reason, message=refusal.message)
    return report.model_copy(update={"checks": {**report.checks, "endpoint": f"{mode} ok"}})


@DBOS.step(**RETRYING)
async def prepare(eval_id: str) -> list[RunSpec]:
    services = current()
    spec = (await asyncio.to_thread(services.store.get_evaluation, eval_id)).spec
    engine = services.engines.get(spec.engine)
    return [engine.build(spec, dataset) for dataset in spec.datasets]


@DBOS.step(**RETRYING)
async def deploy(eval_id: str, backend_name: str, specs: list[RunSpec]) -> Deployment:
    """Submit every run (idempotently); skipped entirely when cancellation came first."""
    services = current()
    store = services.store
    backend = services.backend(backend_name)
    if (await asyncio.to_thread(store.get_evaluation, eval_id)).cancel_requested:
        return Deployment(handles=[], cancelled=True)
    handles = []
    for spec in specs:
        handle = await backend.submit(spec)
        await asyncio.to_thread(
            store.update_run, spec.run_id, RunStatus.SCHEDULED, handle=handle.model_dump()
        )
        handles.append(handle)
    return Deployment(handles=handles)


@DBOS.step(**RETRYING)
async def check_runs(eval_id: str, handles: list[RunHandle], cancel_reason: str | None) -> Check:
    """One batched status call for all runs; record every forward move (with a log tail)."""
    services = current()
    store = services.store
    backend = services.backend_of(handles[0])
    states = await backend.statuses(handles)
    record = await asyncio.to_thread(store.get_evaluation, eval_id)
    recorded = {run.id: run.status for run in record.runs}
    for handle in handles:
        state = states[handle.run_id]
        if state.status is RunStatus.CANCELLED and cancel_reason:
            state = state.model_copy(update={"reason": cancel_reason})
            states[handle.run_id] = state
        if recorded[handle.run_id] == state.status or recorded[handle.run_id].terminal:
            continue
        log_tail = None
        if state.status is RunStatus.FAILED:
            log_tail = await backend.log_tail(handle, services.settings.log_tail_lines)
        await asyncio.to_thread(
            store.update_run,
            handle.run_id,
            state.status,
            reason=state.reason,
            message=state.message,
            exit_code=state.exit_code,
            log_tail=log_tail,
        )
    return Check(now=time.time(), states=states, cancel_requested=record.cancel_requested)


@DBOS.step(**RETRYING)
async def cancel_runs(handles: list[RunHandle], states: dict[str, RunState]) -> None:
    services = current()
    for handle in handles:
        if not states[handle.run_id].status.terminal:
            await services.backend_of(handle).cancel(handle)


@DBOS.step(**RETRYING)
async def report_progress(eval_id: str, check: Check, started_at: float) -> None:
    counts: dict[str, int] = {}
    for state in check.states.values():
        counts[state.status.value] = counts.get(state.status.value, 0) + 1
    data = {"runs": counts, "elapsed_seconds": round(check.now - started_at, 1)}
    await asyncio.to_thread(current().store.add_event, eval_id, EVALUATION_PROGRESS, eval_id, data)


@DBOS.step(**RETRYING)
async def extract(eval_id: str, handles: list[RunHandle], outcome: MonitorOutcome) -> Extraction:
    """Parse every succeeded run's output into scores; store them once."""
    services = current()
    spec = (await asyncio.to_thread(services.store.get_evaluation, eval_id)).spec
    engine = services.engines.get(spec.engine)
    datasets = {run.run_id: run for run in spec.datasets}
    scores, unreadable = 0, {}
    for handle in handles:
        if outcome.states[handle.run_id].status is not RunStatus.SUCCEEDED:
            continue
        output = await services.backend_of(handle).fetch_outputs(handle)
        try:
            parsed = await asyncio.to_thread(engine.parse, spec, datasets[handle.run_id], output)
        except (OSError, ValueError, KeyError, BudevalError) as error:
            unreadable[handle.run_id] = f"results unreadable: {type(error).__name__}: {error}"
            continue
        scores += await asyncio.to_thread(
            services.store.store_results, eval_id, handle.run_id, parsed
        )
    return Extraction(scores=scores, unreadable=unreadable)


@DBOS.step(**RETRYING)
async def finish(eval_id: str, outcome: MonitorOutcome, extraction: Extraction) -> str:
    services = current()
    record = await asyncio.to_thread(services.store.get_evaluation, eval_id)
    status, reason, message = final_status(record, outcome, extraction)
    await asyncio.to_thread(
        services.store.set_evaluation_status, eval_id, status, reason=reason, message=message
    )
    forget_api_key(record.spec, cleaned=record.cleaned_at is not None)
    EVALUATIONS_FINISHED.labels(status=status.value).inc()
    return status.value


def forget_api_key(spec: EvaluationSpec, cleaned: bool = False) -> None:
    """Drop the key once the runs ended. A request's kubeconfig stays until cleanup (removing
    the evaluation's cluster objects needs it), unless a cleanup already ran."""
    secrets = current().secrets
    if cleaned or not spec.cluster.startswith(REQUEST_PREFIX):
        secrets.delete(spec.secret_name)
        return
    with contextlib.suppress(NotFound):
        values = secrets.get(spec.secret_name)
        values.pop(API_KEY_SECRET_KEY, None)
        secrets.put(spec.secret_name, values)


@DBOS.step(**RETRYING)
async def fail_early(eval_id: str, status: EvalStatus, reason: str, message: str) -> str:
    """End an evaluation that never reached its runs (verify/prepare/deploy refused)."""
    services = current()
    store = services.store
    record = await asyncio.to_thread(store.get_evaluation, eval_id)
    run_status = RunStatus.CANCELLED if status is EvalStatus.CANCELLED else RunStatus.FAILED
    for run in record.runs:
        await asyncio.to_thread(
            store.update_run, run.id, run_status, reason=reason, message=message
        )
    await asyncio.to_thread(
        store.set_evaluation_status, eval_id, status, reason=reason, message=message
    )
    forget_api_key(record.spec)
    EVALUATIONS_FINISHED.labels(status=status.value).inc()
    return status.value


def describe(error: BaseException) -> tuple[str, str]:
    """Reason and message for an error that ends an evaluation early."""
    if isinstance(error, BudevalError):
        return error.reason, error.message
    cause = error.__cause__ or error
    if isinstance(cause, TransientError):
        return cause.reason, f"gave up after retries: {cause.message}"
    if isinstance(cause, PermanentError):
        return cause.reason, cause.message
    return "InternalError", f"{type(error).__name__}: {error}"
