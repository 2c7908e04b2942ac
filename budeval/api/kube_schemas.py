"""Request and response bodies about where runs go on Kubernetes: clusters, priority, resources.

Kept apart from `schemas.py` (the seeds' shapes) because they only matter to the Kubernetes
backend. A kubeconfig is write-only: a SecretStr here, parsed by `ClusterDirectory` and kept in
the secret store; responses show a cluster's server URL, never its credentials. Formats are
checked here, so a bad quantity is a 422 naming the field, not a Job the API server refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from budeval.backends.kubernetes.clusters import ClusterInfo

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"
"""A non-negative Kubernetes quantity: `500m`, `2`, `1.5`, `4Gi`, `1e3` (no sign, one suffix)."""
MAX_KUBECONFIG = 256 * 1024


def _no_yaml_aliases(value: SecretStr) -> SecretStr:
    """Refuse YAML aliases: a few hundred bytes of them expand to gigabytes once serialised."""
    try:
        tokens = yaml.scan(value.get_secret_value(), Loader=yaml.SafeLoader)
        if any(isinstance(token, yaml.AliasToken) for token in tokens):
            raise ValueError("must not use YAML aliases (anchors are not expanded)")
    except yaml.YAMLError:
        pass  # reported as "not valid YAML" when it is parsed
    return value


ClusterName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS1123_LABEL)]
Namespace = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS1123_LABEL)]
PriorityClass = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN)]
Kubeconfig = Annotated[
    SecretStr, Field(min_length=1, max_length=MAX_KUBECONFIG), AfterValidator(_no_yaml_aliases)
]
ContextName = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[^\x00-\x1f\x7f]+$")]
Quantity = Annotated[str, Field(min_length=1, max_length=64, pattern=QUANTITY)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceAmounts(_Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(_Strict):
    """Container resources of every run of the evaluation; unset parts keep the settings."""

    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None

    def as_spec(self) -> dict[str, dict[str, str]] | None:
        """`{requests: {cpu: …}, limits: {…}}` without the unset parts; None when all unset."""
        sections = {
            name: {key: value for key, value in amounts.model_dump().items() if value is not None}
            for name, amounts in (("requests", self.requests), ("limits", self.limits))
            if amounts is not None
        }
        sections = {name: values for name, values in sections.items() if values}
        return sections or None


class ClusterCreate(_Strict):
    """`POST /clusters`: register a cluster under a name runs can be sent to."""

    name: ClusterName
    kubeconfig: Kubeconfig
    namespace: Namespace | None = None
    """Where its runs go; default: the service's `KUBE_NAMESPACE`."""
    context: ContextName | None = None
    """The kubeconfig context to use; default: its `current-context`."""


class ClusterPublic(BaseModel):
    name: str
    server: str | None
    namespace: str
    context: str | None
    created_at: str | None
    """ISO 8601; None for `default`, which comes from the service's settings."""


def cluster_public(info: ClusterInfo) -> ClusterPublic:
    created = datetime.fromtimestamp(info.created_at, UTC).isoformat() if info.created_at else None
    return ClusterPublic(
        name=info.name,
        server=info.server,
        namespace=info.namespace,
        context=info.context,
        created_at=created,
    )
