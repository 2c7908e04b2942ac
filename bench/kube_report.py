"""The table bench/kubernetes.py prints, and its verdict against the issue's goals.

    .venv/bin/python bench/kube_report.py bench/results/kubernetes-<timestamp>.json

`report(result)` adds `summary` and `verdict` to the result dict and prints them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def ms(stats: dict[str, Any] | None, key: str) -> str:
    return "-" if not stats else f"{stats[key] * 1000:.1f}"


def _typical(block: dict[str, Any] | None, key: str) -> float | None:
    """The median of a measured cost (a GC pause in this busy process skews the mean)."""
    stats = (block or {}).get(key)
    return stats["p50"] if stats else None


def ratios(compare: dict[str, Any]) -> dict[str, Any]:
    """How many times cheaper the backend's check of N Jobs is than the seeds' (median CPU/wall)."""
    backend, seeds = compare.get("backend") or {}, compare.get("seeds") or {}
    found: dict[str, Any] = {}
    sizes = sorted(int(key.split("_")[1]) for key in backend if key.startswith("list_"))
    for n in sizes:
        lst, cache = backend.get(f"list_{n}"), backend.get(f"statuses_{n}")
        per_job, playbook = seeds.get("per_job"), seeds.get(f"list_{n}")
        for what in ("client_cpu_s", "wall_s"):
            lst_cost, cache_cost = _typical(lst, what), _typical(cache, what)
            job_cost, book_cost = _typical(per_job, what), _typical(playbook, what)
            row = {
                "backend_list": lst_cost,
                "backend_cache": cache_cost,
                "seeds_one_playbook_per_job": None if job_cost is None else n * job_cost,
                "seeds_one_labelled_playbook": book_cost,
            }
            if lst_cost and job_cost is not None:
                row["x_per_job_playbooks_vs_list"] = n * job_cost / lst_cost
            if lst_cost and book_cost is not None:
                row["x_labelled_playbook_vs_list"] = book_cost / lst_cost
            if cache_cost and job_cost is not None:
                row["x_per_job_playbooks_vs_cache"] = n * job_cost / cache_cost
            found[f"N={n} {what}"] = row
    return found


def report(result: dict[str, Any]) -> dict[str, bool | None]:
    goals = result["goals"]
    submit = (result.get("submit") or {}).get("post_to_job")
    steady = result.get("steady") or {}
    detect = (result.get("detect") or {}).get("job_complete_to_terminal")
    api_all = steady.get("http_api_all")
    compare = ratios(result.get("compare") or {})
    per_job_ratios = [
        row["x_per_job_playbooks_vs_list"]
        for key, row in compare.items()
        if key.endswith("client_cpu_s") and "x_per_job_playbooks_vs_list" in row
    ]
    verdict = {
        "api_requests_per_s": steady.get("api_requests_per_s", 1e9) <= goals["api_requests_per_s"]
        if steady
        else None,
        "http_api_p99": api_all["p99"] <= goals["api_p99_s"] if api_all else None,
        "submit_p50": submit["p50"] <= goals["submit_p50_s"] if submit else None,
        "detection_p50": detect["p50"] <= goals["detection_p50_s"] if detect else None,
        "check_cheaper": min(per_job_ratios) >= goals["check_cheaper_x"]
        if per_job_ratios
        else None,
    }
    result["ratios"] = compare
    result["verdict"] = verdict

    ramp = result.get("ramp") or {}
    print("\n  p50 / p95 / p99 / max (ms)")
    rows = {
        "submit: POST → Job object (sequential)": submit,
        "submit: POST → HTTP response (sequential)": (result.get("submit") or {}).get(
            "post_to_response"
        ),
        "ramp: POST → Job object (concurrent)": ramp.get("post_to_job"),
        "detection: Job Complete → terminal": detect,
    }
    for name in ("succeed_to_job_complete", "job_complete_to_reader_created",
                 "reader_created_to_reader_succeeded", "reader_succeeded_to_terminal"):  # fmt: skip
        rows[f"  detection part: {name}"] = (result.get("detect") or {}).get(name)
    for route, stats in (steady.get("http_api") or {}).items():
        rows[f"steady: {route}"] = stats
    rows["steady: all GETs"] = api_all
    for name, stats in rows.items():
        cells = " / ".join(ms(stats, key) for key in ("p50", "p95", "p99", "max"))
        count = stats["n"] if stats else 0
        print(f"  {name:52} n={count:<5} {cells}")
    if steady:
        print(
            f"\n  steady {steady['seconds']} s: {steady['api_requests_per_s']} API req/s "
            f"(+{steady['watch_requests_per_s']} watch req/s; {steady['api_requests']}), "
            f"open watches {steady['open_watches']}\n"
            f"  service RSS {steady['rss_mb_start']} → {steady['rss_mb_end']} MB "
            f"(peak {steady['rss_mb_peak']}, idle before load {result.get('rss_mb_idle')}), "
            f"idle service before load {result.get('idle_service_cores')} cores; "
            f"{steady['threads']} threads, CPU {steady['service_cores']} cores; "
            f"test server + bench {steady['bench_process_cores']} cores, "
            f"other {steady['other_cores']} cores"
        )
    if ramp.get("rounds"):  # files from before the top-up rounds lack them
        first = ramp["rounds"][0]
        print(
            f"  ramp: {ramp['submitted']} POSTs ({ramp['submissions_per_s']}/s in the first "
            f"round), pods Running {first['pods_running_after_s']} s and the service settled "
            f"{first['service_saw_all_after_s']} s after the last POST; {len(ramp['rounds'])} "
            f"round(s); live at end {ramp['live_at_end']}; failed {ramp['failed_reasons']}; "
            f"service CPU {ramp['service_cpu_s']} s over {ramp['seconds']} s"
        )
        evidence = ramp.get("race_evidence") or {}
        if evidence.get("job_missing"):
            gap_missing = evidence["seconds_from_last_jobs_list_to_creation_job_missing"]
            gap_others = evidence["seconds_from_last_jobs_list_to_creation_others"]
            print(
                f"  JobMissing: {evidence['job_missing']} runs, Jobs created "
                f"{ms(gap_missing, 'min')} to {ms(gap_missing, 'max')} ms after a Jobs LIST "
                f"(p50 {ms(gap_missing, 'p50')} ms; other runs p50 {ms(gap_others, 'p50')} ms)"
            )
    print("\n  one status check of N jobs (median; seconds)")
    for key, row in compare.items():
        cells = ", ".join(f"{name}={value:.4g}" for name, value in row.items() if value is not None)
        print(f"  {key:22} {cells}")
    seeds = (result.get("compare") or {}).get("seeds") or {}
    if "skipped" in seeds:
        print(f"  seeds' side skipped: {seeds['skipped']}")
    print(f"\n  goals: {verdict}")
    return verdict


def main() -> int:
    for path in sys.argv[1:]:
        print(path)
        report(json.loads(Path(path).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
