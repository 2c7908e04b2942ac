"""What a run directory says about its run: pure reading, no side effects."""

from __future__ import annotations

import signal
from typing import Any

from budeval.backends.base import RunState
from budeval.backends.local.rundir import RunDir
from budeval.status import RunStatus


def exit_state(
    document: dict[str, Any], started_at: float | None, termination: str | None = None
) -> RunState:
    """The terminal state recorded in `exit.json` (+ the engine's own failure reason, if any)."""
    exit_code: int | None = document.get("exit_code")
    times = {"started_at": started_at, "finished_at": document.get("finished_at")}
    if document.get("cancelled"):
        return RunState(
            status=RunStatus.CANCELLED, reason="Cancelled", message="cancelled on request", **times
        )
    if document.get("reason"):
        return RunState(
            status=RunStatus.FAILED,
            reason=document["reason"],
            message=document.get("message"),
            **times,
        )
    if exit_code == 0:
        return RunState(status=RunStatus.SUCCEEDED, exit_code=0, **times)
    if exit_code is None:
        number = int(document.get("signal") or 0)
        name = signal.Signals(number).name if number else "an unknown signal"
        return RunState(
            status=RunStatus.FAILED, reason="Killed", message=f"engine killed by {name}", **times
        )
    message = f"engine exited with code {exit_code}"
    return RunState(
        status=RunStatus.FAILED,
        reason="EngineError",
        message=f"{message}: {termination}" if termination else message,
        exit_code=exit_code,
        **times,
    )


def read_state(run: RunDir) -> RunState:
    """Current state from the files alone (used by the batched status check)."""
    supervisor = run.read(run.supervisor)
    started_at = supervisor.get("started_at") if supervisor else None
    done = run.read(run.exit)
    if done is not None:
        return exit_state(done, started_at, _termination(run))
    if not run.spec.exists():
        return RunState(
            status=RunStatus.CANCELLED, reason="Removed", message="run directory removed (cleanup)"
        )
    if supervisor is None:
        return RunState(status=RunStatus.SCHEDULED)
    if run.supervisor_alive():
        return RunState(status=RunStatus.RUNNING, started_at=started_at)
    done = run.read(run.exit)  # it may have finished between the two reads
    if done is not None:
        return exit_state(done, started_at, _termination(run))
    return RunState(
        status=RunStatus.FAILED,
        reason="SupervisorLost",
        message="the run's supervisor ended without recording an exit",
        started_at=started_at,
    )


def _termination(run: RunDir) -> str | None:
    try:
        return run.termination_log.read_text(errors="replace").strip()[:1000] or None
    except FileNotFoundError:
        return None
