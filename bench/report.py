"""Markdown table of latency results: `.venv/bin/python bench/report.py bench/results/*.json`.

Recomputes p50/p95/max (nearest rank) from the per-evaluation records in each file.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path


def stats(values: list[float]) -> str:
    ordered = sorted(v * 1000 for v in values if v is not None)
    if not ordered:
        return "- | - | -"
    p95 = ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]
    return f"{statistics.median(ordered):.0f} | {p95:.0f} | {ordered[-1]:.0f}"


def main(paths: list[str]) -> None:
    print(
        "| variant | n | submit p50 / p95 / max (ms) | detection p50 / p95 / max (ms) "
        "| service CPU (cores, ms/eval) | idle CPU (cores) | file |"
    )
    print("|---|---|---|---|---|---|---|")
    for path in paths:
        result = json.loads(Path(path).read_text())
        ok = [r for r in result["evaluations"] if r["status"] == "succeeded"]
        cpu = result["cpu"]
        print(
            f"| {result['label']} | {len(ok)} "
            f"| {stats([r['submit_latency'] for r in ok]).replace(' | ', ' / ')} "
            f"| {stats([r['detection_latency'] for r in ok]).replace(' | ', ' / ')} "
            f"| {cpu['service_cores']}, {cpu['service_ms_per_evaluation']} "
            f"| {cpu.get('idle_service_cores', '-')} | {Path(path).name} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
