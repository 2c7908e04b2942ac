"""Request and response bodies of the HTTP API (the seeds' shapes), apart from store records.

Both request shapes of the seeds' `POST /evals/start` become one `EvaluationSpec`. The API key is
write-only: it is a SecretStr here and is handed to the secret store, never to the spec or a
response; so is a kubeconfig sent with the request (the spec names only the secret holding it).
Every string is bounded so a 1 MB value is a 422, not a row.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from budeval import egress
from budeval.api.kube_schemas import ClusterName, Kubeconfig, PriorityClass, Resources
from budeval.api.limits import check_json
from budeval.backends.kubernetes.clusters import DEFAULT_CLUSTER, REQUEST_PREFIX
from budeval.errors import InvalidRequest
from budeval.ids import ID_PATTERN, dns1123_name
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec

Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=128)]
ApiKey = Annotated[SecretStr, Field(min_length=1, max_length=4096)]


def _http_url(value: str) -> str:
    """The URL's syntax (scheme, port, no credentials); its destination is checked at submit."""
    try:
        egress.split(value)
    except egress.EgressRefused as refused:
        raise ValueError(refused.message) from None
    return value.rstrip("/")


HttpUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_http_url)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
"""Passed through to an engine: bounded in size, depth, numbers (`budeval.api.limits`)."""
JsonValue = Annotated[Any, AfterValidator(check_json)]
ModelName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalModelInfo(Strict):
    model_name: ModelName
    endpoint: HttpUrl
    api_key: ApiKey
    extra_args: JsonObject = Field(default_factory=dict)


class EvalDataset(Strict):
    dataset_id: Identifier
    run_id: Identifier | None = None


class EvalConfig(Strict):
    config_name: Identifier
    config_value: JsonValue = None


class StartFull(Strict):
    """The seeds' full request shape."""

    eval_id: Identifier
    experiment_id: Identifier | None = None
    eval_model_info: EvalModelInfo
    eval_datasets: list[EvalDataset] = Field(min_length=1, max_length=200)
    eval_configs: list[EvalConfig] = Field(default_factory=list, max_length=50)
    engine: Identifier | None = None
    source: Annotated[str, Field(max_length=256)] | None = None
    source_topic: Annotated[str, Field(max_length=256)] | None = None
    cluster: ClusterName | None = None
    """Kubernetes: a registered cluster (`GET /clusters`); default: the service's own."""
    kubeconfig: Kubeconfig | None = None
    """Kubernetes: this evaluation's own cluster credentials (write-only; not with `cluster`)."""
    priority: PriorityClass | None = None
    """Kubernetes priorityClassName of the runs' pods."""
    resources: Resources | None = None


class StartShort(Strict):
    """The seeds' short request shape; datasets and engine come from the service's defaults."""

    eval_request_id: Identifier
    model_name: ModelName
    api_key: ApiKey
    base_url: HttpUrl
    kubeconfig: Kubeconfig | None = None


def _run_id(eval_id: str, index: int, dataset_id: str) -> str:
    digest = hashlib.sha256(f"{eval_id}/{index}/{dataset_id}".encode()).hexdigest()[:16]
    return f"run-{digest}"


def secret_name(eval_id: str) -> str:
    return dns1123_name(eval_id, prefix="budeval-key-")


def _cluster(body: StartFull) -> str:
    if body.kubeconfig is not None and body.cluster is not None:
        raise InvalidRequest("give either cluster or kubeconfig, not both", field="cluster")
    if body.kubeconfig is not None:
        return REQUEST_PREFIX + secret_name(body.eval_id)  # the kubeconfig lives beside the key
    return body.cluster or DEFAULT_CLUSTER


def full_to_spec(body: StartFull, *, default_engine: str, backend: str) -> EvaluationSpec:
    runs = [
        DatasetRun(
            dataset_id=item.dataset_id,
            run_id=item.run_id or _run_id(body.eval_id, index, item.dataset_id),
        )
        for index, item in enumerate(body.eval_datasets)
    ]
    return EvaluationSpec(
        eval_id=body.eval_id,
        experiment_id=body.experiment_id,
        model=ModelSpec(
            model_name=body.eval_model_info.model_name,
            endpoint=body.eval_model_info.endpoint,
            extra_args=body.eval_model_info.extra_args,
        ),
        datasets=runs,
        engine=body.engine or default_engine,
        configs={item.config_name: item.config_value for item in body.eval_configs},
        backend=backend,
        cluster=_cluster(body),
        priority_class=body.priority,
        resources=body.resources.as_spec() if body.resources else None,
        source=body.source,
        source_topic=body.source_topic,
        secret_name=secret_name(body.eval_id),
    )


def short_to_full(body: StartShort, datasets: list[str]) -> StartFull:
    return StartFull(
        eval_id=body.eval_request_id,
        eval_model_info=EvalModelInfo(
            model_name=body.model_name, endpoint=body.base_url, api_key=body.api_key
        ),
        eval_datasets=[EvalDataset(dataset_id=name) for name in datasets],
        kubeconfig=body.kubeconfig,
    )


class RunPublic(BaseModel):
    run_id: str
    dataset_id: str
    job_name: str
    status: str
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    log_tail: str | None = None
    scheduled_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class EvaluationPublic(BaseModel):
    eval_id: str
    job_id: str
    status: str
    reason: str | None = None
    message: str | None = None
    experiment_id: str | None = None
    model_name: str
    endpoint: str
    engine: str
    backend: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    cleaned: bool = False
    runs: list[RunPublic]


class EvaluationPage(BaseModel):
    items: list[EvaluationPublic]
    total: int
    limit: int
    offset: int


class ScorePublic(BaseModel):
    run_id: str
    dataset: str
    metric: str
    value: float
    higher_is_better: bool
    n_samples: int | None = None
    stderr: float | None = None
    engine: str
    engine_version: str


class ResultsPublic(BaseModel):
    eval_id: str
    status: str
    scores: list[ScorePublic]


class JobDetails(BaseModel):
    status: str
    phase: str
    active: int
    succeeded: int
    failed: int
    pod_count: int
    data_pvc_status: str
    output_pvc_status: str


class JobStatus(BaseModel):
    """The seeds' `GET /evals/status/{job_id}` answer."""

    job_id: str
    status: str
    namespace: str
    details: JobDetails


class CleanupPublic(BaseModel):
    job_id: str
    eval_id: str
    removed: list[str]
    status: str
