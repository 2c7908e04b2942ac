"""Prometheus metrics served at `/metrics`.

Counted where the change happens (API command, final workflow step). A step that re-runs after a
crash may count twice: these are operational signals, the store is the record.
"""

from __future__ import annotations

from prometheus_client import Counter

EVALUATIONS_CREATED = Counter(
    "budeval_evaluations_created_total", "Evaluations accepted by the API", ["engine"]
)
EVALUATIONS_FINISHED = Counter(
    "budeval_evaluations_finished_total", "Evaluations that reached a final status", ["status"]
)
