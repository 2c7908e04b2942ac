"""The orphan collector against the API test server and a real store.

Objects of evaluations that ended longer ago than the retention go; objects of running
evaluations, or of evaluations this service does not know (another budeval may share the
namespace), stay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from budeval.backends.kubernetes.backend import KubernetesBackend
from budeval.engines.base import run_name
from budeval.engines.registry import default_registry
from budeval.secrets import LocalSecretStore
from budeval.spec import DatasetRun, EvaluationSpec, ModelSpec
from budeval.status import EvalStatus, RunStatus
from budeval.store import Store, open_store
from budeval.workflow.collector import OrphanCollector
from budeval.workflow.services import Services
from tests.backends.kubernetes.test_backend import KEY, MANAGED, NS
from tests.backends.kubernetes.test_backend import kube as kube
from tests.backends.kubernetes.test_backend import settings as settings
from tests.kube import KubeApiServer


def evaluation(eval_id: str) -> EvaluationSpec:
    return EvaluationSpec(
        eval_id=eval_id,
        model=ModelSpec(model_name="m", endpoint="http://h/v1"),
        datasets=[DatasetRun(dataset_id="smoke", run_id=f"{eval_id}-run")],
        engine="smoke",
        backend="kubernetes",
        secret_name=f"key-{eval_id}",
    )


@pytest.fixture
async def world(settings, tmp_path: Path) -> AsyncIterator[tuple[Services, KubernetesBackend]]:  # type: ignore[no-untyped-def]
    retention = settings.model_copy(update={"kube_retention_seconds": 0.001})
    secrets = LocalSecretStore(retention.secrets_dir)
    backend = KubernetesBackend(retention, secrets)
    store: Store = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    services = Services(
        settings=retention,
        store=store,
        engines=default_registry(),
        backends={"kubernetes": backend},
        secrets=secrets,
    )
    yield services, backend
    await backend.stop()
    store.close()


async def submit(services: Services, backend: KubernetesBackend, eval_id: str, known: bool) -> None:
    spec = evaluation(eval_id)
    services.secrets.put(spec.secret_name, {"api_key": KEY})
    if known:
        names = {run.run_id: run_name(run.run_id) for run in spec.datasets}
        services.store.create_evaluation(spec, "fingerprint", names)
    run = default_registry().get("smoke").build(spec, spec.datasets[0])
    await backend.submit(run)


async def test_collects_only_long_finished_evaluations_it_knows(
    kube: KubeApiServer, world: tuple[Services, KubernetesBackend]
) -> None:
    services, backend = world
    await submit(services, backend, "done", known=True)
    await submit(services, backend, "busy", known=True)
    await submit(services, backend, "foreign", known=False)
    services.store.update_run("done-run", RunStatus.SUCCEEDED)
    services.store.set_evaluation_status("done", EvalStatus.RUNNING)
    services.store.set_evaluation_status("done", EvalStatus.SUCCEEDED)

    removed = await OrphanCollector(services).collect()

    assert removed == 1
    left = {
        job["metadata"]["annotations"]["budeval.io/eval-id"]
        for job in kube.objects("jobs", NS, labels=MANAGED)
    }
    assert left == {"busy", "foreign"}
    claims = kube.objects("persistentvolumeclaims", NS, labels=MANAGED)
    assert {c["metadata"]["annotations"]["budeval.io/eval-id"] for c in claims} == {
        "busy",
        "foreign",
    }
    assert services.store.get_evaluation("done").cleaned_at is not None
    assert await OrphanCollector(services).collect() == 0
