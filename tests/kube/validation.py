"""Validation the real API server applies, reported as 422 `Invalid` with field causes."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from tests.kube.errors import invalid
from tests.kube.resources import ResourceType

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
LABEL_RE = re.compile(rf"^{_LABEL}$")
SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
QUALIFIED_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
MAX_DATA_BYTES = 1024 * 1024

LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',"
    "  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def _name_errors(name: str, as_label: bool) -> list[tuple[str, str]]:
    field = "metadata.name"
    if not name:
        return [(field, "Required value: name or generateName is required")]
    limit, regex, message = (
        (63, LABEL_RE, LABEL_MSG) if as_label else (253, SUBDOMAIN_RE, SUBDOMAIN_MSG)
    )
    errors = []
    if len(name) > limit:
        errors.append((field, f'Invalid value: "{name}": must be no more than {limit} characters'))
    if not regex.match(name):
        errors.append((field, f'Invalid value: "{name}": {message}'))
    return errors


def _key_errors(field: str, key: str) -> list[tuple[str, str]]:
    prefix, _, name = key.rpartition("/")
    errors = []
    if "/" in key and (not prefix or len(prefix) > 253 or not SUBDOMAIN_RE.match(prefix)):
        errors.append((field, f'Invalid value: "{key}": prefix part {SUBDOMAIN_MSG}'))
    if not name or len(name) > 63 or not QUALIFIED_RE.match(name):
        errors.append(
            (
                field,
                f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', and must start and end with an alphanumeric character, "
                "at most 63 characters",
            )
        )
    return errors


def _label_errors(labels: Any, field: str) -> list[tuple[str, str]]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [(field, "Invalid value: must be a map of strings")]
    errors = []
    for key, value in labels.items():
        errors += _key_errors(field, str(key))
        if not isinstance(value, str):
            errors.append((f"{field}.{key}", "Invalid value: must be a string"))
        elif value and (len(value) > 63 or not QUALIFIED_RE.match(value)):
            problem = "must be no more than 63 characters" if len(value) > 63 else VALUE_MSG
            errors.append((field, f'Invalid value: "{value}": {problem}'))
    return errors


def _metadata_errors(obj: dict[str, Any], rtype: ResourceType, prefix: str = "") -> list:
    meta = obj.get("metadata") or {}
    errors = _label_errors(meta.get("labels"), f"{prefix}metadata.labels")
    for key in meta.get("annotations") or {}:
        errors += _key_errors(f"{prefix}metadata.annotations", str(key))
    return errors


def _data_errors(obj: dict[str, Any], rtype: ResourceType) -> list[tuple[str, str]]:
    errors = []
    for section in ("data", "binaryData"):
        for key, value in (obj.get(section) or {}).items():
            if not CONFIG_KEY_RE.match(key) or len(key) > 253:
                errors.append(
                    (
                        f"{section}[{key}]",
                        f'Invalid value: "{key}": a valid config key must '
                        "consist of alphanumeric characters, '-', '_' or '.'",
                    )
                )
            if rtype.kind == "Secret" and section == "data":
                try:
                    base64.b64decode(str(value), validate=True)
                except (binascii.Error, ValueError):
                    errors.append((f"data[{key}]", "Invalid value: illegal base64 data"))
    if len(json.dumps(obj.get("data") or {})) > MAX_DATA_BYTES:
        errors.append(("data", "Too long: must have at most 1048576 bytes"))
    return errors


def validate(obj: dict[str, Any], rtype: ResourceType) -> None:
    """Raise 422 when `obj` (already defaulted, name set) would be refused by a real server."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    errors = _name_errors(name, rtype.name_is_label) + _metadata_errors(obj, rtype)
    if rtype.kind in ("Secret", "ConfigMap"):
        errors += _data_errors(obj, rtype)
    if rtype.kind == "Job":
        template = ((obj.get("spec") or {}).get("template")) or {}
        errors += _metadata_errors(template, rtype, "spec.template.")
        if not ((template.get("spec") or {}).get("containers")):
            errors.append(("spec.template.spec.containers", "Required value"))
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in ("Never", "OnFailure"):
            errors.append(
                (
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
                )
            )
    if rtype.kind in ("RoleBinding", "ClusterRoleBinding"):
        ref = obj.get("roleRef") or {}
        for key in ("apiGroup", "kind", "name"):
            if not ref.get(key):
                errors.append((f"roleRef.{key}", "Required value"))
    if rtype.kind == "Pod" and not ((obj.get("spec") or {}).get("containers")):
        errors.append(("spec.containers", "Required value"))
    if errors:
        raise invalid(rtype.kind, rtype.group, name, errors)


def validate_update(old: dict[str, Any], new: dict[str, Any], rtype: ResourceType) -> None:
    """Immutable fields: a Job's pod template and selector, a (Cluster)RoleBinding's roleRef."""
    validate(new, rtype)
    if rtype.kind in ("RoleBinding", "ClusterRoleBinding") and old.get("roleRef") != new.get(
        "roleRef"
    ):
        raise invalid(
            rtype.kind,
            rtype.group,
            old["metadata"]["name"],
            [
                (
                    "roleRef",
                    f"Invalid value: {json.dumps(new.get('roleRef'))}: cannot change roleRef",
                )
            ],
        )
    if rtype.kind != "Job":
        return
    name = old["metadata"]["name"]
    for field in ("template", "selector", "completions"):
        before = (old.get("spec") or {}).get(field)
        after = (new.get("spec") or {}).get(field)
        if before != after:
            raise invalid(
                "Job",
                "batch",
                name,
                [(f"spec.{field}", f"Invalid value: {json.dumps(after)}: field is immutable")],
            )
