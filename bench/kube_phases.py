"""Phases 1 to 4 of bench/kubernetes.py: submit, ramp, steady state, detection.

Every function drives the real service over HTTP and reads the "cluster" through the API test
server in this process (see kube_load.ClusterClock for where the server-side times come from).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from common import iso_to_epoch
from kube_load import (
    COMPONENT,
    NS,
    RUN_ENDED,
    TERMINAL,
    ApiSampler,
    ClusterClock,
    PodDriver,
    cpu_of,
    failed_evaluations,
    machine_busy,
    proc_status,
    run_statuses,
    submit,
    submit_many,
    summary,
)

from tests.kube import KubeApiServer

REPO = Path(__file__).resolve().parent.parent


def phase_submit(url: str, clock: ClusterClock, ids: list[str], warmup: int) -> dict[str, Any]:
    records = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for eval_id in ids:
            record = submit(http, eval_id)
            if "job" in record and clock.wait(clock.job_added, record["job"], 30):
                record["t_job"] = clock.job_added[record["job"]]
            records.append(record)
            time.sleep(0.2 + random.random() * 0.1)  # paced: one at a time, never saturating
    counted = records[warmup:]
    return {
        "n": len(counted),
        "post_to_job": summary([r.get("t_job", 0) - r["t_post"] for r in counted if "t_job" in r]),
        "post_to_response": summary([r["t_response"] - r["t_post"] for r in counted]),
        "response_to_job": summary([r["t_job"] - r["t_response"] for r in counted if "t_job" in r]),
        "failed": [r for r in records if "t_job" not in r],
        "records": records,
    }


def settle(url: str, driver: PodDriver, submitted: int, seconds: float) -> dict[str, Any]:
    """Wait until every run pod is Running and the service shows every run running or ended."""
    started = time.monotonic()
    deadline = started + seconds
    while len(driver.started) < submitted and time.monotonic() < deadline:
        time.sleep(0.2)
    pods = time.monotonic()
    counts: dict[str, int] = {}
    timeline = []  # (seconds, run statuses) every 2 s: how the service catches up
    while time.monotonic() < deadline:
        counts = run_statuses(url)
        timeline.append((round(time.monotonic() - started, 1), counts))
        if sum(counts.get(s, 0) for s in ("running", *RUN_ENDED)) >= submitted:
            break
        time.sleep(2.0)
    return {
        "pods_running_after_s": round(pods - started, 2),
        "service_saw_all_after_s": round(time.monotonic() - started, 2),
        "run_statuses": counts,
        "timed_out": time.monotonic() >= deadline,
        "timeline": timeline,
    }


def race_evidence(clock: ClusterClock, failed: list[dict[str, Any]]) -> dict[str, Any]:
    """For runs failed as JobMissing: was their Job created just after a resync LIST of Jobs was
    served (the LIST's snapshot cannot contain it, and replacing the cache with it drops it)?
    Compared with every other run: seconds from the last Jobs LIST to the Job's creation."""
    lists = sorted((rv, t) for t, plural, rv, _ in clock.lists if plural == "jobs")

    def since_list(job: str) -> float | None:
        rv, t_job = clock.job_added_rv.get(job), clock.job_added.get(job)
        before = [t for list_rv, t in lists if rv is not None and list_rv < rv]
        return t_job - before[-1] if before and t_job is not None else None

    missing = {f["job"] for f in failed if f["reason"] == "JobMissing"}
    others = [
        job for job in clock.job_added_rv if job not in missing and not job.startswith("read-")
    ]
    return {
        "jobs_lists_served": [(round(t, 3), rv, n) for t, p, rv, n in clock.lists if p == "jobs"],
        "job_missing": len(missing),
        "job_missing_whose_job_was_created": sum(1 for j in missing if j in clock.job_added),
        "seconds_from_last_jobs_list_to_creation_job_missing": summary(
            [since_list(j) for j in missing]
        ),
        "seconds_from_last_jobs_list_to_creation_others": summary([since_list(j) for j in others]),
    }


def phase_ramp(
    url: str, server: KubeApiServer, clock: ClusterClock, driver: PodDriver, ids: list[str],
    clients: int, already: int, topups: int, pid: int,
) -> dict[str, Any]:  # fmt: skip
    """Submit `ids` with `clients` clients, wait until the service has settled; then, for every
    evaluation that ended while it should still be running, submit one more (`topups` rounds),
    so that the steady state does have len(ids) + already live evaluations."""
    target = len(ids) + already
    started, cpu = time.time(), cpu_of(pid)
    records = submit_many(url, ids, clients)
    posted = time.time()
    rounds = [{"submitted": len(records)} | settle(url, driver, target, 600)]
    extra = iter(f"{ids[-1]}-more-{i:04d}" for i in range(target))
    for _ in range(topups):
        missing = target - rounds[-1]["run_statuses"].get("running", 0)
        if missing <= 0:
            break
        more = submit_many(url, [next(extra) for _ in range(missing)], clients)
        records += more
        rounds.append({"submitted": len(more)} | settle(url, driver, already + len(records), 600))
    failed = failed_evaluations(url)
    added = clock.job_added
    created = [added[r["job"]] - r["t_post"] for r in records if r.get("job") in added]
    return {
        "clients": clients,
        "submitted": len(records),
        "errors": [r for r in records if "error" in r][:20],
        "post_seconds": round(posted - started, 2),
        "submissions_per_s": round(len(ids) / (posted - started), 2),
        "rounds": rounds,
        "live_at_end": rounds[-1]["run_statuses"].get("running", 0),
        "seconds": round(time.time() - started, 2),
        "service_cpu_s": round(cpu_of(pid) - cpu, 2),
        "post_to_response": summary([r["t_response"] - r["t_post"] for r in records]),
        "post_to_job": summary(created),
        "jobs_on_server": len(server.objects("jobs", NS, {COMPONENT: "run"})),
        "failed": failed[:50],
        "failed_reasons": dict(Counter(str(f["reason"]) for f in failed)),
        "race_evidence": race_evidence(clock, failed),
    }


def quiesce(pid: int, limit: float, cores: float = 0.2, window: float = 3.0) -> float:
    """Wait until the service used < `cores` over `window` s (the ramp's wake-ups drained);
    returns how long that took (at most `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        cpu = cpu_of(pid)
        time.sleep(window)
        if (cpu_of(pid) - cpu) / window < cores:
            break
    return round(time.monotonic() - started, 1)


def phase_steady(
    url: str, server: KubeApiServer, pid: int, seconds: float, rate: float,
    evaluations: list[tuple[str, str]],
) -> dict[str, Any]:  # fmt: skip
    sampler = ApiSampler(url, evaluations, rate)
    before = proc_status(pid)
    cpu, bench_cpu, busy = cpu_of(pid), time.process_time(), machine_busy()
    server.reset_counts()
    watches_open = server.open_watches
    t0 = time.monotonic()
    sampler.start()
    timeline = []  # per second: service CPU, machine CPU, RSS, API requests so far
    while (now := time.monotonic()) - t0 < seconds:
        time.sleep(min(1.0, seconds - (now - t0)))
        timeline.append({
            "t": round(time.monotonic() - t0, 2),
            "service_cpu_s": round(cpu_of(pid) - cpu, 3),
            "machine_busy_s": round(machine_busy() - busy, 3),
            "rss_mb": round(proc_status(pid)["VmRSS"] / 1024, 1),
            "api_requests": server.requests.total,
        })  # fmt: skip
    counts = server.requests.snapshot()
    elapsed = time.monotonic() - t0
    sampler.stopping.set()
    sampler.join()
    service_cpu = cpu_of(pid) - cpu
    bench = time.process_time() - bench_cpu
    after = proc_status(pid)
    non_watch = sum(n for (verb, _), n in counts.items() if verb != "watch")
    watches = sum(n for (verb, _), n in counts.items() if verb == "watch")
    return {
        "seconds": round(elapsed, 1),
        "api_requests": {f"{verb} {resource}": n for (verb, resource), n in counts.items()},
        "api_requests_per_s": round(non_watch / elapsed, 3),
        "watch_requests_per_s": round(watches / elapsed, 3),
        "open_watches": watches_open,
        "rss_mb_start": round(before["VmRSS"] / 1024, 1),
        "rss_mb_end": round(after["VmRSS"] / 1024, 1),
        "rss_mb_peak": round(after["VmHWM"] / 1024, 1),
        "threads": after["Threads"],
        "service_cpu_s": round(service_cpu, 2),
        "service_cores": round(service_cpu / elapsed, 3),
        "bench_process_cores": round(bench / elapsed, 3),  # the API test server + sampler
        "other_cores": round((machine_busy() - busy - service_cpu - bench) / elapsed, 3),
        "http_api": {route: summary(values) for route, values in sampler.samples.items()},
        "http_api_all": summary([v for values in sampler.samples.values() for v in values]),
        "http_errors": sampler.errors[:20],
        "http_samples": [(round(t - t0, 3), route, round(v, 4)) for t, route, v in sampler.log],
        "timeline": timeline,
    }


def engine_output(server: KubeApiServer, job: str, work: Path) -> str:
    """Run the real in-job wrapper + smoke program onto the run's output volume (as the pod
    would have); return the wrapper's termination message."""
    found = server.get("jobs", NS, job)
    assert found is not None
    env_list = found["spec"]["template"]["spec"]["containers"][0]["env"]
    engine_args = next(item["value"] for item in env_list if item["name"] == "ENGINE_ARGS")
    output = server.volume_dir(NS, f"{job}-output-pvc")
    message = work / f"{job}.termination"
    env = {**os.environ, "ENGINE_ARGS": engine_args, "OUTPUT_DIR": str(output),
           "BUDEVAL_TERMINATION_MESSAGE_PATH": str(message), "PYTHONPATH": str(REPO)}  # fmt: skip
    wrapper = REPO / "budeval" / "runners" / "kube_job.py"
    subprocess.run(
        [sys.executable, str(wrapper), "--", sys.executable, "-m", "budeval.engines.smoke_program"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return message.read_text()


def phase_detect(
    url: str, server: KubeApiServer, clock: ClusterClock, targets: list[tuple[str, str]]
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="budeval-bench-detect-"))
    server.kubelet_mode = "run"  # the results readers run for real; run pods are all Running
    records = []
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for eval_id, job in targets:
                message = engine_output(server, job, work)
                pod = clock.pod_of_job[job]
                t_succeed = time.time()
                server.succeed(NS, pod, message=message)
                document: dict[str, Any] = {}
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    document = http.get(f"/evals/{eval_id}").json()
                    if document.get("status") in TERMINAL:
                        break
                    time.sleep(0.01)
                seen = time.time()
                reader = clock.reader_pod.get(job, "")
                t = {
                    "succeed_called": t_succeed,
                    "job_complete": clock.job_complete.get(job),
                    "reader_job_created": clock.reader_created.get(job),
                    "reader_pod_succeeded": clock.pod_succeeded.get(reader),
                    "terminal": iso_to_epoch(document.get("finished_at")),
                    "client_saw_terminal": seen,
                }
                records.append({"eval_id": eval_id, "job": job, "reader_pod": reader,
                                "status": document.get("status"), "t": t})  # fmt: skip
                time.sleep(0.3)
    finally:
        server.kubelet_mode = "manual"
        shutil.rmtree(work, ignore_errors=True)

    def span(a: str, b: str) -> list[float | None]:
        return [r["t"][b] - r["t"][a] if r["t"][a] and r["t"][b] else None for r in records]

    ok = [r for r in records if r["status"] == "succeeded"]
    return {
        "n": len(records),
        "succeeded": len(ok),
        "statuses": sorted({str(r["status"]) for r in records}),
        "job_complete_to_terminal": summary(span("job_complete", "terminal")),
        "succeed_to_job_complete": summary(span("succeed_called", "job_complete")),
        "job_complete_to_reader_created": summary(span("job_complete", "reader_job_created")),
        "reader_created_to_reader_succeeded": summary(
            span("reader_job_created", "reader_pod_succeeded")
        ),
        "reader_succeeded_to_terminal": summary(span("reader_pod_succeeded", "terminal")),
        "records": records,
    }
