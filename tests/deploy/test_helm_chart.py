"""The Helm chart: lints clean, renders valid Kubernetes objects, grants exactly the backend's RBAC.

Uses the real Helm v4 Go SDK (helm-python-sdk, offline) and kubernetes-validate's bundled schemas.
`render` does not parse YAML (docs/kubernetes-facts.md §3), so every manifest is parsed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.rbac_table import CLUSTER_ROLE_RULES, ROLE_RULES

helm = pytest.importorskip("helm_python", reason="helm-python-sdk is not installed")
kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "budeval"
KUBE_VERSIONS = ("1.20", "1.28")
"""kubernetes-validate 1.28.3 bundles 1.20…1.28; the chart uses only apps/v1, v1 and RBAC v1."""

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "no-cluster-role": {"rbac": {"clusterRole": False}},
    "persistence": {"persistence": {"enabled": True, "storageClass": "fast", "size": "5Gi"}},
    "existing-claim": {"persistence": {"enabled": True, "existingClaim": "my-data"}},
    "runs-elsewhere": {"config": {"BUDEVAL_KUBE_NAMESPACE": "runs"}, "existingSecret": "s"},
    "no-rbac": {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "x"}},
}

pytestmark = [
    # kubernetes-validate 1.28.3 uses jsonschema APIs that newer jsonschema deprecates.
    pytest.mark.filterwarnings("ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The metaschema specified by:DeprecationWarning"),
]

SECRET_KEYS = ("BUDEVAL_API_TOKENS", "BUDEVAL_DATABASE_URL", "BUDEVAL_SYSTEM_DATABASE_URL")


def render(values: dict[str, Any] | None = None, namespace: str = "evals") -> list[dict]:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name="budeval", namespace=namespace)
    docs = []
    for path, text in sorted(manifests.items()):
        if not path.endswith(".yaml"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def by_kind(docs: list[dict]) -> dict[str, dict]:
    kinds = [doc["kind"] for doc in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {doc["kind"]: doc for doc in docs}


def test_lint_strict_has_no_errors():
    report = helm.lint(CHART, strict=True)
    assert report["errors"] == [], report
    # Only informational messages (severity 1, e.g. "icon is recommended") are tolerated.
    assert all(message["severity"] <= 1 for message in report["messages"]), report


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_manifest_is_a_valid_kubernetes_object(variant):
    docs = render(VARIANTS[variant])
    assert docs
    for doc in docs:
        for version in KUBE_VERSIONS:
            kv.validate(doc, version, strict=True)


def test_default_objects():
    kinds = by_kind(render())
    assert set(kinds) == {
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    }
    for doc in kinds.values():
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "budeval"
        # Never the run objects' label: the backend's informer selects managed-by=budeval.
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_role_grants_exactly_the_backends_verbs():
    kinds = by_kind(render())
    assert kinds["Role"]["rules"] == ROLE_RULES
    assert kinds["Role"]["metadata"]["namespace"] == "evals"
    assert kinds["ClusterRole"]["rules"] == CLUSTER_ROLE_RULES


def test_bindings_point_at_the_service_account():
    kinds = by_kind(render())
    account = kinds["ServiceAccount"]["metadata"]["name"]
    assert kinds["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == account
    for binding, role in (("RoleBinding", "Role"), ("ClusterRoleBinding", "ClusterRole")):
        doc = kinds[binding]
        assert doc["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role,
            "name": kinds[role]["metadata"]["name"],
        }
        subject = {"kind": "ServiceAccount", "name": account, "namespace": "evals"}
        assert doc["subjects"] == [subject]


def test_cluster_role_can_be_turned_off():
    kinds = by_kind(render({"rbac": {"clusterRole": False}}))
    assert "ClusterRole" not in kinds
    assert "ClusterRoleBinding" not in kinds
    assert kinds["Role"]["rules"] == ROLE_RULES


def test_no_rbac_uses_the_named_account():
    kinds = by_kind(render(VARIANTS["no-rbac"]))
    assert not {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} & set(
        kinds
    )
    assert kinds["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == "x"


def test_runs_namespace_defaults_to_release_namespace_and_can_be_set():
    kinds = by_kind(render())
    assert kinds["ConfigMap"]["data"]["BUDEVAL_KUBE_NAMESPACE"] == "evals"

    kinds = by_kind(render(VARIANTS["runs-elsewhere"]))
    assert kinds["ConfigMap"]["data"]["BUDEVAL_KUBE_NAMESPACE"] == "runs"
    assert kinds["Role"]["metadata"]["namespace"] == "runs"
    assert kinds["RoleBinding"]["metadata"]["namespace"] == "runs"
    # The subject is the service account in the release namespace.
    assert kinds["RoleBinding"]["subjects"][0]["namespace"] == "evals"


def test_configmap_defaults():
    data = by_kind(render())["ConfigMap"]["data"]
    assert data["BUDEVAL_BACKEND"] == "kubernetes"
    assert data["BUDEVAL_HOST"] == "0.0.0.0"
    assert data["BUDEVAL_PORT"] == "8080"
    assert data["BUDEVAL_STORAGE_PROFILE"] == "production"
    assert data["BUDEVAL_HOME"] == "/var/lib/budeval"
    assert data["BUDEVAL_KUBE_SERVICE_IMAGE"] == "budeval/service:0.1.0"
    assert all(key.startswith("BUDEVAL_") for key in data)
    assert all(isinstance(value, str) and value for value in data.values())


def test_results_reader_image_follows_the_service_image():
    kinds = by_kind(render({"image": {"repository": "registry.example/budeval", "tag": "9"}}))
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/budeval:9"
    assert kinds["ConfigMap"]["data"]["BUDEVAL_KUBE_SERVICE_IMAGE"] == "registry.example/budeval:9"


def test_configmap_stringifies_and_skips_empty_values():
    data = by_kind(
        render({"config": {"BUDEVAL_POLL_INTERVAL_SECONDS": 15, "BUDEVAL_KUBE_CONTEXT": ""}})
    )["ConfigMap"]["data"]
    assert data["BUDEVAL_POLL_INTERVAL_SECONDS"] == "15"
    assert "BUDEVAL_KUBE_CONTEXT" not in data


def test_deployment_security_context_and_probes():
    deployment = by_kind(render())["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in sc or sc["privileged"] is False

    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    service = by_kind(render())["Service"]
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_deployment_env_from_configmap_and_existing_secret():
    kinds = by_kind(render({"existingSecret": "my-secret"}))
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [
        {"configMapRef": {"name": kinds["ConfigMap"]["metadata"]["name"]}},
        {"secretRef": {"name": "my-secret"}},
    ]


def test_volumes_tmp_and_data_at_budeval_home():
    def volumes(values):
        kinds = by_kind(render(values))
        pod = kinds["Deployment"]["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        return kinds, {v["name"]: v for v in pod["volumes"]}, mounts

    kinds, vols, mounts = volumes({})
    assert mounts == {"tmp": "/tmp", "data": kinds["ConfigMap"]["data"]["BUDEVAL_HOME"]}
    assert vols["tmp"]["emptyDir"] == {}
    assert vols["data"]["emptyDir"] == {}
    assert "PersistentVolumeClaim" not in kinds

    kinds, vols, mounts = volumes(VARIANTS["persistence"])
    pvc = kinds["PersistentVolumeClaim"]
    assert vols["data"]["persistentVolumeClaim"] == {"claimName": pvc["metadata"]["name"]}
    assert pvc["spec"]["storageClassName"] == "fast"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"

    kinds, vols, mounts = volumes(VARIANTS["existing-claim"])
    assert vols["data"]["persistentVolumeClaim"] == {"claimName": "my-data"}
    assert "PersistentVolumeClaim" not in kinds

    kinds, vols, mounts = volumes({"config": {"BUDEVAL_HOME": "/srv/budeval"}})
    assert mounts["data"] == "/srv/budeval"
    assert kinds["ConfigMap"]["data"]["BUDEVAL_HOME"] == "/srv/budeval"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_secret_is_rendered(variant):
    docs = render(VARIANTS[variant])
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    text = yaml.safe_dump_all(docs)
    for key in SECRET_KEYS:
        assert key not in text


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_schema_refuses_secrets_in_config(key):
    with pytest.raises(helm.HelmValuesError):
        render({"config": {key: "postgresql+psycopg://u:hunter2@db/budeval"}})


@pytest.mark.parametrize(
    "values",
    [
        {"existingSecret": ""},
        {"config": {"not_budeval": "x"}},
        {"config": {"BUDEVAL_BACKEND": "docker"}},
        {"config": {"BUDEVAL_KUBE_NAMESPACE": "Not_A_Label"}},
        {"replicaCount": "one"},
        {"unknownKey": True},
    ],
)
def test_schema_refuses_bad_values(values):
    with pytest.raises(helm.HelmValuesError):
        render(values)


def test_table_equals_the_backends_permissions():
    """The test's table is the backend's `permissions.py` (what `verify` reviews), as rules."""
    permissions = pytest.importorskip(
        "budeval.backends.kubernetes.permissions", reason="the Kubernetes backend is not present"
    )

    def rules(table):
        return [
            {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
            for group, resource, verbs in table
        ]

    assert rules(permissions.NAMESPACE_PERMISSIONS) == ROLE_RULES
    assert rules(permissions.CLUSTER_PERMISSIONS) == CLUSTER_ROLE_RULES
