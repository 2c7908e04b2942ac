"""The workflow's steps: every read of the world and every change to it.

Each step is idempotent (it may run again after a crash before its checkpoint), translates
third-party failures into the error tree, and is retried with backoff only for TransientError
(budget from settings, see `retry`). Per-run work isolates runs: one run's unreadable outputs
or log tail never fails the step for the others. Blocking store calls run in threads so the
event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from dbos import DBOS
from dbos._error import DBOSMaxStepRetriesExceeded

from budeval.backends.base import (
    REQUEST_PREFIX,
    Backend,
    RunHandle,
    RunSpec,
    RunState,
    VerifyReport,
)
from budeval.engines.base import API_KEY_SECRET_KEY
from budeval.errors import BudevalError, NotFound, PermanentError, TransientError
from budeval.events.models import EVALUATION_PROGRESS
from budeval.metrics import EVALUATIONS_FINISHED
from budeval.preflight import check_endpoint
from budeval.results.models import ParsedResults
from budeval.spec import EvaluationSpec
from budeval.status import EvalStatus, RunStatus
from budeval.store import EvaluationRecord
from budeval.workflow.models import Begun, Check, Deployment, Extraction, MonitorOutcome
from budeval.workflow.outcome import final_status
from budeval.workflow.retry import retry, retrying
from budeval.workflow.services import current

log = logging.getLogger(__name__)

MISSING_KEY = (
    "the evaluation's API key was never stored (the service stopped while accepting the "
    "request); start the evaluation again under a new eval_id"
)


@DBOS.step()
@retrying
async def begin(eval_id: str) -> Begun:
    services = current()
    record = await asyncio.to_thread(services.store.get_evaluation, eval_id)
    if not record.cancel_requested:
        await asyncio.to_thread(services.store.set_evaluation_status, eval_id, EvalStatus.RUNNING)
    return Begun(
        started_at=time.time(),
        backend=record.spec.backend,
        cancel_requested=record.cancel_requested,
    )


@DBOS.step()
@retrying
async def verify(eval_id: str, backend: str) -> VerifyReport:
    """The backend is ready, and the model endpoint answers in the mode the engine needs."""
    services = current()
    spec = (await asyncio.to_thread(services.store.get_evaluation, eval_id)).spec
    if not await asyncio.to_thread(services.secrets.exists, spec.secret_name):
        return VerifyReport(ok=False, reason="ApiKeyMissing", message=MISSING_KEY)
    report = await services.backend(backend).verify(spec.cluster)
    if not report.ok:
        return report
    mode = services.engines.get(spec.engine).endpoint_mode(spec)
    if mode is None:
        return report
    api_key = services.secrets.get(spec.secret_name)[API_KEY_SECRET_KEY]
    try:
        model, egress, resolver = spec.model, services.settings.egress, services.resolver
        await check_endpoint(
            model.endpoint, model.model_name, api_key, mode, policy=egress, resolver=resolver
        )
    except PermanentError as refusal:
        return VerifyReport(ok=False, reason=refusal.reason, message=refusal.message)
    return report.model_copy(update={"checks": {**report.checks, "endpoint": f"{mode} ok"}})


@DBOS.step()
@retrying
async def prepare(eval_id: str) -> list[RunSpec]:
    services = current()
    spec = (await asyncio.to_thread(services.store.get_evaluation, eval_id)).spec
    engine = services.engines.get(spec.engine)
    return [engine.build(spec, dataset) for dataset in spec.datasets]


@DBOS.step()
@retrying
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


@DBOS.step()
@retrying
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
            log_tail = await _log_tail(backend, handle, services.settings.log_tail_lines)
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


async def _log_tail(backend: Backend, handle: RunHandle, lines: int) -> str | None:
    """A log tail is a courtesy: when it cannot be read (node unreachable, pod gone) there is
    none, and the check goes on (issue 8: HTTP 500 from `pods/log` killed the workflow)."""
    try:
        return await backend.log_tail(handle, lines)
    except Exception as error:  # any failure, even a bug, costs only the tail
        log.warning(
            "log tail of run %s unreadable: %s: %s", handle.run_id, type(error).__name__, error
        )
        return None


@DBOS.step()
@retrying
async def cancel_runs(handles: list[RunHandle], states: dict[str, RunState]) -> None:
    services = current()
    for handle in handles:
        if not states[handle.run_id].status.terminal:
            await services.backend_of(handle).cancel(handle)


@DBOS.step()
@retrying
async def report_progress(eval_id: str, check: Check, started_at: float) -> None:
    counts: dict[str, int] = {}
    for state in check.states.values():
        counts[state.status.value] = counts.get(state.status.value, 0) + 1
    data = {"runs": counts, "elapsed_seconds": round(check.now - started_at, 1)}
    await asyncio.to_thread(current().store.add_event, eval_id, EVALUATION_PROGRESS, eval_id, data)


@DBOS.step()
@retrying
async def extract(eval_id: str, handles: list[RunHandle], outcome: MonitorOutcome) -> Extraction:
    """Parse every succeeded run's output into scores; store them once. A run whose outputs
    cannot be read or parsed is `unreadable` with the reason; the others still get scores."""
    services = current()
    spec = (await asyncio.to_thread(services.store.get_evaluation, eval_id)).spec
    scores, unreadable = 0, {}
    for handle in handles:
        if outcome.states[handle.run_id].status is not RunStatus.SUCCEEDED:
            continue
        try:
            parsed = await _read_results(spec, handle)
        except Exception as error:  # per run: one unreadable run must not cost the others
            unreadable[handle.run_id] = f"results unreadable: {_cause(error)}"[:500]
            await asyncio.to_thread(
                services.store.mark_results_unreadable, handle.run_id, unreadable[handle.run_id]
            )
            continue
        scores += await asyncio.to_thread(
            services.store.store_results, eval_id, handle.run_id, parsed
        )
    return Extraction(scores=scores, unreadable=unreadable)


async def _read_results(spec: EvaluationSpec, handle: RunHandle) -> ParsedResults:
    services = current()
    backend = services.backend_of(handle)
    output = await retry(
        lambda: backend.fetch_outputs(handle), services.settings, f"outputs of {handle.run_id}"
    )
    dataset = next(run for run in spec.datasets if run.run_id == handle.run_id)
    engine = services.engines.get(spec.engine)
    return await asyncio.to_thread(engine.parse, spec, dataset, output)


def _cause(error: BaseException) -> str:
    reason, message = describe(error)
    return f"{reason}: {message}"


@DBOS.step()
@retrying
async def finish(eval_id: str, outcome: MonitorOutcome, extraction: Extraction) -> str:
    services = current()
    record = await asyncio.to_thread(services.store.get_evaluation, eval_id)
    status, reason, message = final_status(record, outcome, extraction)
    # The store turns the verdict into `cancelled` if a cancel was granted meanwhile (item 8).
    await asyncio.to_thread(
        services.store.set_evaluation_status, eval_id, status, reason=reason, message=message
    )
    forget_api_key(record.spec, cleaned=record.cleaned_at is not None)
    ended = (await asyncio.to_thread(services.store.get_evaluation, eval_id)).status
    EVALUATIONS_FINISHED.labels(status=ended.value).inc()
    return ended.value


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


@DBOS.step()
@retrying
async def fail_early(eval_id: str, status: EvalStatus, reason: str, message: str) -> str:
    """End an evaluation with `status`: its unfinished runs end too, its key is forgotten.

    For an evaluation that never reached its runs (verify/prepare/deploy refused), and as the
    last step of any evaluation whose other steps raised (retries exhausted, a bug)."""
    services = current()
    store = services.store
    record = await asyncio.to_thread(store.get_evaluation, eval_id)
    run_status = RunStatus.CANCELLED if status is EvalStatus.CANCELLED else RunStatus.FAILED
    await _stop_unfinished(record)
    for run in record.runs:
        await asyncio.to_thread(
            store.update_run, run.id, run_status, reason=reason, message=message
        )
    await asyncio.to_thread(
        store.set_evaluation_status, eval_id, status, reason=reason, message=message
    )
    forget_api_key(record.spec)
    ended = (await asyncio.to_thread(store.get_evaluation, eval_id)).status
    EVALUATIONS_FINISHED.labels(status=ended.value).inc()
    return ended.value


async def _stop_unfinished(record: EvaluationRecord) -> None:
    """Best effort: runs the evaluation gives up on should not go on using the endpoint."""
    services = current()
    for run in record.runs:
        if run.handle is None or run.status.terminal:
            continue
        handle = RunHandle.model_validate(run.handle)
        try:
            await services.backend_of(handle).cancel(handle)
        except Exception as error:  # the backend is what failed; the collector removes leftovers
            log.warning("could not stop run %s: %s: %s", run.id, type(error).__name__, error)


def describe(error: BaseException) -> tuple[str, str]:
    """Reason and message for an error that ends an evaluation (or one run's results)."""
    if isinstance(error, DBOSMaxStepRetriesExceeded) and error.errors:
        error = error.errors[-1]
    elif not isinstance(error, BudevalError) and isinstance(error.__cause__, BudevalError):
        error = error.__cause__
    if isinstance(error, TransientError):
        return error.reason, f"gave up after retries: {error.message}"
    if isinstance(error, BudevalError):
        return error.reason, error.message
    return "InternalError", f"{type(error).__name__}: {error}"[:2000]
