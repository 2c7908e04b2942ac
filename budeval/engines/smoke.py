"""The smoke engine: the seeds' busybox test job, made safe and parseable.

It evaluates nothing. Its run sleeps, logs, and writes a results file whose score comes from
validated parameters, so the whole pipeline (queue, process, monitor, parse, store, notify) can be
exercised in seconds. Nothing from a request is executed: parameters are numbers, checked here.

    eval_configs: [{"config_name": "smoke",
                    "config_value": {"duration_seconds": 2, "exit_code": 0, "score": 42.0,
                                     "per_dataset": {"smoke-b": {"exit_code": 3}}}}]
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import budeval
from budeval.backends.base import OUTPUT_MOUNT, RunSpec
from budeval.engines.base import Engine
from budeval.engines.registry import register_engine
from budeval.errors import InvalidRequest
from budeval.results.models import ParsedResults, Score
from budeval.spec import DatasetRun, EvaluationSpec

RESULTS_FILE = "smoke-results.json"


class SmokeBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration_seconds: float | None = Field(default=None, ge=0, le=3600)
    exit_code: int | None = Field(default=None, ge=0, le=255)
    score: float | None = Field(default=None, ge=-1e9, le=1e9)
    n_samples: int | None = Field(default=None, ge=0, le=1_000_000)


class SmokeConfig(SmokeBehaviour):
    duration_seconds: float | None = Field(default=1.0, ge=0, le=3600)
    exit_code: int | None = Field(default=0, ge=0, le=255)
    score: float | None = Field(default=42.0, ge=-1e9, le=1e9)
    n_samples: int | None = Field(default=10, ge=0, le=1_000_000)
    per_dataset: dict[str, SmokeBehaviour] = Field(default_factory=dict)

    def for_dataset(self, dataset: str) -> SmokeBehaviour:
        override = self.per_dataset.get(dataset)
        merged = self.model_dump(exclude={"per_dataset"})
        if override is not None:
            merged.update(override.model_dump(exclude_none=True))
        return SmokeBehaviour.model_validate(merged)


@register_engine()
class SmokeEngine(Engine):
    name = "smoke"
    version = "1"
    image = f"budeval/service:{budeval.__version__}"
    """The service's own image; on Kubernetes the setting `kube_service_image` replaces it (one
    setting for smoke runs and the results reader)."""
    environment = "service"
    default_dataset = "smoke"
    mode = None  # evaluates nothing: its endpoint is never called

    def config(self, spec: EvaluationSpec) -> SmokeConfig:
        raw = spec.configs.get("smoke", {})
        try:
            return SmokeConfig.model_validate(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidRequest(
                f"eval_configs.smoke.{where}: {first['msg']}",
                field=f"eval_configs.smoke.{where}",
            ) from None

    def validate(self, spec: EvaluationSpec) -> None:
        for run in spec.datasets:
            if not run.dataset_id.startswith("smoke"):
                raise InvalidRequest(
                    f"unknown dataset {run.dataset_id!r} for engine smoke "
                    "(its datasets are named smoke, smoke-a, smoke_2, …)",
                    field="eval_datasets.dataset_id",
                )
        self.config(spec)

    def build(self, spec: EvaluationSpec, dataset: DatasetRun) -> RunSpec:
        behaviour = self.config(spec).for_dataset(dataset.dataset_id)
        return self.run_spec(
            spec,
            dataset,
            command=["python", "-m", "budeval.engines.smoke_program"],
            engine_args={
                "dataset": dataset.dataset_id,
                "model": spec.model.model_name,
                "endpoint": spec.model.endpoint,
                "output_dir": OUTPUT_MOUNT,
                **behaviour.model_dump(),
            },
        )

    def parse(self, spec: EvaluationSpec, dataset: DatasetRun, output_dir: Path) -> ParsedResults:
        document = json.loads((output_dir / RESULTS_FILE).read_text())
        return ParsedResults(
            engine=self.name,
            engine_version=self.version,
            scores=[
                Score(
                    dataset=dataset.dataset_id,
                    metric=document["metric"],
                    value=float(document["value"]),
                    n_samples=int(document["n_samples"]),
                )
            ],
        )
