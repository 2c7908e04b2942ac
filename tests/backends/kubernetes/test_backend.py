"""The Kubernetes backend against the API test server, with the real lightkube client over HTTP.

Waiting is event-driven: tests read the backend's own `events()` stream (fed by its informer's
watches) and drive pods through the server's simulated kubelet.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from budeval.backends.base import RunHandle, RunSpec, RunState
from budeval.backends.kubernetes.backend import KubernetesBackend
from budeval.config import Settings
from budeval.engines.registry import default_registry
from budeval.secrets import LocalSecretStore
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.status import RunStatus
from tests.kube import KubeApiServer

KEY = "sk-kube-backend-test-0123456789"
NS = "budeval"
KINDS = ("jobs", "pods", "persistentvolumeclaims", "secrets", "configmaps")
MANAGED = {"app.kubernetes.io/managed-by": "budeval"}


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    with KubeApiServer(bookmark_interval=0.2) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, kube: KubeApiServer) -> Settings:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig(namespace=NS)))
    configured = Settings(
        home=tmp_path / "home",
        kubeconfig=kubeconfig,
        backend="kubernetes",
        kube_namespace=NS,
        kube_request_timeout_seconds=2.0,
    )
    configured.ensure_dirs()
    return configured


@pytest.fixture
async def backend(settings: Settings) -> AsyncIterator[KubernetesBackend]:
    secrets = LocalSecretStore(settings.secrets_dir)
    secrets.put("key-e1", {"api_key": KEY})
    created = KubernetesBackend(settings, secrets)
    await created.start()
    yield created
    await created.stop()


def run_spec(run_id: str = "r1", **behaviour: object) -> RunSpec:
    evaluation = EvaluationSpec(
        eval_id="e1",
        model=ModelSpec(model_name="m", endpoint="http://h/v1"),
        datasets=[DatasetRun(dataset_id="smoke", run_id=run_id)],
        engine="smoke",
        backend="kubernetes",
        configs={"smoke": {"duration_seconds": 0, **behaviour}},
        secret_name="key-e1",
    )
    return default_registry().get("smoke").build(evaluation, evaluation.datasets[0])


class Changes:
    """The backend's change stream: wait for a run's next state, or its next state at all."""

    def __init__(self, backend: KubernetesBackend) -> None:
        self.stream = backend.events()

    async def next(self, run_id: str, timeout: float = 10.0) -> RunState:
        async def first() -> RunState:
            async for change in self.stream:
                if change.handle.run_id == run_id:
                    return change.state
            raise AssertionError("stream ended")

        return await asyncio.wait_for(first(), timeout)

    async def until(self, run_id: str, status: RunStatus, timeout: float = 10.0) -> RunState:
        while True:
            state = await self.next(run_id, timeout)
            if state.status is status:
                return state


async def poll_until_terminal(backend: KubernetesBackend, handle: RunHandle) -> RunState:
    """The relay's periodic check, done by hand: a time-based fate has no event of its own."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        state = (await backend.statuses([handle]))[handle.run_id]
        if state.status.terminal or loop.time() > deadline:
            return state
        await asyncio.sleep(0.05)


def labelled(kube: KubeApiServer) -> dict[str, int]:
    return {kind: len(kube.objects(kind, NS, labels=MANAGED)) for kind in KINDS}


async def test_verify_checks_everything_and_creates_what_may_be_created(
    kube: KubeApiServer, backend: KubernetesBackend, settings: Settings
) -> None:
    report = await backend.verify()
    assert report.ok, report
    assert report.checks["namespace"] == "exists"
    assert report.checks["permissions"] == "all granted"
    assert report.checks["storage_class"] == "local-path"
    assert report.checks["datasets_pvc"].startswith("created")
    assert kube.get("persistentvolumeclaims", NS, settings.kube_datasets_pvc) is not None


async def test_verify_creates_a_missing_namespace(kube: KubeApiServer, settings: Settings) -> None:
    backend = KubernetesBackend(settings.model_copy(update={"kube_namespace": "fresh"}), None)  # type: ignore[arg-type]
    report = await backend.verify()
    assert report.ok and report.checks["namespace"] == "created"
    assert kube.get("namespaces", None, "fresh") is not None


async def test_verify_names_every_missing_permission(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    kube.deny("create", "jobs", group="batch")
    kube.deny("get", "pods/log")
    report = await backend.verify()
    assert not report.ok and report.reason == "Forbidden"
    assert "create jobs in budeval" in (report.message or "")
    assert "get pods/log in budeval" in (report.message or "")


async def test_verify_refuses_a_missing_storage_class(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    kube.delete("storageclasses", None, "local-path")
    report = await backend.verify()
    assert not report.ok and report.reason == "StorageClassMissing"


async def test_a_successful_verify_is_reused(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    assert (await backend.verify()).ok
    kube.reset_counts()
    assert (await backend.verify()).ok
    assert kube.requests.total == 0


async def test_submit_creates_the_run_objects_once(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    spec = run_spec()
    handle = await backend.submit(spec)
    assert handle.name == spec.name and handle.namespace == NS
    await kube.await_pod(NS, handle.name)
    await kube.until(
        lambda: all(
            pvc.get("status", {}).get("phase") == "Bound"
            for pvc in kube.objects("persistentvolumeclaims", NS, labels=MANAGED)
        )
    )
    assert labelled(kube) | {"pods": 0} == {
        "jobs": 1,
        "pods": 0,
        "persistentvolumeclaims": 2,
        "secrets": 1,
        "configmaps": 0,
    }
    versions = {
        kind: [o["metadata"]["resourceVersion"] for o in kube.objects(kind, NS)] for kind in KINDS
    }
    await backend.submit(spec)  # a re-submit after a crash adopts what exists
    again = {
        kind: [o["metadata"]["resourceVersion"] for o in kube.objects(kind, NS)] for kind in KINDS
    }
    assert again == versions
    job = kube.get("jobs", NS, spec.name)
    assert KEY not in json.dumps(job)
    secret = kube.objects("secrets", NS, labels=MANAGED)[0]
    assert base64.b64decode(secret["data"]["api_key"]).decode() == KEY


async def test_events_follow_the_pod_through_its_life(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    changes = Changes(backend)
    handle = await backend.submit(run_spec())
    pod = await kube.await_pod(NS, handle.name)
    assert (await changes.until("r1", RunStatus.SCHEDULED)).status is RunStatus.SCHEDULED
    kube.start(NS, pod)
    assert (await changes.next("r1")).status is RunStatus.RUNNING
    kube.succeed(NS, pod)
    final = await changes.next("r1")
    assert final.status is RunStatus.SUCCEEDED
    assert (await backend.statuses([handle]))["r1"].status is RunStatus.SUCCEEDED
    # the key leaves the cluster once no pod of the run can need it again
    await kube.until(lambda: not kube.objects("secrets", NS, labels=MANAGED))


POD_FAILURES = {  # ErrImagePull and Unschedulable wait first: test_backend_waits.py
    "ImagePullBackOff": lambda kube, pod: kube.image_pull_backoff(NS, pod, "no such image"),
    "CreateContainerConfigError": lambda kube, pod: kube.create_container_config_error(NS, pod),
    "OOMKilled": lambda kube, pod: kube.oom(NS, pod),
}


@pytest.mark.parametrize("reason", sorted(POD_FAILURES))
async def test_each_pod_failure_ends_the_run_within_one_event(
    kube: KubeApiServer, backend: KubernetesBackend, reason: str
) -> None:
    changes = Changes(backend)
    handle = await backend.submit(run_spec())
    pod = await kube.await_pod(NS, handle.name)
    await changes.until("r1", RunStatus.SCHEDULED)
    POD_FAILURES[reason](kube, pod)
    state = await changes.next("r1")
    assert (state.status, state.reason) == (RunStatus.FAILED, reason)
    if reason != "OOMKilled":  # a Job that would wait forever is stopped, its fate kept
        await kube.until(lambda: kube.get("jobs", NS, handle.name) is None)
    await kube.until(
        lambda: (
            "budeval.io/outcome"
            in (kube.get("persistentvolumeclaims", NS, f"{handle.name}-output-pvc") or {})
            .get("metadata", {})
            .get("annotations", {})
        )
    )
    after = (await backend.statuses([handle]))["r1"]
    assert (after.status, after.reason) == (RunStatus.FAILED, reason)


async def test_a_pvc_pending_too_long_fails_the_run(
    kube: KubeApiServer, settings: Settings
) -> None:
    kube.bind_pvcs = False
    secrets = LocalSecretStore(settings.secrets_dir)
    secrets.put("key-e1", {"api_key": KEY})
    backend = KubernetesBackend(
        settings.model_copy(update={"kube_pvc_pending_seconds": 0.3}), secrets
    )
    try:
        handle = await backend.submit(run_spec())
        state = await poll_until_terminal(backend, handle)
        assert (state.status, state.reason) == (RunStatus.FAILED, "PVCPending")
    finally:
        await backend.stop()


async def test_no_transition_is_missed_across_dropped_and_expired_watches(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    changes = Changes(backend)
    handle = await backend.submit(run_spec())
    pod = await kube.await_pod(NS, handle.name)
    await changes.until("r1", RunStatus.SCHEDULED)
    kube.drop_watches()
    kube.start(NS, pod)
    assert (await changes.next("r1")).status is RunStatus.RUNNING
    kube.compact()
    kube.expire_watches()
    kube.succeed(NS, pod)
    assert (await changes.next("r1")).status is RunStatus.SUCCEEDED


async def test_cancel_then_cleanup_leaves_no_labelled_object(
    kube: KubeApiServer, backend: KubernetesBackend, settings: Settings
) -> None:
    changes = Changes(backend)
    handle = await backend.submit(run_spec())
    pod = await kube.await_pod(NS, handle.name)
    kube.start(NS, pod)
    await changes.until("r1", RunStatus.RUNNING)
    await backend.cancel(handle)
    assert (await changes.next("r1")).status is RunStatus.CANCELLED
    assert (await backend.statuses([handle]))["r1"].status is RunStatus.CANCELLED
    await kube.until(lambda: kube.get("jobs", NS, handle.name) is None)
    await backend.cleanup(handle)
    assert labelled(kube) == dict.fromkeys(KINDS, 0)
    await backend.cleanup(handle)  # idempotent: 404s are fine


async def test_a_real_run_brings_its_results_back(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    kube.kubelet_mode = "run"
    assert (await backend.verify()).ok  # creates the datasets PVC the pod mounts
    changes = Changes(backend)
    spec = run_spec(score=0.625, n_samples=8)
    handle = await backend.submit(spec)
    state = await changes.until("r1", RunStatus.SUCCEEDED, timeout=30)
    assert state.exit_code in (0, None)
    output = await backend.fetch_outputs(handle)
    evaluation = EvaluationSpec(
        eval_id="e1",
        model=ModelSpec(model_name="m", endpoint="http://h/v1"),
        datasets=[DatasetRun(dataset_id="smoke", run_id="r1")],
        engine="smoke",
        secret_name="key-e1",
    )
    parsed = default_registry().get("smoke").parse(evaluation, evaluation.datasets[0], output)
    assert [(s.value, s.n_samples) for s in parsed.scores] == [(0.625, 8)]
    await kube.until(
        lambda: (
            not kube.objects("jobs", NS, labels={"app.kubernetes.io/component": "results-reader"})
        )
    )
    assert await backend.fetch_outputs(handle) == output  # fetched once, then kept
    logs = "".join([line async for line in backend.logs(handle, tail=50)])
    assert KEY not in logs


async def test_logs_tail_the_pod(kube: KubeApiServer, backend: KubernetesBackend) -> None:
    handle: RunHandle = await backend.submit(run_spec())
    pod = await kube.await_pod(NS, handle.name)
    kube.start(NS, pod)
    kube.set_log(NS, pod, "one\ntwo\nthree\n")
    await kube.until(lambda: kube.log_text(NS, pod))
    lines = [line async for line in backend.logs(handle, tail=2)]
    assert lines == ["two\n", "three\n"]
    assert await backend.log_tail(handle, 1) == "three\n"


async def test_every_manifest_the_backend_sends_validates(
    kube: KubeApiServer, backend: KubernetesBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What actually goes over the wire (not only what the builders return) is schema-valid."""
    import kubernetes_validate

    from budeval.backends.kubernetes import objects, verify

    sent: list[dict] = []
    real_apply = objects.apply

    async def recording_apply(client: object, document: dict) -> dict:
        sent.append(json.loads(json.dumps(document)))
        return await real_apply(client, document)  # type: ignore[arg-type]

    monkeypatch.setattr(objects, "apply", recording_apply)
    monkeypatch.setattr(verify, "apply", recording_apply)
    kube.kubelet_mode = "run"
    assert (await backend.verify()).ok
    kube.create("priorityclasses", {"metadata": {"name": "batch-low"}, "value": 100})
    spec = run_spec().model_copy(
        update={
            "files": {"config/eval.json": "{}"},
            "priority_class": "batch-low",
            "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "2Gi"}},
        }
    )
    changes = Changes(backend)
    handle = await backend.submit(spec)
    await changes.until("r1", RunStatus.SUCCEEDED, timeout=30)
    await backend.fetch_outputs(handle)
    kinds = sorted(document["kind"] for document in sent)
    assert kinds == [
        "ConfigMap",
        "Job",
        "Job",
        "PersistentVolumeClaim",
        "PersistentVolumeClaim",
        "PersistentVolumeClaim",
        "Secret",
    ]
    for document in sent:
        for version in ("1.20", "1.28"):
            kubernetes_validate.validate(document, version, strict=True)


async def test_following_logs_streams_until_the_container_ends(
    kube: KubeApiServer, backend: KubernetesBackend
) -> None:
    kube.kubelet_mode = "run"
    assert (await backend.verify()).ok
    changes = Changes(backend)
    handle = await backend.submit(run_spec(duration_seconds=1.0))
    await changes.until("r1", RunStatus.RUNNING, timeout=30)
    lines = [line async for line in backend.logs(handle, follow=True)]
    text = "".join(lines)
    assert "smoke: done" in text and "engine exited with code 0" in text
    assert KEY not in text
