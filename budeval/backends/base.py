"""The backend contract: how a run spec becomes a running thing and how we learn its fate.

Local processes and Kubernetes Jobs sit behind the same small interface, so the workflow never
knows which one it drives. Backends are async only. Everything here is data or a Protocol: no I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from budeval.status import RunStatus

DATA_MOUNT = "/data"
OUTPUT_MOUNT = "/output"
DATASETS_MOUNT = "/datasets"
REQUEST_PREFIX = "@"
"""A RunSpec.cluster starting with this names the secret that holds the request's kubeconfig."""
RUNNERS_MOUNT = "/opt/budeval/runners"
"""Where an engine image carries budeval's in-run wrappers (`budeval/runners/`)."""


class SecretRef(BaseModel, frozen=True):
    """A value that lives in a secret: `name` of the secret, `key` inside it."""

    name: str
    key: str


class RunSpec(BaseModel, frozen=True):
    """Everything a backend needs to run one engine on one dataset. Contains no secret."""

    eval_id: str
    run_id: str
    dataset: str
    engine: str
    engine_version: str
    name: str
    """DNS-1123 name, unique per run (the Job name on Kubernetes)."""
    image: str
    environment: str
    """The engine environment for local mode (`service` = budeval's own interpreter)."""
    command: list[str]
    """argv as inside the container; `python` and mount paths are mapped by local mode."""
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, SecretRef] = Field(default_factory=dict)
    engine_args: dict[str, Any] = Field(default_factory=dict)
    """Passed as JSON in `ENGINE_ARGS`; never holds a secret."""
    files: dict[str, str] = Field(default_factory=dict)
    """Files to place under /data before start: relative path → content."""
    labels: dict[str, str] = Field(default_factory=dict)
    cluster: str = "default"
    """Where the run goes (Kubernetes): `default`, a registered cluster's name, or
    `@<secret name>` for the kubeconfig sent with the request (kept in the secret store)."""
    priority_class: str | None = None
    """Kubernetes priorityClassName (the seeds' job prioritisation)."""
    resources: dict[str, dict[str, str]] | None = None
    """Kubernetes container resources {requests: {cpu, memory}, limits: {...}}; None = settings."""


class RunHandle(BaseModel, frozen=True):
    """How a backend finds a submitted run again, also after a restart."""

    backend: str
    eval_id: str
    run_id: str
    name: str
    namespace: str | None = None
    cluster: str | None = None


class RunState(BaseModel, frozen=True):
    status: RunStatus
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None


class StatusChange(BaseModel, frozen=True):
    """A hint that a run changed; receivers re-read the status, so duplicates are harmless."""

    handle: RunHandle
    state: RunState

    @property
    def key(self) -> str:
        return f"{self.handle.run_id}:{self.state.status}"


class VerifyReport(BaseModel, frozen=True):
    ok: bool
    checks: dict[str, str] = Field(default_factory=dict)
    reason: str | None = None
    message: str | None = None


class Backend(Protocol):
    """What the workflow needs from a place that runs engines."""

    name: str

    async def start(self) -> None:
        """Begin background work (watchers); called once at service start."""

    async def stop(self) -> None: ...

    async def verify(self, cluster: str = "default") -> VerifyReport:
        """Ready to run on `cluster` (a RunSpec.cluster key; local mode has one place)."""

    async def submit(self, spec: RunSpec) -> RunHandle:
        """Create the run (it starts when the backend has room); idempotent: submitting the
        same spec again adopts the existing run."""

    async def statuses(self, handles: list[RunHandle]) -> dict[str, RunState]:
        """Current state of many runs in one batched call, keyed by run_id."""

    def events(self) -> AsyncIterator[StatusChange]:
        """Status changes as they happen (exits, watch events)."""

    def logs(
        self,
        handle: RunHandle,
        *,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncIterator[str]:
        """The run's log lines: the last `tail`, those of the last `since` seconds, and with
        `follow` new lines until the run ends."""

    async def log_tail(self, handle: RunHandle, lines: int) -> str: ...

    async def fetch_outputs(self, handle: RunHandle) -> Path: ...

    async def cancel(self, handle: RunHandle) -> None:
        """Stop the run; idempotent; a not-yet-started run never starts."""

    async def cleanup(self, handle: RunHandle) -> None:
        """Remove everything the run created; idempotent."""
