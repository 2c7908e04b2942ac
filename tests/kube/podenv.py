"""How a pod's single container becomes a local process: argv, environment, mapped paths.

Container paths (volume mounts, the termination message path, `/tmp`, and the runners directory
`/opt/budeval/runners`) are rewritten by prefix inside argv and env values, as
`budeval/backends/local/environment.py` does. Raises `Park` when the pod cannot start yet
(unbound claim, missing config map) and `ConfigError` for a CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import budeval
from tests.kube.cluster import Cluster

RUNNERS_MOUNT = "/opt/budeval/runners"
RUNNERS_DIR = Path(budeval.__file__).parent / "runners"
REPO_ROOT = Path(budeval.__file__).parent.parent


class Park(Exception):
    """The pod stays Pending until something it needs appears (unscheduled: an unbound claim)."""

    def __init__(self, message: str, scheduled: bool = True) -> None:
        super().__init__(message)
        self.scheduled = scheduled


def unbound_message(cluster: Cluster, claim: str, found: dict[str, Any] | None) -> str:
    """The v1.20 scheduler's words for a pod whose claim is missing or not bound."""
    if found is None:
        return f'0/1 nodes are available: 1 persistentvolumeclaim "{claim}" not found.'
    cls = (found.get("spec") or {}).get("storageClassName") or ""
    mode = (cluster.store.get("storageclasses", "", cls) or {}).get("volumeBindingMode")
    if mode == "WaitForFirstConsumer":  # no PV and none provisioned for this node
        return (
            "0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind."
        )
    return "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."


class ConfigError(Exception):
    """CreateContainerConfigError: a referenced secret/config map or key is missing."""


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    termination: Path
    policy: str


def map_paths(value: str, table: dict[str, Path]) -> str:
    for mount in sorted(table, key=len, reverse=True):
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return str(table[mount]) + value[len(mount) :]
    return value


def _source(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, str] | None:
    plural = "secrets" if kind == "secret" else "configmaps"
    obj = cluster.store.get(plural, namespace, name)
    if obj is None:
        return None
    data = dict(obj.get("data") or {})
    if kind == "secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
    return data


def _write_volume(target: Path, data: dict[str, str], items: list[dict[str, Any]] | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    chosen = (
        [(i["key"], i.get("path") or i["key"]) for i in items] if items else [(k, k) for k in data]
    )
    for key, rel in chosen:
        if key in data:
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[key])


def _mount_table(cluster: Cluster, pod: dict[str, Any], workdir: Path) -> dict[str, Path]:
    namespace = pod["metadata"]["namespace"]
    spec = pod["spec"]
    container = spec["containers"][0]
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    table: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"]) or {}
        base = workdir / "volumes" / mount["name"]
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            found = cluster.store.get("persistentvolumeclaims", namespace, claim)
            if found is None or (found.get("status") or {}).get("phase") != "Bound":
                raise Park(unbound_message(cluster, claim, found), scheduled=False)
            base = cluster.volumes.volume_dir(namespace, claim)
        elif "configMap" in volume or "secret" in volume:
            kind = "configMap" if "configMap" in volume else "secret"
            ref = volume[kind]
            name = ref.get("name") or ref.get("secretName")
            data = _source(cluster, "secret" if kind == "secret" else "configmap", namespace, name)
            if data is None:
                raise Park(f'{kind} "{name}" not found')
            _write_volume(base, data, ref.get("items"))
        else:  # emptyDir and anything else: a private directory
            base.mkdir(parents=True, exist_ok=True)
        sub = mount.get("subPath")
        table[mount["mountPath"]] = base / sub if sub else base
    table.setdefault(RUNNERS_MOUNT, RUNNERS_DIR)
    table.setdefault("/tmp", workdir / "tmp")
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    return table


def _env_value(cluster: Cluster, pod: dict[str, Any], item: dict[str, Any]) -> str | None:
    namespace = pod["metadata"]["namespace"]
    source = item.get("valueFrom")
    if source is None:
        return str(item.get("value", ""))
    for ref_kind, label, kind in (
        ("secretKeyRef", "Secret", "secret"),
        ("configMapKeyRef", "ConfigMap", "configmap"),
    ):
        if ref_kind in source:
            ref = source[ref_kind]
            data = _source(cluster, kind, namespace, ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    return None
                if data is None:
                    raise ConfigError(f'{kind} "{ref["name"]}" not found')
                raise ConfigError(
                    f"couldn't find key {ref['key']} in {label} {namespace}/{ref['name']}"
                )
            return data[ref["key"]]
    field = (source.get("fieldRef") or {}).get("fieldPath", "")
    return {"metadata.name": pod["metadata"]["name"], "metadata.namespace": namespace}.get(
        field, ""
    )


def prepare(cluster: Cluster, pod: dict[str, Any], workdir: Path) -> Launch:
    workdir.mkdir(parents=True, exist_ok=True)
    container = pod["spec"]["containers"][0]
    table = _mount_table(cluster, pod, workdir)
    termination = workdir / "termination-log"
    termination.write_text("")
    table[container.get("terminationMessagePath") or "/dev/termination-log"] = termination
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "HOSTNAME": pod["metadata"]["name"],
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    for source in container.get("envFrom") or []:
        for ref_kind, kind in (("secretRef", "secret"), ("configMapRef", "configmap")):
            if ref_kind in source:
                data = _source(
                    cluster, kind, pod["metadata"]["namespace"], source[ref_kind]["name"]
                )
                if data is None and not source[ref_kind].get("optional"):
                    raise ConfigError(f'{kind} "{source[ref_kind]["name"]}" not found')
                env.update({source.get("prefix", "") + k: v for k, v in (data or {}).items()})
    for item in container.get("env") or []:
        value = _env_value(cluster, pod, item)
        if value is not None:
            env[item["name"]] = map_paths(value, table)
    argv = [
        map_paths(a, table) for a in [*container.get("command", []), *container.get("args", [])]
    ]
    if not argv:
        raise ConfigError("no command specified (the test kubelet cannot run image entrypoints)")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    policy = container.get("terminationMessagePolicy") or "File"
    return Launch(argv, env, workdir, termination, policy)
