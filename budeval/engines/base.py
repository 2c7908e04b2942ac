"""The engine contract: build a run spec per dataset, parse a finished run into scores.

Engines are pure translators: `validate` and `build` only compute, `parse` only reads the run's
output directory. They never start processes or talk to clusters; backends do that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from budeval.backends.base import RunSpec, SecretRef
from budeval.engines.environments import Recipe
from budeval.ids import dns1123_name
from budeval.results.models import ParsedResults
from budeval.spec import DatasetRun, EvaluationSpec

API_KEY_ENV = "OPENAI_API_KEY"
"""The one environment variable through which an engine process receives the API key."""
API_KEY_SECRET_KEY = "api_key"


class Engine(ABC):
    """An evaluation engine adapter. Subclasses set the class attributes and the three methods."""

    name: str
    version: str
    image: str
    environment: str
    """Local-mode environment name; `service` means budeval's own interpreter."""
    default_dataset: str
    recipe: Recipe | None = None
    """How to install the engine's local environment; None runs in budeval's own interpreter."""
    mode: str | None = "chat"
    """What the engine needs from the endpoint: `chat`, `completions`, or None (no endpoint)."""

    def endpoint_mode(self, spec: EvaluationSpec) -> str | None:
        """The endpoint API this evaluation uses (engines may let extra_args choose)."""
        return self.mode

    @abstractmethod
    def validate(self, spec: EvaluationSpec) -> None:
        """Raise `InvalidRequest` (naming the field) for anything this engine cannot run."""

    def check_datasets(self, spec: EvaluationSpec, datasets_dir: Path) -> None:
        """Raise `InvalidRequest` for a dataset that is not on the datasets volume (submit time).

        Engines whose datasets are files under `/datasets` override this; the service passes its
        local view of that volume. The default accepts everything `validate` accepted.
        """
        return None

    @abstractmethod
    def build(self, spec: EvaluationSpec, dataset: DatasetRun) -> RunSpec:
        """The run spec for one dataset of the evaluation. Pure."""

    @abstractmethod
    def parse(self, spec: EvaluationSpec, dataset: DatasetRun, output_dir: Path) -> ParsedResults:
        """Scores (and predictions) from a finished run's output directory."""

    def run_spec(self, spec: EvaluationSpec, dataset: DatasetRun, **fields: object) -> RunSpec:
        """The common part of every engine's run spec: identity, labels, the key reference."""
        base: dict[str, object] = {
            "eval_id": spec.eval_id,
            "run_id": dataset.run_id,
            "dataset": dataset.dataset_id,
            "engine": self.name,
            "engine_version": self.version,
            "name": run_name(dataset.run_id),
            "image": self.image,
            "environment": self.environment,
            "cluster": spec.cluster,
            "priority_class": spec.priority_class,
            "resources": spec.resources,
            "secret_env": {API_KEY_ENV: SecretRef(name=spec.secret_name, key=API_KEY_SECRET_KEY)},
            "labels": {
                "app.kubernetes.io/name": "budeval",
                "app.kubernetes.io/managed-by": "budeval",
                "budeval.io/engine": self.name,
            },
        }
        base.update(fields)
        return RunSpec.model_validate(base)


def run_name(run_id: str) -> str:
    """The DNS-1123 name of a run (its Job name on Kubernetes), derived from the run id."""
    return dns1123_name(run_id, prefix="eval-")
