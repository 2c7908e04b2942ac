"""What the API asks of the workflow layer: start, cancel and clean up evaluations, read a
run's logs, remove a registered cluster.

Routes stay thin: they translate HTTP into these calls. Each is safe to repeat (clients retry):
starting the same evaluation twice starts one workflow, cancelling twice cancels once. A
kubeconfig sent with a request goes to the secret store beside the API key and takes part in the
idempotency fingerprint only through its hash; it is never logged, stored or echoed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from dbos import DBOS, SetWorkflowID
from dbos._error import DBOSNonExistentWorkflowError

from budeval import egress
from budeval.backends.base import RunHandle
from budeval.backends.kubernetes.clusters import (
    DEFAULT_CLUSTER,
    KUBECONFIG_KEY,
    REQUEST_PREFIX,
    parse_kubeconfig,
)
from budeval.engines import environments
from budeval.engines.base import API_KEY_SECRET_KEY, Engine, run_name
from budeval.errors import BudevalError, Conflict, InvalidRequest, NotFound
from budeval.metrics import EVALUATIONS_CREATED
from budeval.spec import EvaluationSpec
from budeval.status import EvalStatus
from budeval.store import EvaluationRecord, RunRecord
from budeval.workflow.evaluation import evaluate
from budeval.workflow.models import STATUS_TOPIC
from budeval.workflow.services import Services

NOT_PLAIN_KUBECONFIG = "kubeconfig holds a value JSON cannot carry (a date? quote it)"


def validate(services: Services, spec: EvaluationSpec) -> None:
    """Everything that can be refused before anything is created (but the egress check, which
    may resolve names: `check_egress`)."""
    run_ids = [run.run_id for run in spec.datasets]
    if len(set(run_ids)) != len(run_ids):
        raise InvalidRequest("run_id values must be unique", field="eval_datasets.run_id")
    services.backend(spec.backend)
    _check_cluster(services, spec)
    engine = services.engines.get(spec.engine)
    _check_installed(services, spec, engine)
    engine.validate(spec)
    engine.check_datasets(spec, services.settings.datasets_dir)


def _check_installed(services: Services, spec: EvaluationSpec, engine: Engine) -> None:
    """Local runs need the engine's environment; without it every run would fail at launch."""
    if spec.backend != "local" or engine.recipe is None:
        return
    if not environments.installed(services.settings.engines_path, engine.recipe):
        raise InvalidRequest(
            f"engine {engine.name!r} is not installed on this service "
            f"(the operator runs: budeval engines install {engine.name})",
            field="engine",
        )


async def check_egress(services: Services, spec: EvaluationSpec) -> None:
    """Refuse (422) an endpoint outside the egress policy; resolves names off the event loop.

    A name that does not resolve now is accepted: nothing is contacted at submit, and the
    pre-flight check applies the policy again, at connection time, to what DNS says then.
    """
    policy = services.settings.egress
    resolve = services.resolver or egress.system_resolver(policy.resolve_timeout_seconds)
    try:
        await asyncio.to_thread(egress.check, spec.model.endpoint, policy, resolve)
    except egress.Unresolvable:
        return
    except egress.EgressRefused as refused:
        raise InvalidRequest(refused.message, field="eval_model_info.endpoint") from None


def _check_cluster(services: Services, spec: EvaluationSpec) -> None:
    if spec.cluster == DEFAULT_CLUSTER:
        return
    field = "kubeconfig" if spec.cluster.startswith(REQUEST_PREFIX) else "cluster"
    if spec.backend != "kubernetes":
        raise InvalidRequest(
            f"{field} given, but this service runs the {spec.backend} backend", field=field
        )
    if field == "cluster" and not services.clusters.exists(spec.cluster):
        raise InvalidRequest("cluster is not registered (see GET /clusters)", field="cluster")


def _secret_values(
    spec: EvaluationSpec, api_key: str, kubeconfig: str | None
) -> tuple[dict[str, str], str]:
    """The evaluation's secret, and the string standing for it in the fingerprint."""
    if (kubeconfig is not None) != spec.cluster.startswith(REQUEST_PREFIX):
        raise InvalidRequest("kubeconfig and cluster disagree", field="kubeconfig")
    if kubeconfig is None:
        return {API_KEY_SECRET_KEY: api_key}, api_key
    try:
        document = json.dumps(parse_kubeconfig(kubeconfig, field="kubeconfig"), sort_keys=True)
    except (TypeError, ValueError):  # a YAML date or set: nothing a kubeconfig holds
        raise InvalidRequest(NOT_PLAIN_KUBECONFIG, field="kubeconfig") from None
    digest = hashlib.sha256(document.encode()).hexdigest()
    return {API_KEY_SECRET_KEY: api_key, KUBECONFIG_KEY: document}, f"{api_key}\0{digest}"


async def start(
    services: Services, spec: EvaluationSpec, api_key: str, kubeconfig: str | None = None
) -> tuple[EvaluationRecord, bool]:
    """Create the evaluation (or find the identical one) and make sure its workflow runs.

    `kubeconfig` (YAML text) is the request's own cluster; `spec.cluster` then names the
    evaluation's secret (`@<secret_name>`), which keeps it beside the API key.
    """
    validate(services, spec)
    await check_egress(services, spec)
    values, identity = _secret_values(spec, api_key, kubeconfig)
    names = {run.run_id: run_name(run.run_id) for run in spec.datasets}
    new = not await asyncio.to_thread(_exists, services, spec.eval_id)
    if new:  # the key before the rows: a crash between them and the workflow loses nothing
        services.secrets.put(spec.secret_name, values)
    try:
        record, created = await asyncio.to_thread(
            services.store.create_evaluation, spec, spec.fingerprint(identity), names
        )
    except BudevalError:
        if new and not await asyncio.to_thread(_exists, services, spec.eval_id):
            services.secrets.delete(spec.secret_name)
        raise
    if created:
        EVALUATIONS_CREATED.labels(engine=spec.engine).inc()
    if not record.status.terminal:
        if not created:
            services.secrets.put(spec.secret_name, values)
        with SetWorkflowID(spec.eval_id):  # the reconciler starts it if we die before this
            await DBOS.start_workflow_async(evaluate, spec.eval_id)
    return record, created


def _exists(services: Services, eval_id: str) -> bool:
    try:
        services.store.get_evaluation(eval_id)
    except NotFound:
        return False
    return True


async def cancel(services: Services, eval_id: str) -> EvaluationRecord:
    """Granted (`cancelling`) means the evaluation ends `cancelled`; Conflict once it ended."""
    record = await asyncio.to_thread(services.store.request_cancel, eval_id)
    try:
        await DBOS.send_async(eval_id, "cancel", STATUS_TOPIC, idempotency_key=f"{eval_id}:cancel")
    except DBOSNonExistentWorkflowError:  # its start was lost in a crash: start it to end it
        with SetWorkflowID(eval_id):
            await DBOS.start_workflow_async(evaluate, eval_id)
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
    if record.status.terminal:
        forget_request_cluster(services, record.spec)
    return removed


def forget_request_cluster(services: Services, spec: EvaluationSpec) -> None:
    """A kubeconfig sent with the request is kept only until the run objects are cleaned."""
    if spec.cluster.startswith(REQUEST_PREFIX):
        services.secrets.delete(spec.secret_name)


async def run_logs(
    services: Services,
    eval_id: str,
    run_id: str,
    *,
    tail: int | None = None,
    since: float | None = None,
    follow: bool = False,
) -> AsyncIterator[str]:
    """The run's log lines from its backend; `run_id` may also be the run's job name."""
    record = await asyncio.to_thread(services.store.get_evaluation, eval_id)
    run = next((run for run in record.runs if run_id in (run.id, run.name)), None)
    if run is None:
        raise NotFound(f"evaluation {eval_id} has no run {run_id}")
    if run.handle is None:
        raise Conflict(f"run {run.id} is not deployed yet ({run.status.value}): no logs so far")
    if record.cleaned_at is not None:
        raise Conflict(f"run {run.id} was cleaned up: its logs are gone")
    handle = RunHandle.model_validate(run.handle)
    return services.backend_of(handle).logs(handle, tail=tail, since=since, follow=follow)


async def remove_cluster(services: Services, name: str) -> None:
    """Unregister a cluster no unfinished evaluation runs on (404 unknown, 409 default/in use)."""
    if name == DEFAULT_CLUSTER:
        raise Conflict(
            "the default cluster comes from the service's settings; it cannot be removed"
        )
    await asyncio.to_thread(services.clusters.info, name)  # NotFound when unknown
    users = await asyncio.to_thread(_evaluations_on, services, name)
    if users:
        shown = ", ".join(users[:5]) + (" …" if len(users) > 5 else "")
        raise Conflict(f"cluster {name} is used by unfinished evaluation(s) {shown}")
    await asyncio.to_thread(services.clusters.unregister, name)


def _evaluations_on(services: Services, cluster: str) -> list[str]:
    users: list[str] = []
    for status in (status for status in EvalStatus if not status.terminal):
        offset, total = 0, 1
        while offset < total:
            records, total = services.store.list_evaluations(
                status=status, model_name=None, experiment_id=None, limit=200, offset=offset
            )
            if not records:
                break
            users += [record.id for record in records if record.spec.cluster == cluster]
            offset += len(records)
    return users


async def observed(services: Services, run: RunRecord) -> dict[str, Any] | None:
    """What the backend itself reports about a run's job (Kubernetes), if it can say."""
    if run.handle is None:
        return None
    handle = RunHandle.model_validate(run.handle)
    backend = services.backend_of(handle)
    details = getattr(backend, "details", None)
    if details is None:
        return None
    try:
        return dict(await details(handle))
    except BudevalError:  # the cluster is unreachable: fall back to the recorded states
        return None
