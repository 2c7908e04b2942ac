"""Benchmark of the Kubernetes backend with 1,000 live evaluations (issue 4).

    .venv/bin/python bench/kubernetes.py [--evaluations 1000] [--steady-seconds 60] [--quick]

One API test server (tests/kube, manual kubelet) in this process, one real service process
(`python -m budeval serve`, BUDEVAL_BACKEND=kubernetes, default 30 s poll interval) on a
throwaway PostgreSQL server (store and DBOS system database), smoke evaluations of one run each:

 1. submit latency: `--sequential` evaluations one at a time, paced; POST sent → the Job object
    committed on the server (store listener). The first `--warmup` are not counted.
 2. ramp to `--evaluations` live evaluations with `--clients` concurrent clients; every run pod
    is started ("Running") by the benchmark as soon as it exists.
 3. steady state over `--steady-seconds`: Kubernetes API requests/s (non-watch and watch),
    service RSS and CPU, the service's HTTP API latency (GETs at `--api-rate`/s).
 4. detection latency for `--detections` evaluations, one at a time: the run's output is written
    on its output volume by the real in-job wrapper + smoke program, the pod is marked Succeeded
    with the wrapper's termination message, and the kubelet switches to "run" mode so that the
    results-reader Job runs for real; Job Complete → evaluation terminal (`finished_at`).
 5. one status check of N Jobs (N = 100 and all): the backend's LIST and cache vs the seeds'
    `ansible-playbook` + kubernetes.core `k8s_info` (bench/kube_compare.py, bench/ansible_env.py).

`--quick`: 100 evaluations, 20 s steady state, fewer repeats. Results: stdout and
bench/results/kubernetes-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(REPO))

import yaml  # noqa: E402
from ansible_env import SetupError, ensure  # noqa: E402
from common import Service, code_version  # noqa: E402
from kube_compare import SMALL_NS, backend_checks, copy_runs, seeds_checks  # noqa: E402
from kube_load import (  # noqa: E402
    NS,
    ClusterClock,
    PodDriver,
    all_runs,
    cpu_of,
    proc_status,
)
from kube_phases import phase_detect, phase_ramp, phase_steady, phase_submit, quiesce  # noqa: E402
from latency import machine, throwaway_postgres  # noqa: E402

from tests.kube import KubeApiServer  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
GOALS = {"api_requests_per_s": 2.0, "api_p99_s": 0.100, "submit_p50_s": 0.100,
         "detection_p50_s": 1.0, "check_cheaper_x": 100.0}  # fmt: skip


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=1000, help="live evaluations")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="100 evaluations, 20 s steady")
    parser.add_argument("--sequential", type=int, default=50, help="phase 1 submissions")
    parser.add_argument("--warmup", type=int, default=3, help="phase 1 submissions not counted")
    parser.add_argument("--clients", type=int, default=8, help="phase 2 concurrent clients")
    parser.add_argument("--api-rate", type=float, default=5.0, help="phase 3 GETs per second")
    parser.add_argument("--detections", type=int, default=30)
    parser.add_argument("--topups", type=int, default=3, help="rounds replacing ended evals")
    parser.add_argument("--drain-limit", type=float, default=180.0, help="max wait, phase 3")
    parser.add_argument("--repeats", type=int, default=20, help="phase 5 backend repeats")
    parser.add_argument("--ansible-repeats", type=int, default=3, help="per label-selected N")
    parser.add_argument("--ansible-per-job", type=int, default=10, help="one-Job playbooks")
    parser.add_argument("--ansible-root", type=Path, default=None, help="see ansible_env.py")
    parser.add_argument("--no-ansible", action="store_true", help="skip phase 5's seeds side")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.quick:
        args.evaluations, args.steady_seconds = 100, 20.0
        args.sequential, args.detections, args.repeats = 20, 10, 10
        args.ansible_per_job = 5
    args.sequential = min(args.sequential, args.evaluations)
    return args


def main() -> int:
    args = parse_args()
    with throwaway_postgres() as (store_url, dbos_url):
        return run(args, store_url, dbos_url)


def run(args: argparse.Namespace, store_url: str, dbos_url: str) -> int:
    import budeval.backends.kubernetes.backend  # noqa: F401  (phase 5: the code the service runs)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    home = Path(tempfile.mkdtemp(prefix="budeval-bench-kube-"))
    code = code_version()
    server = KubeApiServer(kubelet_mode="manual").start()
    clock = ClusterClock(server)
    driver = PodDriver(server, clock)
    driver.start()
    kubeconfig = home / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(server.kubeconfig(namespace=NS)))
    env = {
        "BUDEVAL_BACKEND": "kubernetes",
        "BUDEVAL_KUBECONFIG": str(kubeconfig),
        "BUDEVAL_KUBE_NAMESPACE": NS,
        "BUDEVAL_MAX_DURATION_SECONDS": "86400",
        "BUDEVAL_DATABASE_URL": store_url,
        "BUDEVAL_SYSTEM_DATABASE_URL": dbos_url,
        **dict(item.split("=", 1) for item in args.env),
    }
    service = Service(home / "home", env)
    prefix = f"k8s-{stamp.lower()}"
    ids = [f"{prefix}-{i:04d}" for i in range(args.evaluations)]
    result: dict[str, Any] = {
        "benchmark": "kubernetes",
        "started_at": datetime.now(UTC).isoformat(),
        "command": shlex.join([".venv/bin/python", "bench/kubernetes.py", *sys.argv[1:]]),
        "machine": machine(),
        "code": code,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "service_env": {k: v for k, v in env.items() if "DATABASE_URL" not in k},
        "goals": GOALS,
    }
    print(f"budeval Kubernetes benchmark: {args.evaluations} live evaluations; home {home}")
    try:
        result["service_ready_s"] = round(service.start(), 2)
        pid = service.pid
        cpu = cpu_of(pid)
        time.sleep(5.0)  # what the service costs with nothing to do
        result["idle_service_cores"] = round((cpu_of(pid) - cpu) / 5.0, 3)
        result["rss_mb_idle"] = round(proc_status(pid)["VmRSS"] / 1024, 1)
        print(f"  phase 1: {args.sequential} sequential submissions", flush=True)
        result["submit"] = phase_submit(service.url, clock, ids[: args.sequential], args.warmup)
        print(f"  phase 2: ramp to {args.evaluations} ({args.clients} clients)", flush=True)
        rest = ids[args.sequential :]
        result["ramp"] = phase_ramp(service.url, server, clock, driver, rest, args.clients,
                                    args.sequential, args.topups, pid)  # fmt: skip
        shown = ("submitted", "post_seconds", "submissions_per_s", "rounds", "live_at_end",
                 "failed_reasons", "service_cpu_s")  # fmt: skip
        print(f"    {json.dumps({k: result['ramp'][k] for k in shown})}", flush=True)
        live = [(e, j) for e, j, status in all_runs(service.url) if status == "running"]
        # the ramp's last status hints still wake workflows for a while: wait until that is over
        result["drain_s"] = quiesce(pid, args.drain_limit)
        print(f"    service quiet after {result['drain_s']} s", flush=True)
        print(f"  phase 3: steady state, {args.steady_seconds:g} s", flush=True)
        result["steady"] = phase_steady(service.url, server, pid, args.steady_seconds,
                                        args.api_rate, live or [(ids[0], "")])  # fmt: skip
        print(f"  phase 4: detection latency, {args.detections} evaluations", flush=True)
        targets = random.Random(1).sample(live, min(args.detections, len(live)))
        result["detect"] = phase_detect(service.url, server, clock, targets)
        result["rss_mb_after_detect"] = round(proc_status(pid)["VmRSS"] / 1024, 1)
        print("  phase 5: one status check of N jobs: backend vs ansible", flush=True)
        every_job = sorted(clock.pod_of_job)
        copy_runs(server, every_job[:100], SMALL_NS)
        namespaces = {100: SMALL_NS, len(every_job): NS}
        result["compare"] = {"backend": backend_checks(server, namespaces, args.repeats, home)}
        if args.no_ansible:
            result["compare"]["seeds"] = {"skipped": "--no-ansible"}
        else:
            try:
                ansible = ensure(args.ansible_root)
                result["compare"]["seeds"] = seeds_checks(
                    ansible, server, namespaces, every_job, args.ansible_repeats,
                    args.ansible_per_job,
                )  # fmt: skip
            except (SetupError, RuntimeError) as error:
                print(f"  phase 5b skipped: {error}")
                result["compare"]["seeds"] = {"skipped": str(error)}
        result["rss_mb_end"] = round(proc_status(pid)["VmRSS"] / 1024, 1)
        result["code_at_end"] = code_version()  # others commit to this checkout meanwhile
    finally:
        service.stop()
        driver.stopping.set()
        clock.close()
        server.stop()
        tail = (home / "home" / "service.log").read_text()[-4000:]
        result["service_log_tail"] = tail
        shutil.rmtree(home, ignore_errors=True)
    from kube_report import report

    verdict = report(result)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    output = RESULTS_DIR / f"kubernetes-{stamp}.json"
    output.write_text(json.dumps(result, indent=1, default=str))
    print(f"  written: {output}")
    return 0 if all(v is not False for v in verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
