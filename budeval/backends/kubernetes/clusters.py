"""Which cluster a run goes to, and with which credentials.

Three sources, named by a run's `cluster` key:
- `default`: `BUDEVAL_KUBECONFIG`, else `KUBECONFIG`, else the in-cluster service account, else
  `~/.kube/config` (lightkube's own order after the explicit file);
- a registered cluster (`POST /clusters`): its kubeconfig kept as a 0600 secret `cluster-<name>`;
- `@<secret name>`: the kubeconfig sent with one evaluation, kept beside its API key in that
  evaluation's secret until its cluster objects are cleaned (a restart must reach the cluster).
A kubeconfig is never written to the database, a log line, an event or a response; only its
server URL is shown.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from budeval.backends.base import REQUEST_PREFIX
from budeval.config import Settings
from budeval.errors import Conflict, InvalidRequest, NotFound
from budeval.secrets import LocalSecretStore

DEFAULT_CLUSTER = "default"
KUBECONFIG_KEY = "kubeconfig"
_REGISTERED = "cluster-"


class ClusterConfig(BaseModel, frozen=True):
    """How to reach one cluster: a kubeconfig (None = the default discovery) and a namespace."""

    key: str
    namespace: str
    kubeconfig: dict[str, Any] | None = None
    context: str | None = None
    kubeconfig_file: Path | None = None

    @property
    def fingerprint(self) -> str:
        """Same credentials and namespace → same informer, whatever the cluster key."""
        body = json.dumps(
            [self.kubeconfig, self.context, str(self.kubeconfig_file), self.namespace],
            sort_keys=True,
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]


class ClusterInfo(BaseModel, frozen=True):
    """What may be shown about a registered cluster (never its credentials)."""

    name: str
    server: str | None
    namespace: str
    context: str | None
    created_at: float


def parse_kubeconfig(text: str, *, field: str = "kubeconfig", context: str | None = None) -> dict:
    """A kubeconfig's YAML → dict, refusing what lightkube could not use (422, nothing echoed)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InvalidRequest(f"{field} is not valid YAML", field=field) from None
    try:
        document = json.loads(json.dumps(document))  # dates and other non-JSON values refused
    except (TypeError, ValueError):
        raise InvalidRequest(f"{field} holds values that are not plain YAML", field=field) from None
    if not isinstance(document, dict) or not document.get("clusters"):
        raise InvalidRequest(f"{field} has no clusters", field=field)
    contexts = {
        item.get("name") for item in document.get("contexts") or [] if isinstance(item, dict)
    }
    wanted = context or document.get("current-context")
    if wanted is None or wanted not in contexts:
        raise InvalidRequest(
            f"{field} names no usable context (set current-context or pass context)", field=field
        )
    return document


def _context(kubeconfig: dict, context: str | None) -> dict[str, Any]:
    name = context or kubeconfig.get("current-context")
    contexts = {c.get("name"): c.get("context", {}) for c in kubeconfig.get("contexts") or []}
    return dict(contexts.get(name) or {})


def namespace_of(kubeconfig: dict, context: str | None) -> str | None:
    """The namespace the kubeconfig's context names, if any."""
    return _context(kubeconfig, context).get("namespace") or None


def server_of(kubeconfig: dict, context: str | None) -> str | None:
    cluster = _context(kubeconfig, context).get("cluster")
    for item in kubeconfig.get("clusters") or []:
        if item.get("name") == cluster:
            return (item.get("cluster") or {}).get("server")
    return None


class ClusterDirectory:
    """Resolves cluster keys and keeps the registered clusters (in the secret store)."""

    def __init__(self, settings: Settings, secrets: LocalSecretStore) -> None:
        self.settings = settings
        self.secrets = secrets

    def resolve(self, key: str) -> ClusterConfig:
        if key == DEFAULT_CLUSTER:
            return ClusterConfig(
                key=key,
                namespace=self.settings.kube_namespace,
                kubeconfig_file=self.settings.kubeconfig,
                context=self.settings.kube_context,
            )
        if key.startswith(REQUEST_PREFIX):
            values = self.secrets.get(key[len(REQUEST_PREFIX) :])
            if KUBECONFIG_KEY not in values:
                raise NotFound("the evaluation's kubeconfig is no longer kept")
            kubeconfig = json.loads(values[KUBECONFIG_KEY])
            return ClusterConfig(
                key=key,
                namespace=namespace_of(kubeconfig, None) or self.settings.kube_namespace,
                kubeconfig=kubeconfig,
            )
        values = self.secrets.get(_REGISTERED + key) if self.exists(key) else None
        if values is None:
            raise NotFound(f"cluster {key!r} is not registered")
        return ClusterConfig(
            key=key,
            namespace=values["namespace"],
            kubeconfig=json.loads(values[KUBECONFIG_KEY]),
            context=values.get("context") or None,
        )

    def exists(self, name: str) -> bool:
        return name == DEFAULT_CLUSTER or self.secrets.exists(_REGISTERED + name)

    def register(
        self, name: str, kubeconfig_text: str, namespace: str | None, context: str | None
    ) -> ClusterInfo:
        if self.exists(name):
            raise Conflict(f"cluster {name!r} is already registered (delete it first)")
        document = parse_kubeconfig(kubeconfig_text, context=context)
        values = {
            KUBECONFIG_KEY: json.dumps(document),
            "namespace": namespace
            or namespace_of(document, context)
            or self.settings.kube_namespace,
            "context": context or "",
            "created_at": repr(time.time()),
        }
        self.secrets.put(_REGISTERED + name, values)
        return self._info(name, values)

    def unregister(self, name: str) -> None:
        if name == DEFAULT_CLUSTER:
            raise Conflict("the default cluster comes from the settings; it cannot be removed")
        if not self.exists(name):
            raise NotFound(f"cluster {name!r} is not registered")
        self.secrets.delete(_REGISTERED + name)

    def info(self, name: str) -> ClusterInfo:
        if name == DEFAULT_CLUSTER:
            return ClusterInfo(
                name=name,
                server=None,
                namespace=self.settings.kube_namespace,
                context=self.settings.kube_context,
                created_at=0.0,
            )
        if not self.exists(name):
            raise NotFound(f"cluster {name!r} is not registered")
        return self._info(name, self.secrets.get(_REGISTERED + name))

    def names(self) -> list[str]:
        registered = self.secrets.names(_REGISTERED)
        return [DEFAULT_CLUSTER, *sorted(name[len(_REGISTERED) :] for name in registered)]

    def _info(self, name: str, values: dict[str, str]) -> ClusterInfo:
        context = values.get("context") or None
        return ClusterInfo(
            name=name,
            server=server_of(json.loads(values[KUBECONFIG_KEY]), context),
            namespace=values["namespace"],
            context=context,
            created_at=float(values.get("created_at") or 0.0),
        )
