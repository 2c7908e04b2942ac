"""Settings: every knob of the service, read from `BUDEVAL_*` environment variables.

Built once in the app factory / CLI (never at import) and passed down. Refuses unsafe
combinations instead of guessing: binding beyond loopback without API tokens is an error.
"""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import budeval
from budeval.egress import EgressPolicy


class StorageProfile(BaseModel, frozen=True):
    """Volume sizes and classes for one kind of cluster (the seeds' two profiles)."""

    name: str
    storage_class: str | None
    """None means the cluster's default storage class."""
    access_mode: str
    run_volume_size: str
    datasets_volume_size: str
    datasets_access_mode: str


STORAGE_PROFILES: dict[str, StorageProfile] = {
    "local": StorageProfile(
        name="local",
        storage_class="local-path",
        access_mode="ReadWriteOnce",
        run_volume_size="10Gi",
        datasets_volume_size="10Gi",
        datasets_access_mode="ReadWriteOnce",
    ),
    "production": StorageProfile(
        name="production",
        storage_class=None,
        access_mode="ReadWriteOnce",
        run_volume_size="20Gi",
        datasets_volume_size="100Gi",
        datasets_access_mode="ReadWriteMany",
    ),
}


DNS1123_LABEL_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """All of budeval's configuration. Environment: `BUDEVAL_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="BUDEVAL_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path("~/.budeval").expanduser())
    """Data dir: databases, run directories, secrets, engine environments."""
    engines_dir: Path | None = None
    """Engine virtualenvs (`budeval engines install`); default `home/engines`. Several data dirs
    may share one (the tests do)."""
    database_url: str | None = None
    """budeval's own store; default SQLite in `home`. PostgreSQL: postgresql+psycopg://…"""
    system_database_url: str | None = None
    """DBOS's checkpoints; default a second SQLite file in `home`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    api_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Bearer tokens accepted by the API; required when `host` is not loopback."""
    http_request_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    """A client must send a request's headers and body within this time, or the connection is
    closed (slow or half-open connections are not held)."""
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=600)
    """An idle keep-alive connection is closed after this long."""

    egress_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """CIDRs and host patterns (`*.example.com`) that model endpoints and other URLs named in
    requests may reach; empty: anything not denied."""
    egress_deny: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """CIDRs and host patterns never reached (deny wins over allow), e.g. `127.0.0.0/8`."""
    egress_builtin_deny: bool = True
    """Also deny link-local and cloud metadata addresses and names (`budeval.egress`)."""
    egress_resolve_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    """How long a DNS lookup for the egress check may take."""

    backend: Literal["local", "kubernetes"] = "local"
    storage_profile: Literal["local", "production"] = "local"
    default_engine: str = "opencompass"
    default_datasets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Datasets for the short request shape; empty means the engine's own default."""

    poll_interval_seconds: float = Field(default=30.0, gt=0)
    """The backend's one periodic status check (for all runs), the seeds' check interval."""
    progress_every_checks: int = Field(default=10, ge=1)
    """A progress notification every N poll intervals (the seeds' "every 10 checks")."""
    max_duration_seconds: float = Field(default=7200.0, gt=0)
    local_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    """How many local engine processes may run at once; more wait as `scheduled`."""
    log_tail_lines: int = Field(default=40, ge=1, le=1000)
    cancel_grace_seconds: float = Field(default=10.0, ge=0)
    step_retry_attempts: int = Field(default=6, ge=1, le=20)
    """Tries of a workflow step on a transient error (a 5xx, a timeout, a busy database)
    before the evaluation ends `failed` with that error."""
    step_retry_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    """Wait before a step's first retry; doubled for each next one (capped at 60 s)."""
    reconcile_interval_seconds: float = Field(default=60.0, gt=0)
    """How often every unfinished evaluation is checked for a live workflow (also at start-up)."""

    kube_namespace: str = Field(default="budeval", pattern=DNS1123_LABEL_RE, max_length=63)
    """Namespace of the default cluster's runs (a registered cluster names its own)."""
    kubeconfig: Path | None = None
    """The default cluster's kubeconfig; else `KUBECONFIG`, the in-cluster service account, or
    `~/.kube/config`, in that order."""
    kube_context: str | None = None
    kube_backoff_limit: int = Field(default=0, ge=0, le=10)
    kube_active_deadline_seconds: int | None = Field(default=None, ge=1)
    """A Job's activeDeadlineSeconds; default: the evaluation's max duration."""
    kube_ttl_seconds_after_finished: int = Field(default=3600, ge=0)
    kube_cpu_request: str = "500m"
    kube_memory_request: str = "1Gi"
    kube_cpu_limit: str = "2"
    kube_memory_limit: str = "4Gi"
    kube_run_as_user: int = Field(default=1000, ge=1)
    kube_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    kube_service_image: str = f"budeval/service:{budeval.__version__}"
    """The service's own image: smoke runs and the results reader use it."""
    kube_datasets_pvc: str = "eval-datasets-pvc"
    kube_pvc_pending_seconds: float = Field(default=300.0, gt=0)
    """A run whose PVC stays Pending (or whose pod waits on its volumes) this long fails with
    reason PVCPending."""
    kube_unschedulable_grace_seconds: float = Field(default=600.0, gt=0)
    """A pod no node can take yet (capacity: `Insufficient cpu`) keeps its run `scheduled` this
    long, then the run fails with reason Unschedulable; a Job that gets no pod at all (admission
    refused it) fails with PodNotCreated after the same time."""
    kube_request_timeout_seconds: float = Field(default=10.0, gt=0)
    kube_watch_timeout_seconds: int = Field(default=290, ge=1)
    """Server-side timeout of one watch request; the watch then resumes from its version."""
    kube_informer_idle_seconds: float = Field(default=60.0, gt=0)
    """An informer (watches + connections) of a non-default cluster, e.g. a request kubeconfig,
    is closed once no live run needs it and nothing used it for this long; reopened on demand."""
    kube_verify_cache_seconds: float = Field(default=300.0, ge=0)
    """A successful cluster verify is reused this long (one round of checks per burst)."""
    kube_retention_seconds: float = Field(default=86400.0, gt=0)
    """The orphan collector removes objects of evaluations terminal for longer than this."""

    application_version: str = budeval.__version__
    """Pinned DBOS application version: workflows started by one version recover on it."""
    wake_poll_seconds: float = Field(default=0.1, gt=0)
    """How often DBOS looks for messages on SQLite (PostgreSQL uses LISTEN/NOTIFY)."""
    executor_threads: int = Field(default=32, ge=4)
    log_level: str = "INFO"

    @field_validator("api_tokens", "default_datasets", "egress_allow", "egress_deny", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)

    @model_validator(mode="after")
    def _refuse_open_bind_without_tokens(self) -> Settings:
        if not self.is_loopback_bind and not self.api_tokens:
            raise ValueError(
                f"binding to {self.host} exposes the API beyond this machine: "
                "set BUDEVAL_API_TOKENS (comma-separated bearer tokens)"
            )
        return self

    @model_validator(mode="after")
    def _egress_lists_parse(self) -> Settings:
        _ = self.egress  # a bad CIDR or pattern is a start-up error, not a surprise per request
        return self

    @property
    def is_loopback_bind(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @cached_property
    def egress(self) -> EgressPolicy:
        return EgressPolicy(
            allow=tuple(self.egress_allow),
            deny=tuple(self.egress_deny),
            builtin_deny=self.egress_builtin_deny,
            resolve_timeout_seconds=self.egress_resolve_timeout_seconds,
        )

    @cached_property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'budeval.sqlite'}"

    @cached_property
    def dbos_url(self) -> str:
        return self.system_database_url or f"sqlite:///{self.home / 'dbos.sqlite'}"

    @property
    def profile(self) -> StorageProfile:
        return STORAGE_PROFILES[self.storage_profile]

    @property
    def progress_interval_seconds(self) -> float:
        return self.poll_interval_seconds * self.progress_every_checks

    @property
    def engines_path(self) -> Path:
        return self.engines_dir or self.home / "engines"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def ensure_dirs(self) -> None:
        for path in (self.home, self.runs_dir, self.datasets_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
