"""Benchmark of issue 3: engine throughput and start-up overhead, both real engines.

    .venv/bin/python bench/engines.py [--engine lmeval|opencompass|both] [--repeat 2]
        [--lmeval-concurrency 1,4,8] [--opencompass 5:2,10:2,20:2,10:1]
        [--latency-ms 50] [--seconds 12] [--no-reference] [--no-warmup]

It starts a real service (`python -m budeval serve`) on a fresh BUDEVAL_HOME and a free port, with
BUDEVAL_ENGINES_DIR = the engine environments the tests cache (`~/.cache/budeval/test-engines`,
or --engines-dir; installed first if missing). For every setting it generates a local arithmetic
dataset big enough for `--seconds` of requests at the ideal rate (lm-eval: a task YAML plus JSONL
under `$BUDEVAL_HOME/datasets/lmeval/`; OpenCompass: a custom JSONL under
`$BUDEVAL_HOME/datasets/opencompass/`), starts a `DemoEndpoint` in this process (latency 50 ms,
accuracy 0.7, serving exactly that dataset, JSONL request log on), submits one evaluation with one
run, and waits until it is terminal. Settings:

  lm-eval       `num_concurrent` N: ideal rate N / latency (20, 80, 160 req/s at 50 ms)
  OpenCompass   `query_per_second` Q with `max_num_workers` W (`Q:W`), `batch_size` 32:
                OpenCompass splits a dataset of more than 16 rows into W infer tasks (separate
                processes), each with its own token bucket of Q/s: the configured total is Q x W

Measured per run, on this machine's one clock:

  achieved rate     = n / (last response - first arrival) of the run's n completion requests at
                      the endpoint (arrival = log `ts` - `ms`: when the endpoint had read the
                      request; the pre-flight `ping` is excluded); "steady" = arrivals per second
                      in the middle 80 % of that phase; also per OpenCompass worker (its rows)
  ratio             = achieved / configured (goal >= 95 %)
  start-up overhead = first arrival - process start (`runs/<run>/supervisor.json` started_at)
  shut-down         = process exit (`runs/<run>/exit.json` finished_at) - last response
  overhead per run  = start-up + shut-down; run wall = exit - start; evaluation wall = POST to
                      terminal (`finished_at` of GET /evals/{id})
  CPU               = cores used by the engine's process group, this process (the endpoint),
                      the service, everything else and steal, per phase (/proc every 0.2 s)

`reference-client` (run by this script) is a minimal stdlib client at lm-eval's concurrencies,
against a fresh endpoint: what the endpoint and loopback allow with almost no client cost.

Results go to stdout and `bench/results/engines-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from common import Service, code_version, iso_to_epoch, read_json

from budeval.demo import datasets as demo_datasets
from budeval.demo.endpoint import DemoEndpoint
from budeval.engines import environments
from budeval.engines.lmeval import LmEvalEngine
from budeval.engines.lmeval import tasks as lmeval_tasks
from budeval.engines.opencompass.recipe import RECIPE as OPENCOMPASS_RECIPE

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled", "timed_out"}
GOAL_RATIO = 0.95
API_KEY = "sk-bench-engines-0123456789abcdef"
MODEL = "demo-model"
OC_MIN_TASK_SIZE = 16  # OpenCompass NumWorkerPartitioner: smaller datasets are not split
OC_BATCH_SIZE = 32
SEED = 3_000_000  # not a demo dataset's seed: their questions would be shared (and owned by them)
PROBLEM = re.compile(r"Problem (\d+):")
RECIPES = {"lmeval": LmEvalEngine.recipe, "opencompass": OPENCOMPASS_RECIPE}


# --- small helpers -----------------------------------------------------------------------------


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) // 1024} MiB"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def engine_versions(engines_dir: Path) -> dict[str, str | None]:
    """Versions of the packages that matter, read from each environment's site-packages."""
    found: dict[str, str | None] = {}
    wanted = {
        "lmeval": ("lm_eval", "aiohttp", "requests"),
        "opencompass": ("opencompass", "openai", "httpx", "torch"),
    }
    for engine, packages in wanted.items():
        for package in packages:
            pattern = f"{package}-*.dist-info"
            hits = sorted((engines_dir / engine / "lib").glob(f"python*/site-packages/{pattern}"))
            key = f"{engine}:{package}"
            found[key] = hits[-1].name[len(package) + 1 : -len(".dist-info")] if hits else None
    return found


# --- CPU accounting ------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def machine_seconds() -> tuple[float, float]:
    """(busy, steal): CPU time the machine has used on every core, and of it the time the
    hypervisor gave to someone else (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICK, steal / TICK


def process_seconds(pid: int) -> float:
    """utime+stime of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def group_seconds(pgid: int) -> float:
    """CPU of the live processes of a process group, with the children they have reaped.

    (A dead child's time moves into its parent's cutime/cstime when reaped, so the sum is
    continuous while the group leader lives.)"""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / TICK


class CpuSampler(threading.Thread):
    """Every `interval` s: machine busy, the engine's process group, this process, the service,
    and the hypervisor's steal (a VM: other guests' load shows there, not in "other")."""

    def __init__(self, run_dir: Path, service_pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.run_dir = run_dir
        self.service_pid = service_pid
        self.interval = interval
        self.pgid: int | None = None
        self.samples: list[tuple[float, ...]] = []
        self.stopping = threading.Event()

    def sample(self) -> None:
        if self.pgid is None and (engine := read_json(self.run_dir / "engine.json")):
            self.pgid = int(engine["pgid"])
        with contextlib.suppress(OSError, ValueError, IndexError):
            engine_cpu = group_seconds(self.pgid) if self.pgid is not None else 0.0
            busy, steal = machine_seconds()
            self.samples.append(
                (
                    time.time(),
                    busy,
                    engine_cpu,
                    time.process_time(),
                    process_seconds(self.service_pid),
                    steal,
                )
            )

    def run(self) -> None:
        while not self.stopping.is_set():
            self.sample()
            self.stopping.wait(self.interval)

    def cores(self, start: float | None, end: float | None) -> dict[str, float] | None:
        """Cores used between two moments, from the samples nearest inside them."""
        if start is None or end is None or end - start < 0.5:
            return None
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return None
        first, last = inside[0], inside[-1]
        span = last[0] - first[0]
        # the engine group's counter restarts from 0 when its leader has exited: use the max
        engine = max(0.0, max(s[2] for s in inside) - first[2])
        used = {
            "machine": (last[1] - first[1]) / span,
            "engine": engine / span,
            "endpoint_process": (last[3] - first[3]) / span,
            "service": (last[4] - first[4]) / span,
        }
        used["other"] = used["machine"] - used["engine"] - used["endpoint_process"]
        used["other"] -= used["service"]
        used["steal"] = (last[5] - first[5]) / span
        return {key: round(value, 3) for key, value in used.items()}


# --- the service under test --------------------------------------------------------------------


# --- settings and datasets -----------------------------------------------------------------------


def setting(engine: str, value: str, latency_ms: float, seconds: float) -> dict[str, Any]:
    """One measured configuration: engine options, configured rate, and the dataset size."""
    if engine == "lmeval":
        concurrency = int(value)
        configured = concurrency / (latency_ms / 1000)
        extra: dict[str, Any] = {"num_concurrent": concurrency}
        label = f"lmeval num_concurrent={concurrency}"
        workers = 1
        per_worker = configured
    else:
        qps_text, _, workers_text = value.partition(":")
        qps, workers = float(qps_text), int(workers_text or 2)
        configured = qps * workers
        per_worker = qps
        extra = {
            "query_per_second": int(qps) if qps.is_integer() else qps,
            "max_num_workers": workers,
            "batch_size": OC_BATCH_SIZE,
        }
        label = f"opencompass query_per_second={qps:g} max_num_workers={workers}"
    rows = max(OC_MIN_TASK_SIZE * workers + 1, round(configured * seconds))
    return {
        "engine": engine,
        "label": label,
        "extra_args": extra,
        "workers": workers,
        "configured_rate": configured,
        "configured_rate_per_worker": per_worker,
        "rows": rows,
    }


def lmeval_task(name: str) -> dict[str, Any]:
    """The demo arithmetic task (gsm8k-style exact match) over `/datasets/lmeval/<name>.jsonl`."""
    config = lmeval_tasks.demo_task("demo_arith")
    assert config is not None
    config["task"] = name
    config["dataset_kwargs"] = {"data_files": {"test": f"/datasets/lmeval/{name}.jsonl"}}
    return config


def write_dataset(home: Path, engine: str, name: str, rows: list[dict[str, Any]]) -> Path:
    """The engine's copy under the service's datasets dir, and the endpoint's own copy (a folder
    holding only this dataset, so the endpoint's question lookup stays small), returned."""
    content = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    folder = home / "datasets" / engine
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jsonl").write_text(content)
    if engine == "lmeval":
        (folder / f"{name}.yaml").write_text(json.dumps(lmeval_task(name), indent=2) + "\n")
    served = home / "endpoint-datasets" / name
    served.mkdir(parents=True, exist_ok=True)
    (served / f"{name}.jsonl").write_text(content)
    return served


def request_body(
    eval_id: str, run_id: str, engine: str, dataset: str, endpoint: str, extra_args: dict[str, Any]
) -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "experiment_id": "bench-engines",
        "eval_model_info": {
            "model_name": MODEL,
            "endpoint": endpoint,
            "api_key": API_KEY,
            "extra_args": extra_args,
        },
        "eval_datasets": [{"dataset_id": dataset, "run_id": run_id}],
        "engine": engine,
    }


# --- one run -------------------------------------------------------------------------------------


def completion_requests(log_path: Path, not_before: float) -> list[dict[str, Any]]:
    """The run's completion requests from the endpoint's log: arrival, end, status, row number."""
    requests = []
    for line in log_path.read_text().splitlines():
        record = json.loads(line)
        if record["method"] != "POST" or not record["path"].endswith("completions"):
            continue
        body = record.get("request") or {}
        text = json.dumps(body.get("messages") or body.get("prompt") or "")
        if body.get("max_tokens") == 1 and '"ping"' in text:
            continue  # budeval's pre-flight request
        end = float(record["ts"])
        arrival = end - float(record["ms"]) / 1000
        if arrival < not_before:
            continue
        found = PROBLEM.findall(text)
        row = int(found[-1]) - 1 if found else None
        requests.append(
            {
                "arrival": arrival,
                "end": end,
                "ms": record["ms"],
                "status": record["status"],
                "row": row,
            }
        )
    return sorted(requests, key=lambda r: r["arrival"])


def rate_of(requests: list[dict[str, Any]]) -> float | None:
    """Completion requests / (last response - first arrival): exact for lock-step batches too
    (N slots each doing n/N requests in turn give N / cycle)."""
    if len(requests) < 2:
        return None
    span = max(r["end"] for r in requests) - requests[0]["arrival"]
    return len(requests) / span if span > 0 else None


def steady_rate(requests: list[dict[str, Any]], share: float = 0.8) -> float | None:
    """Arrivals per second in the middle `share` of the request phase (ramp-up and tail out)."""
    if len(requests) < 10:
        return None
    start, end = requests[0]["arrival"], max(r["end"] for r in requests)
    low = start + (end - start) * (1 - share) / 2
    high = end - (end - start) * (1 - share) / 2
    inside = sum(1 for r in requests if low <= r["arrival"] < high)
    return inside / (high - low) if high > low else None


def rate_buckets(requests: list[dict[str, Any]]) -> dict[str, float] | None:
    """Arrivals per whole second of the request phase (the partial last second left out):
    the slowest and fastest second show a drift that the averages hide."""
    if len(requests) < 2:
        return None
    start = requests[0]["arrival"]
    seconds = int(max(r["end"] for r in requests) - start)
    if seconds < 2:
        return None
    counts = Counter(int(r["arrival"] - start) for r in requests)
    per_second = [counts.get(second, 0) for second in range(seconds)]
    return {"min": min(per_second), "max": max(per_second), "seconds": seconds}


def oc_split(rows: int, workers: int) -> int:
    """Rows per OpenCompass infer task (NumWorkerPartitioner.split_dataset's step)."""
    return max(math.ceil(rows / workers), OC_MIN_TASK_SIZE)


def in_flight_mean(requests: list[dict[str, Any]]) -> float | None:
    """Little's law: requests in flight on average = time spent inside the endpoint / span."""
    if len(requests) < 2:
        return None
    span = max(r["end"] for r in requests) - requests[0]["arrival"]
    return sum(r["end"] - r["arrival"] for r in requests) / span if span > 0 else None


def newest_mtime(paths: list[Path], oldest: bool = False) -> float | None:
    times = [path.stat().st_mtime for path in paths if path.is_file()]
    return (min(times) if oldest else max(times)) if times else None


def phase_marks(run_dir: Path, engine: str, started: float | None) -> dict[str, float | None]:
    """When the engine wrote its output files, in seconds after the process start (file mtimes:
    where the start-up and shut-down time goes)."""
    output = run_dir / "output"
    if engine == "lmeval":
        marks = {
            "samples_written": newest_mtime(list(output.glob("*/samples_*.jsonl"))),
            "results_written": newest_mtime(list(output.glob("*/results_*.json"))),
        }
    else:
        exp = max((p for p in output.glob("20*_*") if p.is_dir()), default=output)
        marks = {
            "config_dumped": newest_mtime(list(exp.glob("configs/*")), oldest=True),
            "predictions_written": newest_mtime(list(exp.glob("predictions/*/*.json"))),
            "results_written": newest_mtime(list(exp.glob("results/*/*.json"))),
            "summary_written": newest_mtime(list(exp.glob("summary/*"))),
        }
    return {
        name: None if mark is None or started is None else rounded(mark - started)
        for name, mark in marks.items()
    }


def run_one(
    service: Service,
    http: httpx.Client,
    config: dict[str, Any],
    index: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    engine = config["engine"]
    short = "lm" if engine == "lmeval" else "oc"
    knob = "c{num_concurrent}" if engine == "lmeval" else "q{query_per_second}w{max_num_workers}"
    tag = f"{short}-{knob.format(**config['extra_args'])}-{index}".replace(".", "p")
    dataset = f"bench_{tag}".replace("-", "_")
    eval_id, run_id = f"bench-{tag}", f"bench-{tag}-run"
    rows = demo_datasets.arithmetic(config["rows"], seed=SEED + index)
    served = write_dataset(service.home, engine, dataset, rows)
    log_path = service.home / "endpoint-logs" / f"{tag}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    run_dir = service.home / "runs" / run_id
    sampler = CpuSampler(run_dir, service.pid)
    print(
        f"\n[{tag}] {config['label']}: {config['rows']} rows, configured "
        f"{config['configured_rate']:g} req/s",
        flush=True,
    )
    with DemoEndpoint(
        accuracy=args.accuracy,
        latency_ms=args.latency_ms,
        api_key=API_KEY,
        datasets_dir=served,
        log=log_path,
    ) as endpoint:
        expected_accuracy = endpoint.expected_accuracy(dataset)
        body = request_body(eval_id, run_id, engine, dataset, endpoint.url, config["extra_args"])
        sampler.start()
        t_post = time.time()
        response = http.post("/evals/start", json=body)
        if response.status_code != 201:
            raise SystemExit(f"POST /evals/start: {response.status_code} {response.text}")
        deadline = time.monotonic() + args.timeout
        while True:
            final = http.get(f"/evals/{eval_id}").json()
            if final["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{eval_id} not terminal after {args.timeout} s")
            time.sleep(0.25)
        counts = endpoint.requests
    sampler.stopping.set()
    sampler.join()
    results = http.get(f"/evals/{eval_id}/results").json()
    supervisor = read_json(run_dir / "supervisor.json") or {}
    exit_record = read_json(run_dir / "exit.json") or {}
    started, exited = supervisor.get("started_at"), exit_record.get("finished_at")
    requests = completion_requests(log_path, started or t_post)
    arrivals = [r["arrival"] for r in requests]
    first = arrivals[0] if arrivals else None
    last_end = max((r["end"] for r in requests), default=None)
    achieved = rate_of(requests)
    steady = steady_rate(requests)
    workers: list[dict[str, Any]] = []
    if engine == "opencompass":
        step = oc_split(config["rows"], config["workers"])
        for worker in range(math.ceil(config["rows"] / step)):
            mine = [r for r in requests if r["row"] is not None and r["row"] // step == worker]
            times = [r["arrival"] for r in mine]
            rate = rate_of(mine)
            workers.append(
                {
                    "worker": worker,
                    "requests": len(mine),
                    "first_arrival_after_start": rounded(times[0] - started) if mine else None,
                    "last_arrival_after_start": rounded(times[-1] - started) if mine else None,
                    "achieved_rate": rounded(rate),
                    "steady_rate": rounded(steady_rate(mine)),
                    "ratio": rounded(rate / config["configured_rate_per_worker"]) if rate else None,
                }
            )
    startup = first - started if first is not None and started is not None else None
    shutdown = exited - last_end if exited is not None and last_end is not None else None
    latencies = sorted(float(r["ms"]) for r in requests)
    record = {
        "tag": tag,
        **config,
        "eval_id": eval_id,
        "status": final["status"],
        "run_status": final["runs"][0]["status"],
        "run_message": final["runs"][0].get("message"),
        "requests": len(requests),
        "requests_by_status": dict(Counter(str(r["status"]) for r in requests)),
        "endpoint_max_in_flight": counts.max_in_flight,
        "in_flight_mean": rounded(in_flight_mean(requests), 2),
        "endpoint_ms_p50": rounded(statistics.median(latencies), 1) if latencies else None,
        "endpoint_ms_max": rounded(latencies[-1], 1) if latencies else None,
        "achieved_rate": rounded(achieved),
        "steady_rate": rounded(steady),
        "ratio": rounded(achieved / config["configured_rate"]) if achieved else None,
        "steady_ratio": rounded(steady / config["configured_rate"]) if steady else None,
        "per_second": rate_buckets(requests),
        "request_phase_seconds": None if None in (first, last_end) else rounded(last_end - first),
        "startup_seconds": rounded(startup),
        "shutdown_seconds": rounded(shutdown),
        "overhead_seconds": None if None in (startup, shutdown) else rounded(startup + shutdown),
        "run_wall_seconds": None if None in (exited, started) else rounded(exited - started),
        "phases_after_start": phase_marks(run_dir, engine, started),
        "evaluation_wall_seconds": rounded((iso_to_epoch(final.get("finished_at")) or 0) - t_post),
        "post_to_process_start_seconds": None if started is None else rounded(started - t_post),
        "workers_measured": workers,
        "cpu_cores": {
            "startup": sampler.cores(started, first),
            "requests": sampler.cores(first, last_end),
            "shutdown": sampler.cores(last_end, exited),
        },
        "scores": [
            {key: score.get(key) for key in ("metric", "value", "n_samples")}
            for score in results.get("scores", [])
        ],
        "expected_accuracy": expected_accuracy,
        "timestamps": {
            "post": t_post,
            "process_start": started,
            "first_arrival": first,
            "last_response": last_end,
            "process_exit": exited,
        },
        "arrival_offsets_ms": [round((a - first) * 1000, 1) for a in arrivals] if first else [],
        "rows_in_order": [r["row"] for r in requests],
    }
    print_run(record)
    return record


def print_run(r: dict[str, Any]) -> None:
    def fmt(value: Any, spec: str = ".1f") -> str:
        return "-" if value is None else format(value, spec)

    cpu = r["cpu_cores"]["requests"] or {}
    print(
        f"  {r['status']}: {r['requests']} requests {r['requests_by_status']}, "
        f"achieved {fmt(r['achieved_rate'])} req/s of {r['configured_rate']:g} "
        f"(ratio {fmt(r['ratio'], '.3f')}, steady {fmt(r['steady_ratio'], '.3f')}), "
        f"in flight max {r['endpoint_max_in_flight']} mean {fmt(r['in_flight_mean'], '.2f')}, "
        f"endpoint ms p50 {fmt(r['endpoint_ms_p50'])}, per second {r['per_second']}\n"
        f"  start-up {fmt(r['startup_seconds'], '.2f')} s + shut-down "
        f"{fmt(r['shutdown_seconds'], '.2f')} s = overhead {fmt(r['overhead_seconds'], '.2f')} s; "
        f"requests {fmt(r['request_phase_seconds'], '.2f')} s; run {fmt(r['run_wall_seconds'])} s; "
        f"evaluation {fmt(r['evaluation_wall_seconds'])} s\n"
        f"  cores during requests: {cpu}\n"
        f"  output files written at (s after process start): {r['phases_after_start']}"
    )
    for worker in r["workers_measured"]:
        print(
            f"    worker {worker['worker']}: {worker['requests']} requests from "
            f"{fmt(worker['first_arrival_after_start'])} to "
            f"{fmt(worker['last_arrival_after_start'])} s, {fmt(worker['achieved_rate'])} req/s "
            f"(ratio {fmt(worker['ratio'], '.3f')} of {r['configured_rate_per_worker']:g})"
        )
    for score in r["scores"]:
        print(f"    score {score['metric']} = {score['value']} (n={score['n_samples']})")
    if r["status"] != "succeeded":
        print(f"  RUN MESSAGE: {r['run_message']}")


def print_table(records: list[dict[str, Any]]) -> None:
    print(
        "\nsetting | configured | achieved (ratio) | steady (ratio) | start-up | shut-down | "
        "overhead | run wall | cores engine/endpoint/other during requests"
    )
    for r in records:
        cpu = r["cpu_cores"]["requests"] or {}
        print(
            f"{r['label']} | {r['configured_rate']:g} | {r['achieved_rate']} ({r['ratio']}) | "
            f"{r['steady_rate']} ({r['steady_ratio']}) | {r['startup_seconds']} | "
            f"{r['shutdown_seconds']} | {r['overhead_seconds']} | {r['run_wall_seconds']} | "
            f"{cpu.get('engine')}/{cpu.get('endpoint_process')}/{cpu.get('other')}"
        )


# --- the reference client ------------------------------------------------------------------------


def reference_client(argv: list[str]) -> int:
    """`engines.py reference-client URL KEY CONCURRENCY DATASET.jsonl keepalive|fresh`: the least
    a client can do, for comparison with the engines. CONCURRENCY threads, each sending the
    dataset's questions one after another as chat completions (as lm-eval phrases them) over
    one keep-alive connection (`fresh`: a new connection per request, as lm-eval's
    num_concurrent=1 path does with `requests.post`). Standard library only."""
    import http.client
    from urllib.parse import urlsplit

    url, key, concurrency, dataset, mode = argv
    target = urlsplit(url)
    questions = [json.loads(line)["question"] for line in Path(dataset).read_text().splitlines()]
    lock = threading.Lock()
    queue = iter(questions)

    def worker() -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        while True:
            with lock:
                question = next(queue, None)
            if question is None:
                break
            body = json.dumps(
                {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": f"Question: {question}\nAnswer:"}],
                    "max_tokens": 256,
                    "temperature": 0.0,
                    "stop": ["Question:"],
                }
            )
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
            connection.request("POST", f"{target.path}/chat/completions", body, headers)
            response = connection.getresponse()
            json.loads(response.read())
            if mode == "fresh":
                connection.close()
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(int(concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


def run_reference(
    home: Path, concurrency: int, mode: str, args: argparse.Namespace, index: int
) -> dict[str, Any]:
    """The reference client against a fresh demo endpoint, measured like an engine run."""
    configured = concurrency / (args.latency_ms / 1000)
    rows = max(50, round(configured * args.reference_seconds))
    tag = f"ref-c{concurrency}-{mode}-{index}"
    name = f"bench_{tag}".replace("-", "_")
    served = home / "endpoint-datasets" / name
    served.mkdir(parents=True, exist_ok=True)
    dataset = served / f"{name}.jsonl"
    content = demo_datasets.arithmetic(rows, seed=SEED + 500 + index)
    dataset.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in content))
    log_path = home / "endpoint-logs" / f"{tag}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with DemoEndpoint(
        accuracy=args.accuracy,
        latency_ms=args.latency_ms,
        api_key=API_KEY,
        datasets_dir=served,
        log=log_path,
    ) as endpoint:
        started = time.time()
        cpu_before = time.process_time()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "reference-client",
                endpoint.url,
                API_KEY,
                str(concurrency),
                str(dataset),
                mode,
            ],
            check=True,
        )
        cpu = time.process_time() - cpu_before
        counts = endpoint.requests
    requests = completion_requests(log_path, started)
    achieved, steady = rate_of(requests), steady_rate(requests)
    span = max(r["end"] for r in requests) - requests[0]["arrival"]
    record = {
        "tag": tag,
        "label": f"reference client, {concurrency} connection(s), {mode}",
        "concurrency": concurrency,
        "mode": mode,
        "configured_rate": configured,
        "requests": len(requests),
        "requests_by_status": {str(k): v for k, v in counts.by_status.items()},
        "endpoint_max_in_flight": counts.max_in_flight,
        "in_flight_mean": rounded(in_flight_mean(requests), 2),
        "endpoint_ms_p50": rounded(statistics.median(float(r["ms"]) for r in requests), 1),
        "achieved_rate": rounded(achieved),
        "steady_rate": rounded(steady),
        "ratio": rounded(achieved / configured) if achieved else None,
        "steady_ratio": rounded(steady / configured) if steady else None,
        "request_phase_seconds": rounded(span),
        "endpoint_process_cores": rounded(cpu / span),
    }
    print(
        f"  [{tag}] {record['requests']} requests: {record['achieved_rate']} req/s of "
        f"{configured:g} (ratio {record['ratio']}, steady {record['steady_ratio']}), "
        f"in flight mean {record['in_flight_mean']}, endpoint ms p50 "
        f"{record['endpoint_ms_p50']}",
        flush=True,
    )
    return record


# --- main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--engine", choices=["lmeval", "opencompass", "both"], default="both")
    add("--lmeval-concurrency", default="1,4,8", help="num_concurrent values (comma-separated)")
    add(
        "--opencompass",
        default="5:2,10:2,20:2,10:1",
        help="query_per_second:max_num_workers pairs (comma-separated)",
    )
    add("--latency-ms", type=float, default=50.0, help="demo endpoint latency")
    add("--accuracy", type=float, default=0.7, help="demo endpoint accuracy")
    add(
        "--seconds",
        type=float,
        default=12.0,
        help="dataset rows = configured rate x this (the request phase at the ideal rate)",
    )
    add("--repeat", type=int, default=2, help="runs per setting")
    add(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure a minimal stdlib client at each lm-eval concurrency",
    )
    add("--reference-seconds", type=float, default=5.0)
    add(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one uncounted small run per engine first (warm page cache)",
    )
    add(
        "--engines-dir",
        type=Path,
        default=Path(os.environ.get("BUDEVAL_TEST_ENGINES_DIR", "~/.cache/budeval/test-engines")),
    )
    add("--home", type=Path, default=None, help="BUDEVAL_HOME (default: a temp dir)")
    add("--keep-home", action="store_true")
    add("--timeout", type=float, default=600, help="per evaluation")
    add("--label", default=None)
    add("--output", type=Path, default=None)
    return parser.parse_args()


def main() -> int:
    if sys.argv[1:2] == ["reference-client"]:
        return reference_client(sys.argv[2:])
    args = parse_args()
    engines = ["lmeval", "opencompass"] if args.engine == "both" else [args.engine]
    engines_dir = args.engines_dir.expanduser()
    engines_dir.mkdir(parents=True, exist_ok=True)
    for name in engines:
        environments.install(engines_dir, RECIPES[name], say=lambda line: print(line, flush=True))
    plan: list[tuple[dict[str, Any], int]] = []
    for name in engines:
        values = args.lmeval_concurrency if name == "lmeval" else args.opencompass
        for value in values.split(","):
            config = setting(name, value.strip(), args.latency_ms, args.seconds)
            plan += [(config, repeat) for repeat in range(args.repeat)]
    temporary = args.home is None
    home = Path(tempfile.mkdtemp(prefix="budeval-bench-engines-")) if temporary else args.home
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.time()
    service = Service(home, {"BUDEVAL_ENGINES_DIR": str(engines_dir)})
    ready = service.start()
    print(f"service ready in {ready:.2f} s at {service.url}, home {home}", flush=True)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    records: list[dict[str, Any]] = []
    warmups: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            for name in engines if args.warmup else []:
                value = "4" if name == "lmeval" else "20:2"
                config = setting(name, value, args.latency_ms, 1.0)
                warmups.append(run_one(service, http, config, 900 + len(warmups), args))
            for index, (config, _) in enumerate(plan):
                records.append(run_one(service, http, config, index, args))
        if args.reference and "lmeval" in engines:
            print("\nreference client (no engine) against the same endpoint:", flush=True)
            for index, value in enumerate(args.lmeval_concurrency.split(",")):
                concurrency = int(value)
                for mode in ["keepalive", "fresh"] if concurrency == 1 else ["keepalive"]:
                    references.append(run_reference(home, concurrency, mode, args, index))
    finally:
        service.stop()
    print_table(records)
    result = {
        "benchmark": "engines",
        "label": args.label,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "wall_seconds": round(time.time() - started, 1),
        "command": shlex.join([".venv/bin/python", "bench/engines.py", *sys.argv[1:]]),
        "machine": machine(),
        "engine_versions": engine_versions(engines_dir),
        "code": code_version(),
        "settings": {
            "latency_ms": args.latency_ms,
            "accuracy": args.accuracy,
            "seconds": args.seconds,
            "repeat": args.repeat,
            "opencompass_batch_size": OC_BATCH_SIZE,
            "goal_ratio": GOAL_RATIO,
        },
        "service_ready_seconds": round(ready, 2),
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "warmups": warmups,
        "runs": records,
        "reference_client": references,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    output = args.output or RESULTS_DIR / f"engines-{stamp}.json"
    output.write_text(json.dumps(result, indent=1))
    print(f"\nwritten: {output} ({result['wall_seconds']} s)")
    if temporary and not args.keep_home:
        shutil.rmtree(home, ignore_errors=True)
    failed = [r for r in records if r["status"] != "succeeded"]
    return 1 if failed or not records else 0


if __name__ == "__main__":
    sys.exit(main())
