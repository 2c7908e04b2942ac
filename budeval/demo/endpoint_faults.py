"""Deterministic misbehaviour of the demo endpoint, and its request counters.

Faults apply to completion requests only (`/v1/chat/completions`, `/v1/completions`, after the key
and the route are checked), never to `/v1/models`, so a pre-flight check sees a healthy endpoint.
Completion requests are numbered 0, 1, 2, … in arrival order; with a rate r and bursts of N the
period is K = round(N / r) and requests K-N … K-1 of every period fail (effective rate N / K). With
status "mixed", even-numbered bursts are 429 and odd ones 500. Failures queued by `fail_next` come
first and do not advance the numbering. Thread-safe; no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from threading import Lock
from typing import NamedTuple

STATUSES = ("429", "500", "mixed")


@dataclass(frozen=True)
class FaultPlan:
    rate: float = 0.0
    """Fraction of completion requests that fail (0 = none, 1 = all)."""
    burst: int = 1
    """Consecutive failures per burst."""
    status: str = "429"
    """"429", "500" or "mixed" (alternating per burst)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"error rate must be within [0, 1], got {self.rate}")
        if self.burst < 1:
            raise ValueError(f"error burst must be >= 1, got {self.burst}")
        if self.status not in STATUSES:
            raise ValueError(f"error status must be one of {STATUSES}, got {self.status!r}")

    @property
    def period(self) -> int | None:
        """K: one burst starts every K completion requests (None: no faults)."""
        return max(self.burst, round(self.burst / self.rate)) if self.rate > 0 else None

    def status_for(self, number: int) -> int | None:
        """The status completion request `number` (0-based) fails with, or None."""
        period = self.period
        if period is None or number % period < period - self.burst:
            return None
        if self.status == "mixed":
            return 429 if (number // period) % 2 == 0 else 500
        return int(self.status)


class Verdict(NamedTuple):
    status: int | None = None
    """Fail the request with this status; None = answer it."""
    then_down: bool = False
    """Go down once this request is answered."""
    drop: bool = False
    """Close the connection without an answer (a `down_after` has tripped)."""


class Faults:
    """The plan in force, failures queued by `fail_next`, and a pending `down_after`."""

    def __init__(self, plan: FaultPlan) -> None:
        self._lock = Lock()
        self._plan = plan
        self._number = 0
        self._queued: list[int] = []
        self._down_after: int | None = None
        self._tripped = False

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the plan; numbering restarts at 0."""
        with self._lock:
            self._plan, self._number = plan, 0

    def fail_next(self, count: int, status: int) -> None:
        if count < 0 or not 400 <= status <= 599:
            raise ValueError(f"fail_next needs count >= 0 and a 4xx/5xx status, got {status}")
        with self._lock:
            self._queued.extend([status] * count)

    def down_after(self, count: int | None) -> None:
        """Go down after answering `count` more completion requests; None cancels (and clears a
        tripped one). Requests after the count, before the socket is closed, are dropped."""
        if count is not None and count < 1:
            raise ValueError(f"down_after needs count >= 1, got {count}")
        with self._lock:
            self._down_after, self._tripped = count, False

    def judge(self) -> Verdict:
        """Decide the fate of the next completion request."""
        with self._lock:
            if self._tripped:
                return Verdict(drop=True)
            then_down = False
            if self._down_after is not None:
                self._down_after -= 1
                then_down = self._tripped = self._down_after == 0
                if then_down:
                    self._down_after = None
            if self._queued:
                return Verdict(self._queued.pop(0), then_down)
            status = self._plan.status_for(self._number)
            self._number += 1
            return Verdict(status, then_down)


@dataclass(frozen=True)
class RequestCounts:
    """A snapshot of the endpoint's traffic since start (or `reset_counts`)."""

    total: int = 0
    """Requests answered with a status (dropped ones excluded)."""
    by_status: dict[int, int] = field(default_factory=dict)
    by_path: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    """Requests whose connection was cut by `go_down` before an answer was written."""
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests ever handled at the same moment (latency included)."""

    def status(self, code: int) -> int:
        return self.by_status.get(code, 0)


class Traffic:
    """Thread-safe request counters."""

    def __init__(self) -> None:
        self._lock = Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._statuses: Counter[int] = Counter()
            self._paths: Counter[str] = Counter()
            self._dropped = 0
            self._max = 0
            self._in_flight = getattr(self, "_in_flight", 0)

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max = max(self._max, self._in_flight)

    def end(self, path: str, status: int | None) -> None:
        """Record one request (before its answer is written); status None = dropped."""
        with self._lock:
            self._in_flight -= 1
            if status is None:
                self._dropped += 1
            else:
                self._statuses[status] += 1
                self._paths[path] += 1

    def drop(self, path: str, status: int) -> None:
        """An answer counted by `end` could not be written: count it as dropped instead."""
        with self._lock:
            self._statuses[status] -= 1
            self._paths[path] -= 1
            self._dropped += 1

    def snapshot(self) -> RequestCounts:
        with self._lock:
            return RequestCounts(
                total=sum(self._statuses.values()),
                by_status=dict(+self._statuses),
                by_path=dict(+self._paths),
                dropped=self._dropped,
                in_flight=self._in_flight,
                max_in_flight=self._max,
            )
