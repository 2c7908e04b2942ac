"""Benchmark of issue 2: submit latency and detection latency of the local backend.

    .venv/bin/python bench/latency.py [--evaluations 200] [--concurrency N | --rate R]
                                      [--think S] [--duration 0.5] [--slots S] [--home DIR]
                                      [--database-url URL | --postgres] [--env KEY=VALUE ...]

It starts a real service (`python -m budeval serve`) on a fresh BUDEVAL_HOME and a free port,
waits for GET /readyz == 200, then submits smoke evaluations (one dataset, one run each, the
engine sleeping `--duration` seconds) and measures, per evaluation, on this machine's one clock:

  submit latency    = supervisor start (`runs/<run>/supervisor.json` started_at: its clock
                      reading right after interpreter start-up) - client wall clock just before
                      `POST /evals/start`
  detection latency = evaluation terminal (`finished_at` of GET /evals/{id}) - process exit
                      (`runs/<run>/exit.json` finished_at, written when the engine has exited)

Pacing (so that the local slots are not what is measured):
  --concurrency N   closed loop: N clients, each submits, waits until its evaluation is terminal,
                    submits the next (N=1: strictly sequential); `--think S` adds a random
                    pause in [0, S) before each submission (decorrelates from poll periods);
  --rate R          open loop: one submission every 1/R s whatever the service does.
The local slots (BUDEVAL_LOCAL_CONCURRENCY) default to max(CPU count, 2*N) — or, with --rate,
to enough for the expected number of runs in flight — and the report counts how often a run
still waited for a slot (derived from the run timestamps: at its deploy step's end, `slots`
other runs' supervisors were alive).

After the run it reads the DBOS system database (step timestamps, ms) and the run directories'
files and breaks both latencies down into phases. It also records the service's CPU (idle and
under load) and what everything else on the (shared) machine used, per evaluation too, and
summarises the "quiet" evaluations separately. Results go to stdout and
`bench/results/latency-<timestamp>.json`.
`--env KEY=VALUE` passes settings to the service (e.g. BUDEVAL_WAKE_POLL_SECONDS=0.02).
`--postgres` starts a throwaway PostgreSQL server (initdb/pg_ctl) with two fresh databases
(store and DBOS) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import glob
import json
import math
import os
import platform
import pwd
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from common import Service, code_version, free_port, iso_to_epoch, read_json

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled", "timed_out"}
GOALS = {"submit_latency": 0.100, "detection_latency": 1.0}
QUIET_CORES = 0.25  # an evaluation is "quiet" if everything else used less than this meanwhile


# --- small helpers -----------------------------------------------------------------------------


def mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float | int] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {
        "n": len(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
        "min": min(values),
        "mean": statistics.fmean(values),
    }


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
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    versions = {}
    for package in ("dbos", "sqlalchemy", "fastapi", "uvicorn", "psycopg"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    import sqlite3

    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
    }


def cpu_seconds(pid: int) -> dict[str, float]:
    """utime+stime of a process and of its reaped children (supervisors and engines)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    return {"service": own, "children": children}


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used (every core, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuSampler(threading.Thread):
    """Samples, every `interval` s, the CPU the whole machine has used and the part that is ours
    (service, its reaped supervisors and engines, this client), so that every evaluation can be
    tagged with how busy *everything else* kept the machine during it (a shared machine)."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (time, machine busy, ours)
        self.stopping = threading.Event()

    def sample(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            ours = sum(cpu_seconds(self.pid).values()) + time.process_time()
            self.samples.append((time.time(), machine_busy_seconds(), ours))

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.sample()

    def other_cores(self, start: float | None, end: float | None) -> float | None:
        """Mean cores used by everything else between the samples bracketing start..end."""
        if start is None or end is None or len(self.samples) < 2:
            return None
        times = [sample[0] for sample in self.samples]
        first = max(0, bisect.bisect_right(times, start) - 1)
        last = min(len(times) - 1, bisect.bisect_left(times, end))
        if last <= first:
            return None
        (t0, busy0, ours0), (t1, busy1, ours1) = self.samples[first], self.samples[last]
        return max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (t1 - t0)


# --- PostgreSQL (throwaway server, only with --postgres) -------------------------------------


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[tuple[str, str]]:
    """A PostgreSQL server in a temp dir (default durability settings), two empty databases."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: Path(p).parent.name)
    bindir = next(
        (Path(p) for p in reversed(candidates) if (Path(p) / "pg_ctl").exists()),
        Path(shutil.which("pg_ctl") or "pg_ctl").parent,
    )
    root = Path(tempfile.mkdtemp(prefix="budeval-bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = "postgres"
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            user, entry = "nobody", pwd.getpwnam("nobody")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], cwd=root, check=True, capture_output=True, text=True)

    port = free_port()
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=300"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", options, "start")  # fmt: skip
        try:
            from sqlalchemy import create_engine, text

            admin = create_engine(
                f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                isolation_level="AUTOCOMMIT",
            )
            with admin.connect() as connection:
                connection.execute(text("CREATE DATABASE budeval_bench"))
                connection.execute(text("CREATE DATABASE budeval_bench_dbos"))
            admin.dispose()
            base = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
            yield f"{base}/budeval_bench", f"{base}/budeval_bench_dbos"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- the service under test --------------------------------------------------------------------


# --- the load ------------------------------------------------------------------------------------


class Tracked:
    """One evaluation: what the client saw, filled in as it goes."""

    def __init__(self, index: int, eval_id: str) -> None:
        self.index = index
        self.eval_id = eval_id
        self.run_id: str | None = None
        self.t_post: float = 0.0
        self.t_response: float = 0.0
        self.status_code: int | None = None
        self.error: str | None = None
        self.final: dict[str, Any] | None = None
        self.t_seen_terminal: float | None = None
        self.done = threading.Event()
        self.next_get = 0.0


def request_body(eval_id: str, duration: float) -> dict[str, Any]:
    return {
        "eval_id": eval_id,
        "experiment_id": "bench-latency",
        "eval_model_info": {
            "model_name": "bench-model",
            "endpoint": "http://127.0.0.1:9/v1",
            "api_key": "sk-bench",
            "extra_args": {"query_per_second": 1, "max_out_len": 16},
        },
        "eval_datasets": [{"dataset_id": "smoke"}],
        "eval_configs": [{"config_name": "smoke", "config_value": {"duration_seconds": duration}}],
        "engine": "smoke",
        "source": "bench",
        "source_topic": "bench-notifications",
    }


class Load:
    def __init__(
        self, service: Service, prefix: str, duration: float, timeout: float, think: float = 0.0
    ) -> None:
        self.service = service
        self.think = think
        self.prefix = prefix
        self.duration = duration
        self.timeout = timeout
        self.outstanding: dict[str, Tracked] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.all: list[Tracked] = []

    def submit(self, http: httpx.Client, index: int) -> Tracked:
        tracked = Tracked(index, f"{self.prefix}-{index:04d}")
        body = request_body(tracked.eval_id, self.duration)
        tracked.t_post = time.time()
        try:
            response = http.post("/evals/start", json=body)
            tracked.t_response = time.time()
            tracked.status_code = response.status_code
            if response.status_code == 201:
                tracked.run_id = response.json()["runs"][0]["run_id"]
            else:
                tracked.error = response.text[:500]
        except httpx.HTTPError as error:
            tracked.t_response = time.time()
            tracked.error = f"{type(error).__name__}: {error}"
        with self.lock:
            self.all.append(tracked)
            if tracked.run_id is None:
                tracked.done.set()
            else:
                tracked.next_get = time.monotonic() + 1.0
                self.outstanding[tracked.eval_id] = tracked
        return tracked

    def track_forever(self) -> None:
        """Waits for terminals cheaply: a stat of exit.json every 10 ms, GETs only after it
        appears (every 20 ms) plus one slow GET per second as a fallback."""
        runs = self.service.home / "runs"
        with httpx.Client(base_url=self.service.url, timeout=30) as http:
            while not (self.stopping.is_set() and not self.outstanding):
                with self.lock:
                    items = list(self.outstanding.values())
                now = time.monotonic()
                for tracked in items:
                    exited = (runs / str(tracked.run_id) / "exit.json").exists()
                    if not exited and now < tracked.next_get:
                        continue
                    try:
                        document = http.get(f"/evals/{tracked.eval_id}").json()
                    except (httpx.HTTPError, ValueError):
                        tracked.next_get = now + 0.2
                        continue
                    if document.get("status") in TERMINAL:
                        tracked.final = document
                        tracked.t_seen_terminal = time.time()
                        with self.lock:
                            self.outstanding.pop(tracked.eval_id, None)
                        tracked.done.set()
                    elif time.time() - tracked.t_post > self.timeout:
                        tracked.error = f"not terminal after {self.timeout} s"
                        with self.lock:
                            self.outstanding.pop(tracked.eval_id, None)
                        tracked.done.set()
                    else:
                        tracked.next_get = now + (0.02 if exited else 1.0)
                time.sleep(0.01)

    def closed_loop(self, total: int, concurrency: int, first_index: int = 0) -> None:
        counter = iter(range(first_index, first_index + total))
        counter_lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(base_url=self.service.url, timeout=30) as http:
                while True:
                    with counter_lock:
                        index = next(counter, None)
                    if index is None:
                        return
                    if self.think:  # decorrelates the cycle from the service's poll periods
                        time.sleep(random.uniform(0, self.think))
                    tracked = self.submit(http, index)
                    tracked.done.wait(self.timeout + 30)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def open_loop(self, total: int, rate: float, first_index: int = 0) -> None:
        interval = 1.0 / rate
        start = time.monotonic()
        with httpx.Client(base_url=self.service.url, timeout=30) as http:
            for n in range(total):
                delay = start + n * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.submit(http, first_index + n)
        deadline = time.monotonic() + self.timeout + 30
        for tracked in list(self.all):
            tracked.done.wait(max(0.0, deadline - time.monotonic()))


# --- analysis ------------------------------------------------------------------------------------


def dbos_steps(dbos_url: str) -> dict[str, list[dict[str, Any]]]:
    """Step rows per workflow (epoch seconds, ms resolution) from the DBOS system database.

    (workflow_status timestamps are not used: on SQLite DBOS stores them with 1 s resolution.)"""
    from sqlalchemy import create_engine, text

    schema = "dbos." if dbos_url.startswith("postgresql") else ""
    engine = create_engine(dbos_url)
    steps: dict[str, list[dict[str, Any]]] = {}

    def seconds(ms: Any) -> float | None:
        return None if ms is None else int(ms) / 1000.0

    with engine.connect() as connection:
        for row in connection.execute(
            text(
                "SELECT workflow_uuid, function_id, function_name, started_at_epoch_ms, "
                f"completed_at_epoch_ms, child_workflow_id FROM {schema}operation_outputs "
                "ORDER BY workflow_uuid, function_id"
            )
        ):
            steps.setdefault(row[0], []).append(
                {
                    "id": row[1],
                    "name": row[2].rsplit(".", 1)[-1],
                    "started": seconds(row[3]),
                    "completed": seconds(row[4]),
                    "child": row[5],
                }
            )
    engine.dispose()
    return steps


def dbos_hints(dbos_url: str) -> dict[str, list[float]]:
    """When each message to an evaluation was written (epoch s), PostgreSQL only.

    (On SQLite with Python < 3.12 DBOS stores `created_at_epoch_ms` with 1 s resolution.)"""
    if not dbos_url.startswith("postgresql"):
        return {}
    from sqlalchemy import create_engine, text

    engine = create_engine(dbos_url)
    hints: dict[str, list[float]] = {}
    with engine.connect() as connection:
        for destination, created in connection.execute(
            text("SELECT destination_uuid, created_at_epoch_ms FROM dbos.notifications")
        ):
            hints.setdefault(destination, []).append(int(created) / 1000.0)
    engine.dispose()
    return {key: sorted(values) for key, values in hints.items()}


def first_step(rows: list[dict[str, Any]], name: str, last: bool = False) -> dict[str, Any] | None:
    matching = [row for row in rows if row["name"] == name]
    if not matching:
        return None
    return matching[-1] if last else matching[0]


def diff(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return later - earlier


def measure(
    tracked: Tracked,
    home: Path,
    steps: dict[str, list[dict[str, Any]]],
    hints: dict[str, list[float]],
    sampler: CpuSampler,
) -> dict[str, Any]:
    run = home / "runs" / str(tracked.run_id)
    supervisor = read_json(run / "supervisor.json") or {}
    exit_record = read_json(run / "exit.json") or {}
    final = tracked.final or {}
    final_run = (final.get("runs") or [{}])[0]
    t = {
        "post": tracked.t_post,
        "response": tracked.t_response,
        "row_created": iso_to_epoch(final.get("created_at")),
        "eval_running": iso_to_epoch(final.get("started_at")),
        "run_scheduled": iso_to_epoch(final_run.get("scheduled_at")),
        "run_dir_written": mtime(run / "spec.json"),  # backend.submit, before the dispatcher
        "spawn": mtime(run / "launch.json"),  # written by the launcher just before Popen
        "supervisor_started": supervisor.get("started_at"),
        "engine_started": mtime(run / "output" / "launches.log"),
        "run_running_recorded": iso_to_epoch(final_run.get("started_at")),
        "process_exit": exit_record.get("finished_at"),
        "run_finished_recorded": iso_to_epoch(final_run.get("finished_at")),
        "eval_terminal": iso_to_epoch(final.get("finished_at")),
        "client_saw_terminal": tracked.t_seen_terminal,
    }
    rows = steps.get(tracked.eval_id, [])
    begin = first_step(rows, "begin")
    deploy = first_step(rows, "deploy")
    checks = [row for row in rows if row["name"] == "check_runs"]
    recvs = [row for row in rows if row["name"] == "recv"]
    extract = first_step(rows, "extract")
    finish = first_step(rows, "finish")
    t.update(
        {
            "begin_started": begin and begin["started"],
            "deploy_started": deploy and deploy["started"],
            "deploy_completed": deploy and deploy["completed"],
            "last_recv_started": recvs[-1]["started"] if recvs else None,
            "last_recv_completed": recvs[-1]["completed"] if recvs else None,
            # the relay's hint of the exit: the last message (PostgreSQL only)
            "exit_hint_sent": max(hints[tracked.eval_id]) if hints.get(tracked.eval_id) else None,
            "last_check_completed": checks[-1]["completed"] if checks else None,
            "extract_completed": extract and extract["completed"],
            "finish_completed": finish and finish["completed"],
        }
    )
    phases = {
        # submit path (the `deploy` step starts the supervisor and waits for its supervisor.json)
        "post_to_response": diff(t["response"], t["post"]),
        "post_to_row": diff(t["row_created"], t["post"]),
        "row_to_workflow_begin": diff(t["begin_started"], t["row_created"]),
        "begin_to_deploy_started": diff(t["deploy_started"], t["begin_started"]),
        "deploy_started_to_run_dir": diff(t["run_dir_written"], t["deploy_started"]),
        "run_dir_to_spawn": diff(t["spawn"], t["run_dir_written"]),
        "spawn_to_supervisor": diff(t["supervisor_started"], t["spawn"]),
        "supervisor_to_engine": diff(t["engine_started"], t["supervisor_started"]),
        "supervisor_to_deploy_done": diff(t["deploy_completed"], t["supervisor_started"]),
        # detection path
        "exit_to_recv_woken": diff(t["last_recv_completed"], t["process_exit"]),
        "exit_to_hint_sent": diff(t["exit_hint_sent"], t["process_exit"]),
        "hint_sent_to_recv_woken": diff(t["last_recv_completed"], t["exit_hint_sent"]),
        "recv_woken_to_check_done": diff(t["last_check_completed"], t["last_recv_completed"]),
        "check_done_to_finish_done": diff(t["finish_completed"], t["last_check_completed"]),
        "exit_to_run_recorded": diff(t["run_finished_recorded"], t["process_exit"]),
    }
    return {
        "index": tracked.index,
        "eval_id": tracked.eval_id,
        "run_id": tracked.run_id,
        "status": final.get("status"),
        "error": tracked.error,
        "submit_latency": diff(t["supervisor_started"], t["post"]),
        "submit_to_engine_latency": diff(t["engine_started"], t["post"]),
        "detection_latency": diff(t["eval_terminal"], t["process_exit"]),
        "other_cores": sampler.other_cores(tracked.t_post, tracked.t_seen_terminal),
        "checks": len(checks),
        "recvs": len(recvs),
        "phases": phases,
        "timestamps": t,
    }


def slot_waits(records: list[dict[str, Any]], slots: int) -> tuple[int, int]:
    """How many runs waited for a slot, from the run timestamps.

    A run waited if, when its `deploy` step completed (the dispatcher tried to start it within
    that step), `slots` *other* runs' supervisors were alive (supervisor started .. process
    exit). Cross-check: how many supervisors started only after their run's `deploy` step had
    completed, i.e. were started later by the dispatcher when a slot was freed."""
    alive = [
        (r["run_id"], r["timestamps"]["supervisor_started"], r["timestamps"]["process_exit"])
        for r in records
        if r["timestamps"]["supervisor_started"] and r["timestamps"]["process_exit"]
    ]
    waited = 0
    for record in records:
        deployed = record["timestamps"]["deploy_completed"]
        if deployed is None:
            continue
        others = sum(1 for run, a, b in alive if run != record["run_id"] and a <= deployed < b)
        if others >= slots:
            waited += 1
    started_late = sum(
        1
        for r in records
        if r["timestamps"]["supervisor_started"] and r["timestamps"]["deploy_completed"]
        and r["timestamps"]["supervisor_started"] > r["timestamps"]["deploy_completed"]
    )  # fmt: skip
    return waited, started_late


def print_table(title: str, rows: dict[str, dict[str, Any] | None], unit: float = 1000.0) -> None:
    print(f"\n{title}")
    print(f"  {'':34} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for name, stats in rows.items():
        if stats is None:
            print(f"  {name:34} {'-':>5}")
            continue
        print(
            f"  {name:34} {stats['n']:>5} {stats['p50'] * unit:>9.1f} "
            f"{stats['p95'] * unit:>9.1f} {stats['max'] * unit:>9.1f}"
        )


# --- main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=200)
    pacing = parser.add_mutually_exclusive_group()
    pacing.add_argument("--concurrency", type=int, default=1, help="closed-loop clients")
    pacing.add_argument("--rate", type=float, default=None, help="open loop: submissions/s")
    parser.add_argument("--duration", type=float, default=0.5, help="smoke run length (s)")
    parser.add_argument("--slots", type=int, default=None, help="BUDEVAL_LOCAL_CONCURRENCY")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="closed loop: random pause, uniform in [0, THINK) s, before each submission",
    )
    parser.add_argument("--warmup", type=int, default=3, help="evaluations not counted")
    parser.add_argument("--home", type=Path, default=None, help="BUDEVAL_HOME (must be new)")
    parser.add_argument("--keep-home", action="store_true", help="do not delete a temp home")
    database = parser.add_mutually_exclusive_group()
    database.add_argument("--database-url", default=None, help="store (and DBOS, unless below)")
    database.add_argument("--postgres", action="store_true", help="throwaway PostgreSQL server")
    parser.add_argument("--system-database-url", default=None, help="DBOS system database")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--label", default=None, help="name of this variant in the results")
    parser.add_argument("--timeout", type=float, default=120.0, help="per evaluation (s)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU sample (s)")
    parser.add_argument("--output", type=Path, default=None, help="results JSON path")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.postgres:
        with throwaway_postgres() as (store_url, dbos_url):
            return run(args, store_url, dbos_url)
    store_url = args.database_url
    dbos_url = args.system_database_url or args.database_url
    return run(args, store_url, dbos_url)


def run(args: argparse.Namespace, store_url: str | None, dbos_url: str | None) -> int:
    cpus = os.cpu_count() or 1
    if args.rate is not None:
        expected_in_flight = args.rate * (args.duration + 2.0)
        slots = args.slots or max(cpus, int(expected_in_flight * 2) + 1)
        pacing = f"open loop, {args.rate:g} submissions/s"
    else:
        slots = args.slots or max(cpus, 2 * args.concurrency)
        pacing = (
            "sequential (one at a time)"
            if args.concurrency == 1
            else f"closed loop, {args.concurrency} concurrent clients"
        )
    env = dict(item.split("=", 1) for item in args.env)
    env["BUDEVAL_LOCAL_CONCURRENCY"] = str(slots)
    if store_url:
        env["BUDEVAL_DATABASE_URL"] = store_url
    if dbos_url:
        env["BUDEVAL_SYSTEM_DATABASE_URL"] = dbos_url
    database = "postgresql" if (dbos_url or "").startswith("postgresql") else "sqlite"

    temporary = args.home is None
    home = Path(tempfile.mkdtemp(prefix="budeval-bench-")) if temporary else args.home
    if not temporary and home.exists() and any(home.iterdir()):
        raise SystemExit(f"--home {home} is not empty: the benchmark needs a fresh home")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    label = args.label or f"{database}, {pacing}"
    print(f"budeval latency benchmark: {label}")
    print(f"  home {home}; slots {slots}; smoke duration {args.duration} s; "
          f"{args.evaluations} evaluations (+{args.warmup} warm-up)")  # fmt: skip
    if env:
        shown = {k: v for k, v in env.items() if "DATABASE_URL" not in k}
        print(f"  service env: {shown}")

    code = code_version()  # before the service imports it
    if code["uncommitted"]:
        print(f"  code: {code['commit']} with uncommitted changes {code['uncommitted']}")
    service = Service(home, env)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.time()
    try:
        t0 = time.monotonic()
        service.start()
        ready_seconds = time.monotonic() - t0
        assert service.process is not None
        load = Load(service, f"bench-{stamp.lower()}", args.duration, args.timeout, args.think)
        tracker = threading.Thread(target=load.track_forever, daemon=True)
        tracker.start()
        if args.warmup:
            load.closed_loop(args.warmup, 1, first_index=0)
        time.sleep(1.0)  # let the warm-up's last workflow wind down
        idle_before = cpu_seconds(service.process.pid)
        time.sleep(args.idle_seconds)  # what the service costs doing nothing
        idle_cpu = cpu_seconds(service.process.pid)["service"] - idle_before["service"]
        cpu_before = cpu_seconds(service.process.pid)
        client_before = time.process_time()
        machine_before = machine_busy_seconds()
        sampler = CpuSampler(service.process.pid)
        sampler.sample()
        sampler.start()
        t_load = time.monotonic()
        if args.rate is not None:
            load.open_loop(args.evaluations, args.rate, first_index=args.warmup)
        else:
            load.closed_loop(args.evaluations, args.concurrency, first_index=args.warmup)
        load_seconds = time.monotonic() - t_load
        cpu_after = cpu_seconds(service.process.pid)
        client_cpu = time.process_time() - client_before
        machine_cpu = machine_busy_seconds() - machine_before
        sampler.stopping.set()
        sampler.join()
        sampler.sample()
        load.stopping.set()
        tracker.join(timeout=args.timeout + 30)
    finally:
        service.stop()
    dbos = dbos_url or f"sqlite:///{home / 'dbos.sqlite'}"
    steps = dbos_steps(dbos)
    hints = dbos_hints(dbos)

    measured = [t for t in load.all if t.index >= args.warmup]
    records = [
        measure(t, home, steps, hints, sampler) for t in sorted(measured, key=lambda t: t.index)
    ]
    ok = [r for r in records if r["status"] == "succeeded"]
    failures = [r for r in records if r["status"] != "succeeded"]
    submit = summary([r["submit_latency"] for r in ok])
    detection = summary([r["detection_latency"] for r in ok])
    phase_names = list(records[0]["phases"]) if records else []
    phases = {name: summary([r["phases"][name] for r in ok if r["phases"][name] is not None])
              for name in phase_names}  # fmt: skip
    waited_for_slot, started_late = slot_waits(ok, slots)
    cpu = {
        "service_seconds": round(cpu_after["service"] - cpu_before["service"], 2),
        "runs_seconds": round(cpu_after["children"] - cpu_before["children"], 2),
        "wall_seconds": round(load_seconds, 2),
        "benchmark_client_seconds": round(client_cpu, 2),
    }
    # everything else on the machine: other users' jobs, and the PostgreSQL server if any
    cpu["other_seconds"] = round(
        machine_cpu - client_cpu - sum(cpu_after.values()) + sum(cpu_before.values()), 2
    )
    cpu["other_cores"] = round(cpu["other_seconds"] / load_seconds, 3) if load_seconds else None
    cpu["idle_service_cores"] = (
        round(idle_cpu / args.idle_seconds, 3) if args.idle_seconds else None
    )
    cpu["service_cores"] = round(cpu["service_seconds"] / load_seconds, 3) if load_seconds else None
    cpu["service_ms_per_evaluation"] = (
        round(1000 * cpu["service_seconds"] / len(records), 1) if records else None
    )

    print_table("latency (goal: submit ≤ 100 ms p50, detection ≤ 1 s p50)", {
        "submit: POST → supervisor started": submit,
        "submit: POST → engine started": summary([r["submit_to_engine_latency"] for r in ok]),
        "detection: exit → eval terminal": detection,
    })  # fmt: skip
    print_table("phases", phases)
    quiet = [r for r in ok if r["other_cores"] is not None and r["other_cores"] < QUIET_CORES]
    quiet_summary = {
        "threshold_other_cores": QUIET_CORES,
        "n": len(quiet),
        "submit_latency": summary([r["submit_latency"] for r in quiet]),
        "detection_latency": summary([r["detection_latency"] for r in quiet]),
    }
    print_table(f"evaluations while everything else used < {QUIET_CORES} cores ({len(quiet)})", {
        "submit: POST → supervisor started": quiet_summary["submit_latency"],
        "detection: exit → eval terminal": quiet_summary["detection_latency"],
    })  # fmt: skip
    print(
        f"\n  succeeded {len(ok)}/{len(records)}; "
        f"runs that waited for a slot: {waited_for_slot}; "
        f"supervisors started after their deploy step: {started_late};\n  "
        f"load {load_seconds:.1f} s ({len(records) / load_seconds:.2f} evaluations/s);\n"
        f"  service CPU {cpu['service_seconds']} s ({cpu['service_cores']} cores, "
        f"{cpu['service_ms_per_evaluation']} ms/evaluation), runs CPU {cpu['runs_seconds']} s, "
        f"this client {cpu['benchmark_client_seconds']} s; "
        f"everything else {cpu['other_cores']} cores; "
        f"idle service {cpu['idle_service_cores']} cores"
    )
    for failure in failures[:5]:
        print(f"  FAILED {failure['eval_id']}: {failure['status']} {failure['error']}")

    verdict = {
        "submit_latency_p50_ok": submit is not None and submit["p50"] <= GOALS["submit_latency"],
        "detection_latency_p50_ok": detection is not None
        and detection["p50"] <= GOALS["detection_latency"],
    }
    print(f"  goals: {verdict}")
    result = {
        "benchmark": "latency",
        "label": label,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "command": shlex.join([".venv/bin/python", "bench/latency.py", *sys.argv[1:]]),
        "machine": machine(),
        "code": code,
        "database": database,
        "pacing": pacing,
        "settings": {
            "evaluations": args.evaluations,
            "warmup": args.warmup,
            "concurrency": None if args.rate is not None else args.concurrency,
            "rate": args.rate,
            "think_seconds_max": args.think if args.rate is None else None,
            "smoke_duration_seconds": args.duration,
            "slots": slots,
            "service_env": {k: v for k, v in env.items() if "DATABASE_URL" not in k},
        },
        "service_ready_seconds": round(ready_seconds, 2),
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "goals_seconds_p50": GOALS,
        "verdict": verdict,
        "submit_latency": submit,
        "submit_to_engine_latency": summary([r["submit_to_engine_latency"] for r in ok]),
        "detection_latency": detection,
        "phases": phases,
        "quiet": quiet_summary,
        "succeeded": len(ok),
        "failed": len(failures),
        "runs_waited_for_slot": waited_for_slot,
        "supervisors_started_after_deploy": started_late,
        "cpu": cpu,
        "evaluations": records,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    output = args.output or RESULTS_DIR / f"latency-{stamp}.json"
    output.write_text(json.dumps(result, indent=1))
    print(f"  written: {output}")
    if temporary and not args.keep_home:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if not failures and records else 1


if __name__ == "__main__":
    sys.exit(main())
