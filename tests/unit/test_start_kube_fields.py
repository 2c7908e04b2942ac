"""The Kubernetes fields of `POST /evals/start` and `POST /clusters`, against the schemas."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from budeval.api.kube_schemas import ClusterCreate, Resources
from budeval.api.schemas import StartFull, StartShort, full_to_spec, secret_name, short_to_full
from budeval.backends.kubernetes.clusters import KUBECONFIG_KEY
from budeval.config import Settings
from budeval.engines.base import API_KEY_SECRET_KEY
from budeval.engines.registry import default_registry
from budeval.errors import Conflict, InvalidRequest, NotFound
from budeval.secrets import LocalSecretStore
from budeval.status import EvalStatus
from budeval.store import open_store
from budeval.workflow import commands
from budeval.workflow.services import Services
from tests.fakes import FakeBackend
from tests.service import smoke_request

TOKEN = "kubeconfig-token-SECRET-42"
KUBECONFIG = f"""
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "http://127.0.0.1:1"}}
users:
- name: u
  user: {{token: {TOKEN}}}
contexts:
- name: ctx
  context: {{cluster: c, user: u}}
current-context: ctx
"""


def full(**fields: Any) -> dict[str, Any]:
    return {**copy.deepcopy(smoke_request("kube-1")), **fields}


def fields_of(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in issue["loc"]) for issue in error.errors()}


@pytest.mark.parametrize(
    "quantity", ["500m", "2", "1.5", ".5", "4Gi", "128Mi", "1Ki", "1e3", "1E-2", "100k", "3T"]
)
def test_kubernetes_quantities_are_accepted(quantity: str) -> None:
    body = StartFull.model_validate(full(resources={"limits": {"cpu": quantity}}))
    assert body.resources is not None and body.resources.limits is not None
    assert body.resources.limits.cpu == quantity


@pytest.mark.parametrize(
    "quantity",
    ["", "-1", "+2", "1.2.3", "4GB", "4gi", "1 Gi", "abc", "Gi", "1Ki2", "1e", "1m\n", "9" * 65],
)
def test_bad_quantities_are_refused_naming_the_field(quantity: str) -> None:
    with pytest.raises(ValidationError) as caught:
        StartFull.model_validate(full(resources={"requests": {"memory": quantity}}))
    assert fields_of(caught.value) == {"resources.requests.memory"}


@pytest.mark.parametrize(
    "resources",
    [{"requests": {"gpu": "1"}}, {"request": {"cpu": "1"}}, {"limits": "2"}, [1]],
)
def test_resources_are_a_strict_shape(resources: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        StartFull.model_validate(full(resources=resources))
    assert all(field.startswith("resources") for field in fields_of(caught.value))


@pytest.mark.parametrize("priority", ["high", "batch-low", "team.a.high", "a" * 253])
def test_priority_class_names(priority: str) -> None:
    assert StartFull.model_validate(full(priority=priority)).priority == priority


@pytest.mark.parametrize("priority", ["", "High", "-a", "a-", "a_b", "a..b", "a" * 254, "a b"])
def test_bad_priority_class_names(priority: str) -> None:
    with pytest.raises(ValidationError) as caught:
        StartFull.model_validate(full(priority=priority))
    assert fields_of(caught.value) == {"priority"}


def test_spec_carries_cluster_priority_and_only_the_given_resources() -> None:
    body = StartFull.model_validate(
        full(
            cluster="gpu-a",
            priority="high",
            resources={"requests": {"cpu": "1"}, "limits": {"cpu": None, "memory": "8Gi"}},
        )
    )
    spec = full_to_spec(body, default_engine="smoke", backend="kubernetes")
    assert spec.cluster == "gpu-a"
    assert spec.priority_class == "high"
    assert spec.resources == {"requests": {"cpu": "1"}, "limits": {"memory": "8Gi"}}
    plain = full_to_spec(StartFull.model_validate(full()), default_engine="smoke", backend="local")
    assert (plain.cluster, plain.priority_class, plain.resources) == ("default", None, None)
    assert Resources(requests={}).as_spec() is None  # type: ignore[arg-type]


def test_a_request_kubeconfig_names_the_evaluations_secret_never_its_content() -> None:
    body = StartFull.model_validate(full(kubeconfig=KUBECONFIG))
    spec = full_to_spec(body, default_engine="smoke", backend="kubernetes")
    assert spec.cluster == "@" + secret_name("kube-1") == "@" + spec.secret_name
    assert TOKEN not in spec.model_dump_json()
    assert TOKEN not in repr(body)


def test_cluster_and_kubeconfig_exclude_each_other() -> None:
    body = StartFull.model_validate(full(cluster="gpu-a", kubeconfig=KUBECONFIG))
    with pytest.raises(InvalidRequest) as caught:
        full_to_spec(body, default_engine="smoke", backend="kubernetes")
    assert caught.value.field == "cluster"


def test_the_short_shape_hands_its_kubeconfig_on() -> None:
    short = StartShort.model_validate(
        {"eval_request_id": "s-1", "model_name": "m", "api_key": "k", "base_url": "http://h/v1"}
        | {"kubeconfig": KUBECONFIG}
    )
    spec = full_to_spec(short_to_full(short, ["smoke"]), default_engine="smoke", backend="k")
    assert spec.cluster.startswith("@")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cluster", "Bad_Name"),
        ("cluster", "x" * 64),
        ("kubeconfig", "k" * (256 * 1024 + 1)),
        ("kubeconfig", "a: &x [1, 2]\nb: [*x, *x]\n"),
        ("namespace", "ns-zz"),  # not a start field: the namespace comes from the cluster
    ],
)
def test_bad_start_fields(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        StartFull.model_validate(full(**{field: value}))
    assert fields_of(caught.value) == {field}
    assert all(value not in issue["msg"] for issue in caught.value.errors())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Prod"),
        ("name", "a" * 64),
        ("name", "-a"),
        ("namespace", "kube_system"),
        ("context", "a\nb"),
        ("kubeconfig", ""),
    ],
)
def test_cluster_registration_fields(field: str, value: str) -> None:
    body = {"name": "prod", "kubeconfig": KUBECONFIG, field: value}
    with pytest.raises(ValidationError) as caught:
        ClusterCreate.model_validate(body)
    assert fields_of(caught.value) == {field}


def services(home: Path, backend: str) -> Services:
    settings = Settings(home=home, backend="kubernetes" if backend == "kubernetes" else "local")
    return Services(
        settings=settings,
        store=None,  # type: ignore[arg-type]  # validation reads no store
        engines=default_registry(),
        backends={backend: FakeBackend(home)},  # type: ignore[dict-item]
        secrets=LocalSecretStore(home / "secrets"),
    )


def spec_for(backend: str, **fields: Any) -> Any:
    return full_to_spec(
        StartFull.model_validate(full(**fields)), default_engine="smoke", backend=backend
    )


def test_cluster_and_kubeconfig_are_refused_off_kubernetes(tmp_path: Path) -> None:
    local = services(tmp_path, "local")
    for field, value in (("cluster", "gpu-a"), ("kubeconfig", KUBECONFIG)):
        with pytest.raises(InvalidRequest) as caught:
            commands.validate(local, spec_for("local", **{field: value}))
        assert caught.value.field == field
    commands.validate(local, spec_for("local", priority="high"))  # harmless: local ignores it


def test_an_unknown_cluster_is_refused_a_registered_one_accepted(tmp_path: Path) -> None:
    kube = services(tmp_path, "kubernetes")
    with pytest.raises(InvalidRequest) as caught:
        commands.validate(kube, spec_for("kubernetes", cluster="gpu-a"))
    assert caught.value.field == "cluster"
    kube.clusters.register("gpu-a", KUBECONFIG, None, None)
    commands.validate(kube, spec_for("kubernetes", cluster="gpu-a"))
    commands.validate(kube, spec_for("kubernetes", kubeconfig=KUBECONFIG))


def test_the_kubeconfig_joins_the_secret_and_only_its_hash_the_fingerprint() -> None:
    spec = spec_for("kubernetes", kubeconfig=KUBECONFIG)
    values, identity = commands._secret_values(spec, "sk-1", KUBECONFIG)
    assert values[API_KEY_SECRET_KEY] == "sk-1" and TOKEN in values[KUBECONFIG_KEY]
    assert TOKEN not in identity
    other = KUBECONFIG.replace(TOKEN, "another-token")
    _, other_identity = commands._secret_values(spec, "sk-1", other)
    assert spec.fingerprint(identity) != spec.fingerprint(
        other_identity
    )  # a conflict, not a replay
    reformatted = KUBECONFIG.replace("\n\n", "\n").replace("apiVersion: v1", "apiVersion: 'v1'")
    assert commands._secret_values(spec, "sk-1", reformatted)[1] == identity
    for bad in ("clusters: [", KUBECONFIG.replace(TOKEN, "2024-01-01")):  # bad YAML, a date
        with pytest.raises(InvalidRequest) as caught:
            commands._secret_values(spec, "sk-1", bad)
        assert caught.value.field == "kubeconfig"
    plain = spec_for("kubernetes")
    assert commands._secret_values(plain, "sk-1", None) == ({API_KEY_SECRET_KEY: "sk-1"}, "sk-1")


async def test_a_cluster_in_use_or_the_default_cannot_be_removed(tmp_path: Path) -> None:
    kube = services(tmp_path, "kubernetes")
    kube.store = open_store(kube.settings.store_url)
    try:
        kube.clusters.register("lab", KUBECONFIG, None, None)
        kube.clusters.register("spare", KUBECONFIG, None, None)
        spec = spec_for("kubernetes", cluster="lab")
        kube.store.create_evaluation(spec, "fp", {run.run_id: "job" for run in spec.datasets})
        with pytest.raises(Conflict, match="kube-1"):
            await commands.remove_cluster(kube, "lab")
        with pytest.raises(Conflict, match="default"):
            await commands.remove_cluster(kube, "default")
        with pytest.raises(NotFound):
            await commands.remove_cluster(kube, "nope")
        await commands.remove_cluster(kube, "spare")
        assert kube.clusters.names() == ["default", "lab"]
        kube.store.set_evaluation_status("kube-1", EvalStatus.CANCELLED)
        await commands.remove_cluster(kube, "lab")  # a finished evaluation holds nothing
        assert kube.clusters.names() == ["default"]
    finally:
        kube.store.close()
