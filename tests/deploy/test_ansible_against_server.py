"""The Ansible playbooks, run for real: `ansible-playbook` + kubernetes.core against the API server.

Each run is a real `ansible-playbook` process (from the cached environment of
tests/deploy/ansible_env.py) talking HTTP to the Kubernetes API test server (tests/kube) through a
kubeconfig file, with the example inventory, as deploy/ansible/README.md tells operators to run it.
What the test server holds afterwards is compared with what the playbooks promise and with the
backend's permissions (budeval/backends/kubernetes/permissions.py). A run costs ~1-2 s of
Ansible start-up plus ~0.6 s per Kubernetes task; no sleeps.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from budeval.backends.kubernetes.permissions import CLUSTER_PERMISSIONS, NAMESPACE_PERMISSIONS
from tests.deploy.ansible_env import AnsibleEnv, ansible_environ
from tests.deploy.ansible_env import ansible as ansible
from tests.kube import KubeApiServer

ANSIBLE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "ansible"
NS = "evals"  # not one of the server's initial namespaces: the playbook must create it
SA = "budeval-remote"
PVC = "eval-datasets-pvc"
LABELS = {
    "app.kubernetes.io/name": "budeval",
    "app.kubernetes.io/part-of": "budeval",
    "app.kubernetes.io/managed-by": "ansible",
}
WRITES = {"create", "update", "patch", "delete", "deletecollection"}
MADE = {  # kind → namespace of what prepare-cluster.yml makes ("" = cluster-scoped)
    "serviceaccounts": NS,
    "roles": NS,
    "rolebindings": NS,
    "clusterroles": "",
    "clusterrolebindings": "",
    "persistentvolumeclaims": NS,
}
RECAP = re.compile(
    r"^localhost\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.MULTILINE,
)


def rules(permissions: tuple[tuple[str, str, tuple[str, ...]], ...]) -> list[dict[str, Any]]:
    """The backend's permissions as RBAC PolicyRules, one per (group, resource), in order."""
    return [
        {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
        for group, resource, verbs in permissions
    ]


def bound(kube: KubeApiServer) -> bool:
    pvc = kube.get("pvc", NS, PVC)
    return pvc is not None and pvc.get("status", {}).get("phase") == "Bound"


@dataclass
class Run:
    returncode: int
    output: str
    recap: dict[str, int]
    writes: dict[tuple[str, str], int]  # write requests the server saw during the run

    @property
    def failure(self) -> str:
        """The `msg` of the (single) failed task."""
        (line,) = [x for x in self.output.splitlines() if x.startswith("fatal: [localhost]")]
        return json.loads(line.split(" => ", 1)[1])["msg"]


class Playbooks:
    """Runs the playbooks against one test server, with a private ANSIBLE_HOME and TMPDIR."""

    def __init__(self, env: AnsibleEnv, kube: KubeApiServer, home: Path) -> None:
        self.env, self.kube = env, kube
        self.environ = ansible_environ(home, env.collections_path)
        self.kubeconfig = home / "kubeconfig.yml"
        self.kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig(namespace=NS)))

    def run(self, playbook: str, **extra: str) -> Run:
        variables = {
            "kubeconfig": str(self.kubeconfig),
            "kube_namespace": NS,
            "ansible_python_interpreter": str(self.env.python),
            **extra,
        }
        argv = [str(self.env.ansible_playbook), "-i", "inventory/example.yml", playbook]
        argv += ["-e", json.dumps(variables)]
        before = self.kube.requests.snapshot()
        result = subprocess.run(
            argv,
            cwd=ANSIBLE_DIR,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        after = self.kube.requests.snapshot()
        writes = {
            key: n - before.get(key, 0)
            for key, n in after.items()
            if key[0] in WRITES and n > before.get(key, 0)
        }
        output = result.stdout + result.stderr
        found = RECAP.search(result.stdout)
        assert found, f"no PLAY RECAP in the output:\n{output}"
        recap = {key: int(value) for key, value in found.groupdict().items()}
        return Run(result.returncode, output, recap, writes)


@dataclass
class Prepared:
    kube: KubeApiServer
    check_before: Run
    first: Run
    second: Run
    rv_first: int  # the server's resourceVersion after the first run
    rv_second: int
    check_after: Run


@pytest.fixture(scope="module")
def prepared(ansible: AnsibleEnv, tmp_path_factory: pytest.TempPathFactory):
    """One fresh server through an operator's session: check (not prepared yet), prepare,
    prepare again, check. Default inputs except the namespace."""
    with KubeApiServer() as kube:
        books = Playbooks(ansible, kube, tmp_path_factory.mktemp("ansible-prepared"))
        check_before = books.run("check-cluster.yml")
        first = books.run("prepare-cluster.yml")
        if first.returncode == 0:
            kube.wait(lambda: bound(kube))  # the binder runs right after the PVC's creation
        rv_first = kube.store.rv
        second = books.run("prepare-cluster.yml")
        rv_second = kube.store.rv
        check_after = books.run("check-cluster.yml")
        yield Prepared(kube, check_before, first, second, rv_first, rv_second, check_after)


def test_prepare_creates_the_namespace_rbac_and_datasets_pvc(prepared: Prepared) -> None:
    first, kube = prepared.first, prepared.kube
    assert first.returncode == 0, first.output
    assert first.recap["failed"] == 0 and first.recap["changed"] == 7, first.output
    namespace = kube.get("namespaces", None, NS)
    assert namespace is not None and namespace["metadata"]["labels"] == LABELS
    for plural, namespace in MADE.items():
        (made,) = kube.objects(plural, namespace or None)
        assert made["metadata"]["labels"] | LABELS == made["metadata"]["labels"], plural
    assert kube.get("serviceaccounts", NS, SA) is not None


def test_prepare_grants_exactly_the_backends_permissions(prepared: Prepared) -> None:
    kube = prepared.kube
    role = kube.get("roles", NS, SA)
    assert role is not None
    assert role["rules"] == rules(NAMESPACE_PERMISSIONS)
    binding = kube.get("rolebindings", NS, SA)
    assert binding is not None
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": SA,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]
    cluster_role = kube.get("clusterroles", None, f"{SA}-{NS}")
    assert cluster_role is not None
    assert cluster_role["rules"] == rules(CLUSTER_PERMISSIONS)
    cluster_binding = kube.get("clusterrolebindings", None, f"{SA}-{NS}")
    assert cluster_binding is not None
    assert cluster_binding["roleRef"]["kind"] == "ClusterRole"
    assert cluster_binding["roleRef"]["name"] == f"{SA}-{NS}"
    assert cluster_binding["subjects"] == [{"kind": "ServiceAccount", "name": SA, "namespace": NS}]


def test_prepare_creates_the_shared_datasets_pvc(prepared: Prepared) -> None:
    pvc = prepared.kube.get("pvc", NS, PVC)
    assert pvc is not None
    assert pvc["metadata"]["labels"] == LABELS | {"app.kubernetes.io/component": "datasets"}
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # the "production" profile
    assert pvc["spec"]["resources"] == {"requests": {"storage": "100Gi"}}
    # storage_class="" leaves storageClassName out: the cluster's default class fills it in.
    assert pvc["spec"]["storageClassName"] == "standard"
    assert pvc["status"]["phase"] == "Bound"


def test_prepare_is_idempotent(prepared: Prepared) -> None:
    second = prepared.second
    assert second.returncode == 0, second.output
    assert second.recap["changed"] == 0 and second.recap["failed"] == 0, second.output
    assert second.recap["ok"] == prepared.first.recap["ok"]
    assert prepared.rv_second == prepared.rv_first  # nothing on the server was rewritten


def test_check_fails_before_prepare_and_passes_after(prepared: Prepared) -> None:
    before, after = prepared.check_before, prepared.check_after
    assert before.returncode != 0 and before.recap["failed"] == 1, before.output
    assert before.failure == f"Namespace {NS} does not exist; run prepare-cluster.yml."
    assert after.returncode == 0, after.output
    assert after.recap["failed"] == 0 and after.recap["changed"] == 0, after.output
    assert after.recap["skipped"] == 0  # every check ran (RBAC and ClusterRole included)
    assert before.writes == {} and after.writes == {}  # read-only


def check_a_copy(
    prepared: Prepared, ansible: AnsibleEnv, tmp_path: Path, *, skip: str = "", short: bool = False
) -> Any:
    """check-cluster.yml on a copy of the prepared cluster, without kind `skip` and, with
    `short`, with one verb missing from the Role."""
    with KubeApiServer() as kube:
        source = prepared.kube
        kube.create("namespaces", {"metadata": {"name": NS, "labels": LABELS}})
        for plural, namespace in MADE.items():
            if plural == skip:
                continue
            for made in source.objects(plural, namespace or None):
                body = copy.deepcopy(made)
                body["metadata"] = {k: made["metadata"][k] for k in ("name", "labels")}
                body.pop("status", None)
                if plural == "roles" and short:
                    body["rules"][0]["verbs"].remove("delete")  # jobs: no delete
                kube.create(plural, body, namespace=namespace)
        kube.wait(lambda: bound(kube))
        return Playbooks(ansible, kube, tmp_path).run("check-cluster.yml")


def test_check_reports_a_role_that_differs_from_the_backends(
    prepared: Prepared, ansible: AnsibleEnv, tmp_path: Path
) -> None:
    """A cluster prepared by hand (or an old playbook) with one verb short fails the check."""
    run = check_a_copy(prepared, ansible, tmp_path, short=True)
    assert run.returncode != 0 and run.recap["failed"] == 1, run.output
    assert run.failure == (
        f"Role/RoleBinding {SA} in {NS} are missing or differ from rbac-vars.yml; "
        "run prepare-cluster.yml."
    )


@pytest.mark.parametrize("missing", ["serviceaccounts", "clusterrolebindings"])
def test_check_reports_a_missing_identity_or_cluster_binding(
    prepared: Prepared, ansible: AnsibleEnv, tmp_path: Path, missing: str
) -> None:
    run = check_a_copy(prepared, ansible, tmp_path, skip=missing)
    assert run.returncode != 0 and run.recap["failed"] == 1, run.output
    assert ("ServiceAccount" if missing == "serviceaccounts" else "ClusterRoleBinding") in (
        run.failure or ""
    )


@pytest.mark.parametrize("storage_class", ["fast-ssd", ""])
def test_prepare_refuses_a_missing_storage_class_and_changes_nothing(
    storage_class: str, ansible: AnsibleEnv, tmp_path: Path
) -> None:
    """A requested class that does not exist, or no class requested and no default class: the
    play fails at its storage-class check, before any object is made."""
    with KubeApiServer() as kube:
        if not storage_class:
            kube.delete("storageclasses", None, "standard")  # the only default class
        kube.reset_counts()
        run = Playbooks(ansible, kube, tmp_path).run(
            "prepare-cluster.yml", storage_class=storage_class
        )
        assert run.returncode != 0, run.output
        assert run.recap["failed"] == 1 and run.recap["changed"] == 0, run.output
        assert run.writes == {}
        assert kube.get("namespaces", None, NS) is None
        for plural in MADE:
            assert kube.objects(plural) == [], plural
    if storage_class:
        assert run.failure.startswith(
            f'Storage class "{storage_class}" does not exist in this cluster '
            "(found: local-path, standard)."
        )
        assert "pass -e storage_class=<one of those>" in run.failure
    else:
        assert run.failure.startswith(
            'No storage class was requested (storage_class="") and the cluster has no default '
            "storage class"
        )
        assert "Found: local-path." in run.failure
