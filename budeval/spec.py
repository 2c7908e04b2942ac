"""The evaluation spec: one request, normalised, with no secret in it.

Both request shapes of the seeds' API become this model. It is what the store keeps, what the
workflow receives (DBOS checkpoints workflow inputs, so the API key must not be here) and what
engines build runs from. The key itself lives in the secret store under `secret_name`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from budeval.ids import ID_PATTERN

Id = Field(pattern=ID_PATTERN)


class ModelSpec(BaseModel, frozen=True):
    model_name: str = Field(min_length=1, max_length=256)
    endpoint: str = Field(min_length=1, max_length=2048)
    extra_args: dict[str, Any] = Field(default_factory=dict)


class DatasetRun(BaseModel, frozen=True):
    dataset_id: str = Field(pattern=ID_PATTERN)
    run_id: str = Field(pattern=ID_PATTERN)


class EvaluationSpec(BaseModel, frozen=True):
    eval_id: str = Field(pattern=ID_PATTERN)
    experiment_id: str | None = Field(default=None, pattern=ID_PATTERN)
    model: ModelSpec
    datasets: list[DatasetRun] = Field(min_length=1)
    engine: str
    configs: dict[str, Any] = Field(default_factory=dict)
    """`eval_configs` as {config_name: config_value}; each engine validates its own."""
    backend: str = "local"
    cluster: str = "default"
    """Kubernetes: `default`, a registered cluster, or `@<secret_name>` (the request's
    kubeconfig, kept in the secret store)."""
    priority_class: str | None = None
    """Kubernetes priorityClassName for the runs' pods (the seeds' job prioritisation)."""
    resources: dict[str, dict[str, str]] | None = None
    """Kubernetes container resources {requests: {cpu, memory}, limits: {...}}; None = settings."""
    source: str | None = None
    source_topic: str | None = None
    secret_name: str
    """Name of the secret holding the API key (`api_key`); never the key itself."""

    def fingerprint(self, api_key: str) -> str:
        """Hash of everything the client sent, so a replay is told from a conflicting reuse.

        The key takes part only through its hash, so two requests that differ only in the key
        conflict, and the fingerprint reveals nothing about it.
        """
        body = self.model_dump(mode="json", exclude={"secret_name"})
        body["api_key_sha256"] = hashlib.sha256(api_key.encode()).hexdigest()
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
