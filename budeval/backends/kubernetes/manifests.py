"""A run's Kubernetes objects as plain dicts: Secret, ConfigMap, two PVCs, the Job, the reader Job.

Pure functions of a `RunSpec` and `JobSettings`, so every manifest is validated against the
Kubernetes schemas in tests, without a cluster. Dicts, not lightkube objects: lightkube's
`from_dict` silently drops unknown fields, so conversion happens at the edge. No secret value is
anywhere but in the Secret, which the Job names. Layout: docs/kubernetes-backend.md.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from budeval.backends.base import DATA_MOUNT, DATASETS_MOUNT, OUTPUT_MOUNT, RUNNERS_MOUNT, RunSpec
from budeval.backends.kubernetes.labels import (
    ANNOTATION_FILES,
    APP,
    COMPONENT_READER,
    COMPONENT_RUN,
    LABEL_COMPONENT,
    LABEL_NAME,
    ObjectNames,
    object_names,
    run_annotations,
    run_labels,
)
from budeval.backends.local.environment import OFFLINE_SWITCHES
from budeval.config import Settings, StorageProfile
from budeval.errors import BackendError

WRAPPER = f"{RUNNERS_MOUNT}/kube_job.py"
TMP_MOUNT = "/tmp"
TERMINATION_LOG = "/tmp/budeval-termination"
"""The engine's one-line failure reason; the wrapper copies it into the termination message."""
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
ENGINE_CONTAINER = "engine"
READER_COMMAND = ["python", "-m", "budeval.runners.kube_results", OUTPUT_MOUNT]
SERVICE = "service"  # engines in the service's own image: kube_service_image, as the reader
READER_SECONDS = 600
READER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "128Mi"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}
CONFIG_MAP_MAX_BYTES = 1_000_000
"""A ConfigMap holds at most 1 MiB; keep room for metadata."""


@dataclass(frozen=True)
class JobSettings:
    """The settings that shape a run's objects in one namespace."""

    namespace: str
    profile: StorageProfile
    backoff_limit: int
    active_deadline_seconds: int
    ttl_seconds_after_finished: int
    default_resources: dict[str, dict[str, str]]
    """Container resources of a run whose spec names none."""
    run_as_user: int
    image_pull_policy: str
    service_image: str
    datasets_pvc: str

    @classmethod
    def from_settings(cls, settings: Settings, namespace: str) -> JobSettings:
        s = settings
        deadline = s.kube_active_deadline_seconds or int(s.max_duration_seconds)
        return cls(
            namespace=namespace,
            profile=settings.profile,
            backoff_limit=settings.kube_backoff_limit,
            active_deadline_seconds=max(1, deadline),
            ttl_seconds_after_finished=settings.kube_ttl_seconds_after_finished,
            default_resources={
                "requests": {"cpu": s.kube_cpu_request, "memory": s.kube_memory_request},
                "limits": {"cpu": s.kube_cpu_limit, "memory": s.kube_memory_limit},
            },
            run_as_user=settings.kube_run_as_user,
            image_pull_policy=settings.kube_image_pull_policy,
            service_image=settings.kube_service_image,
            datasets_pvc=settings.kube_datasets_pvc,
        )


def _object(
    kind: str, name: str, spec: RunSpec, js: JobSettings, component: str = COMPONENT_RUN
) -> dict[str, Any]:
    metadata = {
        "name": name,
        "namespace": js.namespace,
        "labels": run_labels(spec, component),
        "annotations": run_annotations(spec),
    }
    api_version = "batch/v1" if kind == "Job" else "v1"
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def run_secret(spec: RunSpec, js: JobSettings, values: dict[str, str]) -> dict[str, Any]:
    """The run's Secret (`{job}-secret`): every key the spec's `secret_env` refers to."""
    missing = sorted({ref.key for ref in spec.secret_env.values()} - set(values))
    if missing:
        raise BackendError(f"secret keys {missing} are missing for the run", reason="SecretMissing")
    data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
    secret = _object("Secret", object_names(spec.name).secret, spec, js)
    return secret | {"type": "Opaque", "data": data}


def config_files(spec: RunSpec) -> list[tuple[str, str, str]]:
    """(ConfigMap key, path relative to /data, content) in a stable order; rejects unsafe paths."""
    files = []
    for index, (relpath, content) in enumerate(sorted(spec.files.items())):
        path = PurePosixPath(relpath)
        if path.is_absolute() or ".." in path.parts or str(path) == ".":
            raise BackendError(f"file path {relpath!r} must stay inside /data", reason="BadSpec")
        files.append((f"file-{index}", str(path), content))
    return files


def run_config_map(spec: RunSpec, js: JobSettings) -> dict[str, Any] | None:
    """The run's files (`{job}-config`; None without files); paths in `budeval.io/files`."""
    files = config_files(spec)
    if not files:
        return None
    if sum(len(content.encode()) for _, _, content in files) > CONFIG_MAP_MAX_BYTES:
        raise BackendError("the run's files exceed a ConfigMap's 1 MiB", reason="BadSpec")
    config_map = _object("ConfigMap", object_names(spec.name).config, spec, js)
    paths = {key: path for key, path, _ in files}
    config_map["metadata"]["annotations"][ANNOTATION_FILES] = json.dumps(paths, sort_keys=True)
    return config_map | {"data": {key: content for key, _, content in files}}


def _claim_spec(profile: StorageProfile, *, datasets: bool = False) -> dict[str, Any]:
    mode = profile.datasets_access_mode if datasets else profile.access_mode
    size = profile.datasets_volume_size if datasets else profile.run_volume_size
    body: dict[str, Any] = {"accessModes": [mode], "resources": {"requests": {"storage": size}}}
    if profile.storage_class is not None:  # None: the cluster's default class
        body["storageClassName"] = profile.storage_class
    return body


def _pvc(name: str, spec: RunSpec, js: JobSettings) -> dict[str, Any]:
    return _object("PersistentVolumeClaim", name, spec, js) | {"spec": _claim_spec(js.profile)}


def run_pvcs(spec: RunSpec, js: JobSettings) -> list[dict[str, Any]]:
    """The data PVC (`/data`) and the output PVC (`/output`), in that order."""
    names = object_names(spec.name)
    return [_pvc(names.data_pvc, spec, js), _pvc(names.output_pvc, spec, js)]


def datasets_pvc(settings: Settings, namespace: str) -> dict[str, Any]:
    """The shared datasets PVC (created by `verify` when absent). Not `managed-by` budeval: it
    belongs to no run, so no cleanup or orphan collection may ever select it."""
    labels = {LABEL_NAME: APP, LABEL_COMPONENT: "datasets"}
    metadata = {"name": settings.kube_datasets_pvc, "namespace": namespace, "labels": labels}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": _claim_spec(settings.profile, datasets=True),
    }


def _environment(spec: RunSpec, names: ObjectNames) -> list[dict[str, Any]]:
    """Plain variables (the spec's own win, as in local mode), then the secret references."""
    plain = {
        **OFFLINE_SWITCHES,
        "HOME": TMP_MOUNT,
        "PYTHONUNBUFFERED": "1",
        "DATA_DIR": DATA_MOUNT,
        "OUTPUT_DIR": OUTPUT_MOUNT,
        "DATASETS_DIR": DATASETS_MOUNT,
        "TERMINATION_LOG": TERMINATION_LOG,
        "BUDEVAL_TERMINATION_MESSAGE_PATH": TERMINATION_MESSAGE_PATH,
        "ENGINE_ARGS": json.dumps(spec.engine_args, sort_keys=True),
        **spec.env,
    }
    plain = {name: value for name, value in plain.items() if name not in spec.secret_env}
    env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in plain.items()]
    for name, ref in spec.secret_env.items():
        key_ref = {"name": names.secret, "key": ref.key}
        env.append({"name": name, "valueFrom": {"secretKeyRef": key_ref}})
    return env


def _claim(volume: str, claim: str, *, read_only: bool = False) -> dict[str, Any]:
    source = {"claimName": claim} | ({"readOnly": True} if read_only else {})
    return {"name": volume, "persistentVolumeClaim": source}


def _mount(volume: str, path: str, *, read_only: bool = False, **extra: str) -> dict[str, Any]:
    return {"name": volume, "mountPath": path, **extra} | ({"readOnly": True} if read_only else {})


TMP_VOLUME = {"name": "tmp", "emptyDir": {}}  # HOME and the reason file; the root is read-only


def _volumes(spec: RunSpec, js: JobSettings, names: ObjectNames) -> list[dict[str, Any]]:
    volumes = [
        _claim("data", names.data_pvc),
        _claim("output", names.output_pvc),
        _claim("datasets", js.datasets_pvc, read_only=True),
        TMP_VOLUME,
    ]
    config = {"name": names.config, "defaultMode": 0o444}
    if spec.files:
        volumes.append({"name": "config", "configMap": config})
    return volumes


def _mounts(spec: RunSpec) -> list[dict[str, Any]]:
    mounts = [
        _mount("data", DATA_MOUNT),
        _mount("output", OUTPUT_MOUNT),
        _mount("datasets", DATASETS_MOUNT, read_only=True),
        _mount("tmp", TMP_MOUNT),
    ]
    for key, relpath, _ in config_files(spec):
        mounts.append(_mount("config", f"{DATA_MOUNT}/{relpath}", read_only=True, subPath=key))
    return mounts


def _job(job: dict, container: dict, volumes: list, js: JobSettings, **limits: int) -> dict:
    """Complete `job` with the pod around `container`: hardened, never restarted in place."""
    container = container | {
        "imagePullPolicy": js.image_pull_policy,
        "securityContext": CONTAINER_SECURITY,
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "File",
        "workingDir": TMP_MOUNT,
    }
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            **dict.fromkeys(("runAsUser", "runAsGroup", "fsGroup"), js.run_as_user),
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    metadata = job["metadata"]
    template = {"labels": metadata["labels"], "annotations": metadata["annotations"]}
    job["spec"] = {**limits, "template": {"metadata": template, "spec": pod}}
    return copy.deepcopy(job)  # shared constants (security context, volumes) stay untouched


def run_job(spec: RunSpec, js: JobSettings) -> dict[str, Any]:
    """The run's Job (`spec.name`): the engine behind the `kube_job.py` wrapper."""
    names = object_names(spec.name)
    container = {
        "name": ENGINE_CONTAINER,
        "image": js.service_image if spec.environment == SERVICE else spec.image,
        "command": ["python", WRAPPER, "--", *spec.command],
        "env": _environment(spec, names),
        "volumeMounts": _mounts(spec),
        "resources": spec.resources or js.default_resources,
    }
    job = _job(
        _object("Job", names.job, spec, js),
        container,
        _volumes(spec, js, names),
        js,
        backoffLimit=js.backoff_limit,
        activeDeadlineSeconds=js.active_deadline_seconds,
        ttlSecondsAfterFinished=js.ttl_seconds_after_finished,
    )
    if spec.priority_class:
        job["spec"]["template"]["spec"]["priorityClassName"] = spec.priority_class
    return job


def reader_job(spec: RunSpec, js: JobSettings) -> dict[str, Any]:
    """The results reader of a succeeded run: its output PVC (read-only) as a tarball in its log."""
    names = object_names(spec.name)
    container = {
        "name": "reader",
        "image": js.service_image,
        "command": READER_COMMAND,
        "env": [{"name": "HOME", "value": TMP_MOUNT}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "volumeMounts": [_mount("output", OUTPUT_MOUNT, read_only=True), _mount("tmp", TMP_MOUNT)],
        "resources": READER_RESOURCES,
    }
    volumes = [_claim("output", names.output_pvc, read_only=True), TMP_VOLUME]
    reader = _object("Job", names.reader_job, spec, js, COMPONENT_READER)
    limits = {"activeDeadlineSeconds": READER_SECONDS, "ttlSecondsAfterFinished": READER_SECONDS}
    return _job(reader, container, volumes, js, backoffLimit=0, **limits)
