"""Every manifest of a run validates against the Kubernetes schemas (1.20 and 1.28, strict)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import kubernetes_validate
import pytest

from budeval.backends.base import RunSpec, SecretRef
from budeval.backends.kubernetes import labels, manifests
from budeval.backends.local.environment import OFFLINE_SWITCHES
from budeval.config import Settings
from budeval.errors import BackendError
from budeval.ids import dns1123_name

API_KEY = "sk-test-0123456789abcdef"
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
VERSIONS = ("1.20", "1.28")


def make_spec(**fields: Any) -> RunSpec:
    base: dict[str, Any] = {
        "eval_id": "Eval_01:weird",
        "run_id": "run-" + "x" * 100,
        "dataset": "mmlu",
        "engine": "lmeval",
        "engine_version": "0.4.5",
        "name": dns1123_name("run-" + "x" * 100, prefix="eval-"),
        "image": "ghcr.io/budeval/lmeval:0.4.5",
        "environment": "lmeval",
        "command": ["python", "/opt/budeval/runners/lmeval_runner.py"],
        "env": {"MODEL": "gpt-x"},
        "secret_env": {"OPENAI_API_KEY": SecretRef(name="eval-secret", key="api_key")},
        "engine_args": {"model": "gpt-x", "base_url": "http://model:8000/v1", "limit": 5},
        "labels": {"budeval.io/engine": "lmeval", "bad key!": "x"},
    }
    base.update(fields)
    return RunSpec.model_validate(base)


@pytest.fixture
def js() -> manifests.JobSettings:
    return manifests.JobSettings.from_settings(Settings(), "budeval")


WITH_FILES = {"tasks/mmlu.yaml": "task: mmlu\n", "prompt.txt": "Answer: {{q}}"}
RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}


def all_documents(js: manifests.JobSettings) -> list[dict[str, Any]]:
    plain = make_spec()
    full = make_spec(files=WITH_FILES, priority_class="high-priority", resources=RESOURCES)
    config_map = manifests.run_config_map(full, js)
    assert config_map is not None
    return [
        manifests.run_secret(plain, js, {"api_key": API_KEY}),
        config_map,
        *manifests.run_pvcs(plain, js),
        manifests.run_job(plain, js),
        manifests.run_job(full, js),
        manifests.reader_job(plain, js),
        manifests.datasets_pvc(Settings(), "budeval"),
        manifests.datasets_pvc(Settings(storage_profile="production"), "budeval"),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid(js: manifests.JobSettings, version: str) -> None:
    for document in all_documents(js):
        kubernetes_validate.validate(document, version, strict=True)


def test_names_and_labels_are_valid(js: manifests.JobSettings) -> None:
    for document in all_documents(js):
        metadata = document["metadata"]
        assert len(metadata["name"]) <= 63 or document["kind"] != "Job"
        assert DNS1123.fullmatch(metadata["name"]), metadata["name"]
        for key, value in metadata["labels"].items():
            assert labels.is_label_key(key) and labels.is_label_value(value), (key, value)
    job = manifests.run_job(make_spec(), js)
    assert len(job["metadata"]["name"]) <= 63
    assert job["spec"]["template"]["metadata"]["labels"] == job["metadata"]["labels"]


def test_labels_and_annotations_carry_the_ids(js: manifests.JobSettings) -> None:
    spec = make_spec()
    metadata = manifests.run_job(spec, js)["metadata"]
    assert metadata["labels"]["app.kubernetes.io/managed-by"] == "budeval"
    assert metadata["labels"]["app.kubernetes.io/component"] == "run"
    assert metadata["labels"]["budeval.io/job"] == spec.name
    assert metadata["labels"]["budeval.io/run-id"] == labels.label_value(spec.run_id)
    assert metadata["labels"]["budeval.io/run-id"] != spec.run_id  # too long: derived
    assert metadata["labels"]["budeval.io/eval-id"] != spec.eval_id  # `:` is not label-safe
    assert metadata["annotations"]["budeval.io/eval-id"] == spec.eval_id
    assert metadata["annotations"]["budeval.io/run-id"] == spec.run_id
    assert "bad key!" not in metadata["labels"]
    assert labels.label_value("run_1.A-b") == "run_1.A-b"
    assert labels.label_value("a:b") == labels.label_value("a:b") != "a:b"
    names = labels.object_names(spec.name)
    assert (names.secret, names.config) == (f"{spec.name}-secret", f"{spec.name}-config")
    assert (names.data_pvc, names.output_pvc) == (
        f"{spec.name}-data-pvc",
        f"{spec.name}-output-pvc",
    )
    assert names.reader_job.startswith("read-") and len(names.reader_job) <= 63


def test_the_api_key_is_only_in_the_secret(js: manifests.JobSettings) -> None:
    spec = make_spec(files=WITH_FILES)
    secret = manifests.run_secret(spec, js, {"api_key": API_KEY})
    assert secret["type"] == "Opaque" and "stringData" not in secret
    assert base64.b64decode(secret["data"]["api_key"]).decode() == API_KEY
    assert API_KEY not in json.dumps(secret)
    for document in (manifests.run_job(spec, js), manifests.reader_job(spec, js)):
        assert API_KEY not in json.dumps(document)
    env = env_of(manifests.run_job(spec, js))
    assert env["OPENAI_API_KEY"] == {
        "valueFrom": {"secretKeyRef": {"name": f"{spec.name}-secret", "key": "api_key"}}
    }
    assert "api_key" not in env["ENGINE_ARGS"]["value"].lower()
    assert json.loads(env["ENGINE_ARGS"]["value"]) == spec.engine_args


def test_a_missing_secret_key_is_refused(js: manifests.JobSettings) -> None:
    with pytest.raises(BackendError) as caught:
        manifests.run_secret(make_spec(), js, {})
    assert caught.value.reason == "SecretMissing"


def env_of(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {
        item["name"]: {k: v for k, v in item.items() if k != "name"} for item in container["env"]
    }


def test_job_shape(js: manifests.JobSettings) -> None:
    spec = make_spec()
    job = manifests.run_job(spec, js)
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert "priorityClassName" not in pod
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = pod["containers"]
    assert container["name"] == "engine"
    assert container["command"] == [
        "python",
        "/opt/budeval/runners/kube_job.py",
        "--",
        *spec.command,
    ]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"] == js.default_resources
    env = env_of(job)
    for name, value in {
        **OFFLINE_SWITCHES,
        "DATA_DIR": "/data",
        "OUTPUT_DIR": "/output",
        "DATASETS_DIR": "/datasets",
        "TERMINATION_LOG": "/tmp/budeval-termination",
        "HOME": "/tmp",
        "PYTHONUNBUFFERED": "1",
        "MODEL": "gpt-x",
    }.items():
        assert env[name] == {"value": value}, name
    assert len(env) == len(container["env"])  # no duplicate names (server-side apply)


def test_mounts_and_volumes(js: manifests.JobSettings) -> None:
    spec = make_spec()
    pod = manifests.run_job(spec, js)["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert set(mounts) == {"/data", "/output", "/datasets", "/tmp"}
    assert mounts["/datasets"]["readOnly"] is True
    assert not mounts["/data"].get("readOnly") and not mounts["/output"].get("readOnly")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": f"{spec.name}-data-pvc"}
    assert volumes["output"]["persistentVolumeClaim"] == {"claimName": f"{spec.name}-output-pvc"}
    assert volumes["datasets"]["persistentVolumeClaim"] == {
        "claimName": "eval-datasets-pvc",
        "readOnly": True,
    }
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    assert "config" not in volumes


def test_files_priority_and_resources(js: manifests.JobSettings) -> None:
    spec = make_spec(files=WITH_FILES, priority_class="high-priority", resources=RESOURCES)
    pod = manifests.run_job(spec, js)["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "high-priority"
    assert pod["containers"][0]["resources"] == RESOURCES
    config_map = manifests.run_config_map(spec, js)
    assert config_map is not None
    paths = json.loads(config_map["metadata"]["annotations"]["budeval.io/files"])
    assert {paths[key]: value for key, value in config_map["data"].items()} == WITH_FILES
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "config"]
    assert {m["mountPath"]: paths[m["subPath"]] for m in mounts} == {
        f"/data/{path}": path for path in WITH_FILES
    }
    assert all(m["readOnly"] for m in mounts)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == f"{spec.name}-config"
    assert manifests.run_config_map(make_spec(), js) is None


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "."])
def test_unsafe_file_paths_are_refused(js: manifests.JobSettings, path: str) -> None:
    with pytest.raises(BackendError):
        manifests.run_job(make_spec(files={path: "x"}), js)


def test_pvcs_follow_the_storage_profile() -> None:
    local = manifests.JobSettings.from_settings(Settings(storage_profile="local"), "ns")
    production = manifests.JobSettings.from_settings(Settings(storage_profile="production"), "ns")
    data, output = manifests.run_pvcs(make_spec(), local)
    assert data["metadata"]["name"].endswith("-data-pvc")
    assert output["metadata"]["name"].endswith("-output-pvc")
    assert data["spec"]["storageClassName"] == "local-path"
    assert data["spec"]["resources"]["requests"]["storage"] == "10Gi"
    data, _ = manifests.run_pvcs(make_spec(), production)
    assert "storageClassName" not in data["spec"]
    assert data["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert data["metadata"]["namespace"] == "ns"
    datasets = manifests.datasets_pvc(Settings(storage_profile="production"), "ns")
    assert datasets["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "app.kubernetes.io/managed-by" not in datasets["metadata"]["labels"]


def test_job_settings_from_settings() -> None:
    settings = Settings(kube_active_deadline_seconds=99, kube_backoff_limit=2)
    js = manifests.JobSettings.from_settings(settings, "team-a")
    assert (js.namespace, js.active_deadline_seconds, js.backoff_limit) == ("team-a", 99, 2)
    js = manifests.JobSettings.from_settings(Settings(max_duration_seconds=123.9), "x")
    assert js.active_deadline_seconds == 123


def test_reader_job(js: manifests.JobSettings) -> None:
    spec = make_spec()
    job = manifests.reader_job(spec, js)
    assert job["metadata"]["name"] == labels.object_names(spec.name).reader_job
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "results-reader"
    assert job["metadata"]["labels"]["budeval.io/job"] == spec.name
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    assert job["spec"]["activeDeadlineSeconds"] == 600
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == js.service_image
    assert container["command"] == ["python", "-m", "budeval.runners.kube_results", "/output"]
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert not any("valueFrom" in item for item in container["env"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/output"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["output"]["persistentVolumeClaim"] == {
        "claimName": f"{spec.name}-output-pvc",
        "readOnly": True,
    }
    assert set(volumes) == {"output", "tmp"}
    assert (
        pod["securityContext"]
        == manifests.run_job(spec, js)["spec"]["template"]["spec"]["securityContext"]
    )


def test_manifests_do_not_share_mutable_parts(js: manifests.JobSettings) -> None:
    first = manifests.run_job(make_spec(), js)
    first["spec"]["template"]["spec"]["volumes"][3]["emptyDir"]["medium"] = "Memory"
    first["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    second = manifests.run_job(make_spec(), js)
    assert second["spec"]["template"]["spec"]["volumes"][3] == {"name": "tmp", "emptyDir": {}}
    assert (
        "privileged" not in second["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    )


def test_smoke_runs_and_the_reader_use_one_service_image_setting() -> None:
    """Item 14: the smoke engine hard-coded `budeval/service:latest` while the reader used
    `kube_service_image`."""
    from budeval.engines.registry import default_registry

    settings = Settings(kube_service_image="registry.example/budeval/service:9.9")
    custom = manifests.JobSettings.from_settings(settings, "budeval")
    smoke = default_registry().get("smoke")
    spec = make_spec(image=smoke.image, environment=smoke.environment, engine="smoke")
    image = manifests.run_job(spec, custom)["spec"]["template"]["spec"]["containers"][0]["image"]
    reader = manifests.reader_job(spec, custom)["spec"]["template"]["spec"]["containers"][0]
    assert image == reader["image"] == "registry.example/budeval/service:9.9"
    engine = manifests.run_job(make_spec(), custom)["spec"]["template"]["spec"]["containers"][0]
    assert engine["image"] == "ghcr.io/budeval/lmeval:0.4.5"  # engines keep their own image
    assert smoke.image == Settings.model_fields["kube_service_image"].default
