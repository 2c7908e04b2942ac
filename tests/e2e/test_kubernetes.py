"""A real service process on the Kubernetes backend, against the API test server.

The server runs in this process; its simulated kubelet runs each pod's command for real
(`kubelet_mode="run"`), so the smoke engine, the in-job wrapper and the results reader all execute
and the scores travel back through the reader Job's log, as on a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.kube import KubeApiServer
from tests.service import Service, smoke_request, wait_for

NS = "budeval"
MANAGED = {"app.kubernetes.io/managed-by": "budeval"}
KINDS = ("jobs", "pods", "persistentvolumeclaims", "secrets", "configmaps")
KEY = "sk-e2e-kubernetes-secret-9876543210"

pytestmark = pytest.mark.slow


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    with KubeApiServer(kubelet_mode="run") as server:
        yield server


def kube_service(home: Path, kube: KubeApiServer, **env: str) -> Service:
    home.mkdir(parents=True, exist_ok=True)
    kubeconfig = home.parent / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig(namespace=NS)))
    return Service(
        home,
        env={
            "BUDEVAL_BACKEND": "kubernetes",
            "BUDEVAL_KUBECONFIG": str(kubeconfig),
            "BUDEVAL_KUBE_NAMESPACE": NS,
            "BUDEVAL_KUBE_REQUEST_TIMEOUT_SECONDS": "2",
            **env,
        },
    )


def labelled(kube: KubeApiServer) -> dict[str, int]:
    return {kind: len(kube.objects(kind, NS, labels=MANAGED)) for kind in KINDS}


def request(eval_id: str, datasets: list[str], **config: object) -> dict:
    body = smoke_request(eval_id, datasets, **config)
    body["eval_model_info"]["api_key"] = KEY
    return body


def test_a_full_evaluation_runs_as_jobs_and_stores_scores(
    tmp_path: Path, kube: KubeApiServer
) -> None:
    service = kube_service(tmp_path / "home", kube).start()
    try:
        body = request("k8s-1", ["smoke-a", "smoke-b"], duration_seconds=0, score=0.75)
        assert service.start_eval(body).status_code == 201
        done = service.wait_terminal("k8s-1", timeout=60)
        assert done["status"] == "succeeded", done
        scores = service.http.get("/evals/k8s-1/results").json()["scores"]
        assert sorted((s["dataset"], s["value"]) for s in scores) == [
            ("smoke-a", 0.75),
            ("smoke-b", 0.75),
        ]
        run = done["runs"][0]
        logs = service.http.get(f"/evals/k8s-1/runs/{run['run_id']}/logs", params={"tail": 20})
        assert logs.status_code == 200 and "smoke: done" in logs.text
        status = service.http.get(f"/evals/status/{run['job_name']}").json()
        assert status["namespace"] == NS
        # the key lives only in the runs' Secrets: not in Jobs, pods, logs or the service's files
        for kind in ("jobs", "pods", "persistentvolumeclaims", "configmaps"):
            assert KEY not in json.dumps(kube.objects(kind, NS))
        assert KEY not in logs.text
        for path in service.home.rglob("*"):
            if path.is_file() and "secrets" not in path.parts:
                assert KEY.encode() not in path.read_bytes(), path

        cleaned = service.http.delete("/evals/cleanup/k8s-1")
        assert cleaned.status_code == 200, cleaned.text
        assert labelled(kube) == dict.fromkeys(KINDS, 0)
        assert service.http.delete("/evals/cleanup/k8s-1").status_code == 200  # idempotent
    finally:
        service.stop()


def test_kill9_mid_monitor_then_restart_finishes_with_one_job_per_run(
    tmp_path: Path, kube: KubeApiServer
) -> None:
    service = kube_service(tmp_path / "home", kube).start()
    try:
        body = request("k8s-2", ["smoke-a", "smoke-b"], duration_seconds=3)
        assert service.start_eval(body).status_code == 201
        running = service.wait_run_status("k8s-2", "running")
        jobs = {run["job_name"] for run in running["runs"]}
        uids = {job: kube.get("jobs", NS, job)["metadata"]["uid"] for job in jobs}

        service.kill9()  # mid-monitor: the pods keep running in the "cluster"
        service.start()

        done = service.wait_terminal("k8s-2", timeout=60)
        assert done["status"] == "succeeded", done
        for job in jobs:
            assert kube.get("jobs", NS, job)["metadata"]["uid"] == uids[job]
            assert len(kube.pods(NS, job)) == 1
        run_jobs = kube.objects("jobs", NS, labels={"app.kubernetes.io/component": "run"})
        assert sorted(j["metadata"]["name"] for j in run_jobs) == sorted(jobs)
        assert len(service.http.get("/evals/k8s-2/results").json()["scores"]) == 2
    finally:
        service.stop()


def test_evaluations_finish_with_a_fifth_of_api_calls_failing(
    tmp_path: Path, kube: KubeApiServer
) -> None:
    kube.faults.error_rate = 0.2
    kube.faults.timeout_fraction = 0.25
    kube.faults.timeout_delay = 3.0  # past the service's 2 s request timeout
    service = kube_service(tmp_path / "home", kube, BUDEVAL_POLL_INTERVAL_SECONDS="2").start()
    try:
        for index in range(3):
            body = request(f"k8s-faults-{index}", ["smoke-a", "smoke-b"], duration_seconds=0)
            assert service.start_eval(body).status_code == 201
        for index in range(3):
            done = service.wait_terminal(f"k8s-faults-{index}", timeout=120)
            assert done["status"] == "succeeded", done
        assert kube.requests.total > 0
    finally:
        service.stop()


def test_cancel_then_cleanup_leaves_no_labelled_object(tmp_path: Path, kube: KubeApiServer) -> None:
    kube.kubelet_mode = "manual"
    service = kube_service(tmp_path / "home", kube).start()
    try:
        assert service.start_eval(request("k8s-3", ["smoke-a"])).status_code == 201
        scheduled = service.wait_run_status("k8s-3", "scheduled")
        job = scheduled["runs"][0]["job_name"]
        pod = kube.wait_for_pod(NS, job)
        kube.start(NS, pod)
        service.wait_run_status("k8s-3", "running")
        assert service.http.post("/evals/k8s-3/cancel").status_code == 202
        done = service.wait_terminal("k8s-3")
        assert done["status"] == "cancelled"
        wait_for(lambda: kube.get("jobs", NS, job) is None, 10, "the Job deleted")
        assert service.http.delete("/evals/cleanup/k8s-3").status_code == 200
        assert labelled(kube) == dict.fromkeys(KINDS, 0)
    finally:
        service.stop()


def test_a_request_kubeconfig_is_used_and_never_shown(tmp_path: Path, kube: KubeApiServer) -> None:
    token = "request-token-that-must-not-leak-42"
    service = kube_service(tmp_path / "home", kube).start()
    try:
        body = request("k8s-4", ["smoke-a"], duration_seconds=0)
        body["kubeconfig"] = yaml.safe_dump(kube.kubeconfig(namespace="team-a", token=token))
        created = service.start_eval(body)
        assert created.status_code == 201, created.text
        done = service.wait_terminal("k8s-4", timeout=60)
        assert done["status"] == "succeeded", done
        assert kube.objects("jobs", "team-a", labels=MANAGED)
        shown = [created.text, json.dumps(done), service.http.get("/evals").text]
        assert all(token not in text for text in shown)
        assert service.http.delete("/evals/cleanup/k8s-4").status_code == 200
        assert not kube.objects("persistentvolumeclaims", "team-a", labels=MANAGED)
        service.stop()
        for path in service.home.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
    finally:
        service.stop()


def test_a_registered_cluster_is_named_by_requests(tmp_path: Path, kube: KubeApiServer) -> None:
    token = "registered-cluster-token-77"
    service = kube_service(tmp_path / "home", kube).start()
    try:
        kubeconfig = yaml.safe_dump(kube.kubeconfig(namespace="team-b", token=token))
        added = service.http.post("/clusters", json={"name": "team-b", "kubeconfig": kubeconfig})
        assert added.status_code == 201, added.text
        assert added.json()["namespace"] == "team-b" and token not in added.text
        body = request("k8s-5", ["smoke-a"], duration_seconds=0)
        body["cluster"] = "team-b"
        assert service.start_eval(body).status_code == 201
        done = service.wait_terminal("k8s-5", timeout=60)
        assert done["status"] == "succeeded", done
        assert kube.objects("jobs", "team-b", labels=MANAGED)
        assert not kube.objects("jobs", NS, labels=MANAGED)
        unknown = request("k8s-6", ["smoke-a"])
        unknown["cluster"] = "nowhere"
        refused = service.start_eval(unknown)
        assert refused.status_code == 422 and "cluster" in refused.text
    finally:
        service.stop()
