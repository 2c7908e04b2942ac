"""Markdown tables of latency results.

    .venv/bin/python bench/report.py bench/results/latency-*.json            # one row per file
    .venv/bin/python bench/report.py --phases bench/results/latency-*.json   # phase p50 / p95

Recomputes p50/p95/max (nearest rank) from the per-evaluation records in each file, so files
written by older versions of `latency.py` work too (phases they did not have show as "-").
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any


def ordered_ms(values: list[float | None]) -> list[float]:
    return sorted(v * 1000 for v in values if v is not None)


def stats(values: list[float | None]) -> str:
    ordered = ordered_ms(values)
    if not ordered:
        return "- / - / -"
    p95 = ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]
    return f"{statistics.median(ordered):.0f} / {p95:.0f} / {ordered[-1]:.0f}"


def p50_p95(values: list[float | None]) -> str:
    ordered = ordered_ms(values)
    if not ordered:
        return "-"
    p95 = ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]
    return f"{statistics.median(ordered):.0f} / {p95:.0f}"


def succeeded(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in result["evaluations"] if r["status"] == "succeeded"]


def summary_table(results: list[tuple[str, dict[str, Any]]]) -> None:
    print(
        "| variant | n | submit p50 / p95 / max (ms) | POST → engine p50 / p95 / max (ms) "
        "| detection p50 / p95 / max (ms) | service CPU (cores, ms/eval) | idle CPU (cores) "
        "| other CPU (cores) | load avg before → after | file |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path, result in results:
        ok = succeeded(result)
        cpu = result["cpu"]
        load = result.get("loadavg_before", ["-"])[0], result.get("loadavg_after", ["-"])[0]
        print(
            f"| {result['label']} | {len(ok)} "
            f"| {stats([r['submit_latency'] for r in ok])} "
            f"| {stats([r.get('submit_to_engine_latency') for r in ok])} "
            f"| {stats([r['detection_latency'] for r in ok])} "
            f"| {cpu['service_cores']}, {cpu['service_ms_per_evaluation']} "
            f"| {cpu.get('idle_service_cores', '-')} | {cpu.get('other_cores', '-')} "
            f"| {load[0]} → {load[1]} "
            f"| {Path(path).name} |"
        )


def phase_table(results: list[tuple[str, dict[str, Any]]]) -> None:
    names: list[str] = []
    for _, result in results:
        for record in succeeded(result)[:1]:
            names += [name for name in record["phases"] if name not in names]
    print("| phase (p50 / p95 ms) | " + " | ".join(r["label"] for _, r in results) + " |")
    print("|---|" + "---|" * len(results))
    for name in names:
        cells = [
            p50_p95([r["phases"].get(name) for r in succeeded(result)]) for _, result in results
        ]
        print(f"| `{name}` | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", action="store_true", help="phase breakdown, one column a file")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    results = [(str(path), json.loads(path.read_text())) for path in args.files]
    (phase_table if args.phases else summary_table)(results)


if __name__ == "__main__":
    main()
