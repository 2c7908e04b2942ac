"""What the API asks of the workflow layer: start, cancel and clean up evaluations.

Routes stay thin: they translate HTTP into these calls. Each is safe to repeat (clients retry):
starting the same evaluation twice starts one workflow, cancelling twice cancels once.
"""

from __future__ import annotations

import asyncio
import contextlib

from dbos import DBOS, SetWorkflowID
from dbos._error import DBOSNonExistentWorkflowError

from budeval.backends.base import RunHandle
from budeval.engines.base import API_KEY_SECRET_KEY, run_name
from budeval.errors import InvalidRequest
from budeval.metrics import EVALUATIONS_CREATED
from budeval.spec import EvaluationSpec
from budeval.store import EvaluationRecord
from budeval.workflow.evaluation import evaluate
from budeval.workflow.models import STATUS_TOPIC
from budeval.workflow.services import Services


def validate(services: Services, spec: EvaluationSpec) -> None:
    """Everything that can be refused before anything is created."""
    run_ids = [run.run_id for run in spec.datasets]
    if len(set(run_ids)) != len(run_ids):
        raise InvalidRequest("run_id values must be unique", field="eval_datasets.run_id")
    services.backend(spec.backend)
    engine = services.engines.get(spec.engine)
    engine.validate(spec)
    engine.check_datasets(spec, services.settings.datasets_dir)


async def start(
    services: Services, spec: EvaluationSpec, api_key: str
) -> tuple[EvaluationRecord, bool]:
    """Create the evaluation (or find the identical one) and make sure its workflow runs."""
    validate(services, spec)
    names = {run.run_id: run_name(run.run_id) for run in spec.datasets}
    record, created = await asyncio.to_thread(
        services.store.create_evaluation, spec, spec.fingerprint(api_key), names
    )
    if created:
        EVALUATIONS_CREATED.labels(engine=spec.engine).inc()
    if not record.status.terminal:
        services.secrets.put(spec.secret_name, {API_KEY_SECRET_KEY: api_key})
        with SetWorkflowID(spec.eval_id):
            await DBOS.start_workflow_async(evaluate, spec.eval_id)
    return record, created


async def cancel(services: Services, eval_id: str) -> EvaluationRecord:
    record = await asyncio.to_thread(services.store.request_cancel, eval_id)
    with contextlib.suppress(DBOSNonExistentWorkflowError):
        await DBOS.send_async(eval_id, "cancel", STATUS_TOPIC, idempotency_key=f"{eval_id}:cancel")
    return record


async def cleanup(services: Services, eval_id: str) -> list[str]:
    """Remove every resource of the evaluation's runs (cancelling it first if it still runs)."""
    record = await asyncio.to_thread(services.store.get_evaluation, eval_id)
    if not record.status.terminal:
        record = await cancel(services, eval_id)
    removed = []
    for run in record.runs:
        if run.handle is None:
            continue
        handle = RunHandle.model_validate(run.handle)
        await services.backend_of(handle).cleanup(handle)
        removed.append(run.name)
    await asyncio.to_thread(services.store.mark_cleaned, eval_id)
    return removed
