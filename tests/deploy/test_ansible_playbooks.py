"""The Ansible playbooks: structure, modules, and the same RBAC as the chart.

Parsed with yaml.safe_load (no Ansible needed), plus `ansible-playbook --syntax-check` with the
cached Ansible environment of tests/deploy/ansible_env.py (ansible-core + kubernetes.core, built
once per machine). test_ansible_against_server.py runs the playbooks against the API test server.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.ansible_env import AnsibleEnv, ansible_environ
from tests.deploy.ansible_env import ansible as ansible
from tests.deploy.rbac_table import CLUSTER_ROLE_RULES, ROLE_RULES

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "deploy" / "ansible"
PLAYBOOKS = ("prepare-cluster.yml", "check-cluster.yml")
ALLOWED_MODULE_PREFIXES = ("kubernetes.core.", "ansible.builtin.")
TASK_KEYWORDS = {
    "name",
    "register",
    "when",
    "vars",
    "loop",
    "loop_control",
    "changed_when",
    "failed_when",
    "tags",
    "no_log",
}
READ_ONLY_MODULES = {"kubernetes.core.k8s_info", "ansible.builtin.assert", "ansible.builtin.fail"}


def load(name: str):
    return yaml.safe_load((ANSIBLE / name).read_text(encoding="utf-8"))


def tasks_of(playbook: str) -> list[dict]:
    (play,) = load(playbook)
    return play["tasks"]


def module_of(task: dict) -> str:
    (module,) = set(task) - TASK_KEYWORDS
    return module


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_play_structure(playbook):
    plays = load(playbook)
    assert isinstance(plays, list) and len(plays) == 1
    (play,) = plays
    assert play["hosts"] == "localhost"
    assert play["connection"] == "local"
    assert play["gather_facts"] is False
    assert play["vars_files"] == ["vars.yml", "rbac-vars.yml"]
    for name in play["vars_files"]:
        assert (ANSIBLE / name).is_file()
    assert set(play["module_defaults"]) == {"group/kubernetes.core.k8s"}
    assert play["tasks"]


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_tasks_use_only_kubernetes_core_and_builtin_modules(playbook):
    for task in tasks_of(playbook):
        assert task.get("name"), task
        module = module_of(task)
        assert module.startswith(ALLOWED_MODULE_PREFIXES), (task["name"], module)


def test_check_cluster_is_read_only():
    modules = {module_of(task) for task in tasks_of("check-cluster.yml")}
    assert modules <= READ_ONLY_MODULES, modules


def test_prepare_cluster_checks_storage_before_changing_anything():
    tasks = tasks_of("prepare-cluster.yml")
    modules = [module_of(task) for task in tasks]
    first_change = modules.index("kubernetes.core.k8s")
    assert "kubernetes.core.k8s_info" in modules[:first_change]
    assert modules[:first_change].count("ansible.builtin.fail") == 2
    for task in tasks[:first_change]:
        if module_of(task) == "ansible.builtin.fail":
            assert "storage class" in task["ansible.builtin.fail"]["msg"].lower()


def test_prepare_cluster_makes_the_objects_present():
    made = {}
    for task in tasks_of("prepare-cluster.yml"):
        if module_of(task) == "kubernetes.core.k8s":
            args = task["kubernetes.core.k8s"]
            assert args["state"] == "present"
            made[args["definition"]["kind"]] = args["definition"]
    assert set(made) == {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolumeClaim",
    }
    assert made["Role"]["rules"] == "{{ budeval_role_rules }}"
    assert made["ClusterRole"]["rules"] == "{{ budeval_cluster_role_rules }}"
    assert made["PersistentVolumeClaim"]["metadata"]["name"] == "{{ budeval_datasets_pvc }}"


def test_datasets_pvc_and_labels():
    variables = load("vars.yml")
    assert variables["budeval_datasets_pvc"] == "eval-datasets-pvc"
    labels = variables["budeval_labels"]
    assert labels["app.kubernetes.io/name"] == "budeval"
    # Never managed-by=budeval: the service's informer and orphan collector own those objects.
    assert labels.get("app.kubernetes.io/managed-by") != "budeval"
    for name in ("kube_namespace", "storage_class", "datasets_pvc_size", "datasets_access_mode"):
        assert any(name in str(value) for value in variables.values()), name


def test_rbac_vars_equal_the_backends_table():
    rbac = load("rbac-vars.yml")
    assert rbac["budeval_role_rules"] == ROLE_RULES
    assert rbac["budeval_cluster_role_rules"] == CLUSTER_ROLE_RULES


def test_rbac_vars_equal_the_charts_role():
    helm = pytest.importorskip("helm_python", reason="helm-python-sdk is not installed")
    with helm.Chart.load(ROOT / "deploy" / "helm" / "budeval") as chart:
        manifests = chart.render({}, name="budeval", namespace="evals")
    docs = {
        doc["kind"]: doc
        for path, text in manifests.items()
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    }
    rbac = load("rbac-vars.yml")
    assert docs["Role"]["rules"] == rbac["budeval_role_rules"]
    assert docs["ClusterRole"]["rules"] == rbac["budeval_cluster_role_rules"]


def test_requirements_and_inventory():
    requirements = load("requirements.yml")
    (collection,) = requirements["collections"]
    assert collection == {"name": "kubernetes.core", "version": ">=6.2.0"}
    inventory = load("inventory/example.yml")
    assert inventory["all"]["hosts"]["localhost"]["ansible_connection"] == "local"


def test_the_ansible_environment_has_kubernetes_core(ansible: AnsibleEnv, tmp_path):
    listed = subprocess.run(
        [str(ansible.ansible_playbook.with_name("ansible-galaxy")), "collection", "list"],
        capture_output=True,
        text=True,
        env=ansible_environ(tmp_path, ansible.collections_path),
        check=False,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "kubernetes.core 6.2.0" in " ".join(listed.stdout.split()), listed.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_syntax_check(playbook, ansible: AnsibleEnv, tmp_path):
    env = ansible_environ(tmp_path, ansible.collections_path)
    result = subprocess.run(
        [str(ansible.ansible_playbook), "-i", "inventory/example.yml", "--syntax-check", playbook],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
