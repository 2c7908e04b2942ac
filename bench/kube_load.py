"""Helpers of bench/kubernetes.py: the server-side clock, the pod driver, the load, /proc readings.

Everything the benchmark learns about the "cluster" it learns from the API test server's store
(`tests/kube/store.py`): a listener sees every commit on the server thread the moment it happens,
so "the Job exists", "the Job is Complete" and "the reader pod succeeded" are server-side times on
this machine's one clock, not the moment a polling client happened to look.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.kube import KubeApiServer
from tests.kube.controller import finished
from tests.kube.store import Event

NS = "budeval"
MANAGED = {"app.kubernetes.io/managed-by": "budeval"}
COMPONENT = "app.kubernetes.io/component"
RUN_JOB = "budeval.io/job"
EVAL_ID = "budeval.io/eval-id"
TERMINAL = {"succeeded", "partially_failed", "failed", "cancelled", "timed_out"}
RUN_ENDED = ("succeeded", "failed", "cancelled")


# --- statistics ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summary(values: list[float | None]) -> dict[str, float | int] | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return {
        "n": len(present),
        "p50": statistics.median(present),
        "p95": percentile(present, 95),
        "p99": percentile(present, 99),
        "max": max(present),
        "min": min(present),
        "mean": statistics.fmean(present),
    }


# --- /proc ---------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (kB) and thread count of a process."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            found[key] = int(value.split()[0])
    return found


def cpu_of(pid: int, tid: int | None = None) -> float:
    """utime + stime (s) of a process (all its threads), or of one of its threads."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """CPU seconds every core of the machine has been busy (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


# --- the server-side clock and the pod driver ---------------------------------------------------


class ClusterClock:
    """Times of the commits the benchmark cares about, taken in the store listener.

    The listener runs under the store lock on whichever thread commits; it only records a time
    and hands run pods to the driver's queue (it must not write to the store itself)."""

    def __init__(self, server: KubeApiServer) -> None:
        self.server = server
        self.job_added: dict[str, float] = {}
        self.job_added_rv: dict[str, int] = {}
        self.lists: list[tuple[float, str, int, int]] = []  # LISTs served: (t, plural, rv, items)
        self.job_complete: dict[str, float] = {}
        self.reader_created: dict[str, float] = {}  # run job -> its reader Job's creation
        self.reader_pod: dict[str, str] = {}  # run job -> its reader's pod
        self.pod_of_job: dict[str, str] = {}  # run job -> its pod
        self.pod_succeeded: dict[str, float] = {}
        self.pending: queue.Queue[tuple[str, str]] = queue.Queue()
        server.store.subscribe(self._listener)
        self._list = server.cluster.api.list
        server.cluster.api.list = self._logged_list  # type: ignore[method-assign]

    def close(self) -> None:
        self.server.store.unsubscribe(self._listener)
        self.server.cluster.api.list = self._list  # type: ignore[method-assign]

    def _logged_list(self, rtype: Any, namespace: str | None, *args: Any, **kwargs: Any) -> Any:
        """Which resourceVersion each LIST of Jobs/Pods in the runs' namespace was served at."""
        result = self._list(rtype, namespace, *args, **kwargs)
        if namespace == NS and rtype.plural in ("jobs", "pods"):
            version = int(result["metadata"]["resourceVersion"])
            self.lists.append((time.time(), rtype.plural, version, len(result["items"])))
        return result

    def _listener(self, event: Event) -> None:
        if event.namespace != NS or event.plural not in ("jobs", "pods"):
            return
        now = time.time()
        meta = event.obj["metadata"]
        name, labels = meta["name"], meta.get("labels") or {}
        component, run_job = labels.get(COMPONENT, ""), labels.get(RUN_JOB, "")
        if event.plural == "jobs":
            if event.type == "ADDED":
                self.job_added.setdefault(name, now)
                self.job_added_rv.setdefault(name, event.rv)
                if component == "results-reader":
                    self.reader_created.setdefault(run_job, now)
            elif name not in self.job_complete and finished(event.obj) == "Complete":
                self.job_complete[name] = now
        elif event.type == "ADDED":
            if component == "run":
                self.pod_of_job[run_job] = name
                self.pending.put((event.namespace, name))
            elif component == "results-reader":
                self.reader_pod[run_job] = name
        elif (event.obj.get("status") or {}).get("phase") == "Succeeded":
            self.pod_succeeded.setdefault(name, now)

    def wait(self, what: dict[str, Any], key: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while key not in what:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True


class PodDriver(threading.Thread):
    """The manual kubelet's hand: every new run pod is started ("container running") at once, so
    the evaluations are live, not waiting for a node."""

    def __init__(self, server: KubeApiServer, clock: ClusterClock) -> None:
        super().__init__(name="pod-driver", daemon=True)
        self.server = server
        self.clock = clock
        self.started: dict[str, float] = {}
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                namespace, pod = self.clock.pending.get(timeout=0.2)
            except queue.Empty:
                continue
            if self.server.kubelet_mode != "manual":
                continue
            try:
                self.server.start(namespace, pod)
                self.started[pod] = time.time()
            except LookupError as error:
                self.errors.append(str(error))


# --- the load ------------------------------------------------------------------------------------


def request_body(eval_id: str) -> dict[str, Any]:
    """The full request shape (tests/service.py smoke_request), one smoke dataset, one run."""
    return {
        "eval_id": eval_id,
        "experiment_id": "bench-kubernetes",
        "eval_model_info": {
            "model_name": "bench-model",
            "endpoint": "http://127.0.0.1:9/v1",
            "api_key": "sk-bench-kubernetes",
            "extra_args": {"query_per_second": 1, "max_out_len": 16},
        },
        "eval_datasets": [{"dataset_id": "smoke"}],
        "eval_configs": [{"config_name": "smoke", "config_value": {"duration_seconds": 0}}],
        "engine": "smoke",
        "source": "bench",
        "source_topic": "bench-notifications",
    }


def submit(http: httpx.Client, eval_id: str) -> dict[str, Any]:
    """POST /evals/start; the client's times and the run's Job name."""
    record: dict[str, Any] = {"eval_id": eval_id, "t_post": time.time()}
    try:
        response = http.post("/evals/start", json=request_body(eval_id))
        record["t_response"] = time.time()
        record["status_code"] = response.status_code
        if response.status_code in (200, 201):
            record["job"] = response.json()["runs"][0]["job_name"]
        else:
            record["error"] = response.text[:500]
    except httpx.HTTPError as error:
        record["t_response"] = time.time()
        record["error"] = f"{type(error).__name__}: {error}"
    return record


def submit_many(url: str, eval_ids: list[str], clients: int) -> list[dict[str, Any]]:
    """`clients` closed-loop clients, each POSTing the next id as soon as its last POST answered."""
    todo = iter(eval_ids)
    lock = threading.Lock()
    records: list[dict[str, Any]] = []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                with lock:
                    eval_id = next(todo, None)
                if eval_id is None:
                    return
                record = submit(http, eval_id)
                with lock:
                    records.append(record)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records


def all_runs(url: str) -> list[tuple[str, str, str]]:
    """(eval id, job name, run status) of every run the service knows (all pages of GET /evals)."""
    found = []
    with httpx.Client(base_url=url, timeout=60) as http:
        offset = 0
        while True:
            page = http.get("/evals", params={"limit": 200, "offset": offset}).json()
            for item in page["items"]:
                found += [(item["eval_id"], run["job_name"], run["status"]) for run in item["runs"]]
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return found


def run_statuses(url: str) -> dict[str, int]:
    """How many runs the service shows per status."""
    counts: dict[str, int] = {}
    for _, _, status in all_runs(url):
        counts[status] = counts.get(status, 0) + 1
    return counts


def failed_evaluations(url: str) -> list[dict[str, Any]]:
    """Every failed evaluation's run: its Job, reason and message."""
    found = []
    with httpx.Client(base_url=url, timeout=60) as http:
        offset = 0
        while True:
            params: dict[str, Any] = {"status": "failed", "limit": 200, "offset": offset}
            page = http.get("/evals", params=params).json()
            for item in page["items"]:
                for run in item["runs"]:
                    found.append(
                        {"eval_id": item["eval_id"], "job": run["job_name"]}
                        | {"reason": run.get("reason"), "message": run.get("message")}
                    )
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return found


class ApiSampler(threading.Thread):
    """The service's HTTP API under load: `rate` GETs per second (open loop), cycling through
    GET /evals/{id}, GET /evals?limit=50 and the seeds' GET /evals/status/{job}."""

    ROUTES = ("GET /evals/{id}", "GET /evals?limit=50", "GET /evals/status/{job}")

    def __init__(self, url: str, evaluations: list[tuple[str, str]], rate: float) -> None:
        super().__init__(name="api-sampler", daemon=True)
        self.url = url
        self.evaluations = evaluations
        self.rate = rate
        self.samples: dict[str, list[float]] = {route: [] for route in self.ROUTES}
        self.errors: list[str] = []
        self.log: list[tuple[float, str, float]] = []  # (monotonic start, route, seconds)
        self.stopping = threading.Event()

    def run(self) -> None:
        chooser = random.Random(7)
        with httpx.Client(base_url=self.url, timeout=30) as http:
            index, due = 0, time.monotonic()
            while not self.stopping.is_set():
                route = self.ROUTES[index % len(self.ROUTES)]
                eval_id, job = chooser.choice(self.evaluations)
                path, params = {
                    self.ROUTES[0]: (f"/evals/{eval_id}", None),
                    self.ROUTES[1]: ("/evals", {"limit": 50}),
                    self.ROUTES[2]: (f"/evals/status/{job}", None),
                }[route]
                started = time.perf_counter()
                try:
                    response = http.get(path, params=params)
                    elapsed = time.perf_counter() - started
                    if response.status_code == 200:
                        self.samples[route].append(elapsed)
                        self.log.append((time.monotonic() - elapsed, route, elapsed))
                    else:
                        self.errors.append(f"{route}: {response.status_code}")
                except httpx.HTTPError as error:
                    self.errors.append(f"{route}: {type(error).__name__}")
                index += 1
                due += 1.0 / self.rate
                with contextlib.suppress(ValueError):
                    self.stopping.wait(max(0.0, due - time.monotonic()))
