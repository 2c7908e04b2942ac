"""Patch semantics: JSON merge patch (RFC 7386) and a simplified server-side apply.

Apply, simplified: maps merge deeply, lists are replaced whole, and fields the same manager
applied last time but left out now are removed (so a manager can drop a label it set). Other
managers' fields are kept; conflicts between managers are not detected (as if always `force`).
"""

from __future__ import annotations

import copy
from typing import Any

from tests.kube.defaults import now_rfc3339

SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _remove_dropped(current: Any, previous: Any, applied: Any) -> Any:
    """Remove map keys present in the manager's previous apply but absent from this one."""
    if not (isinstance(current, dict) and isinstance(previous, dict)):
        return current
    applied_map = applied if isinstance(applied, dict) else {}
    result = dict(current)
    for key, before in previous.items():
        if key not in result:
            continue
        if key not in applied_map:
            result.pop(key)
        else:
            result[key] = _remove_dropped(result[key], before, applied_map[key])
    return result


def _deep_merge(current: Any, applied: Any) -> Any:
    if not (isinstance(current, dict) and isinstance(applied, dict)):
        return copy.deepcopy(applied)
    result = dict(current)
    for key, value in applied.items():
        if value is None:
            continue
        result[key] = _deep_merge(result.get(key), value)
    return result


def apply(current: dict[str, Any], applied: dict[str, Any], previous: dict | None) -> dict:
    """The object after `applied` by a manager whose last applied config was `previous`."""
    applied = {k: v for k, v in applied.items() if k != "status"}
    applied_meta = {
        k: v for k, v in (applied.get("metadata") or {}).items() if k not in SERVER_FIELDS
    }
    applied = {**applied, "metadata": applied_meta}
    base = _remove_dropped(current, previous, applied) if previous else current
    return _deep_merge(base, applied)


def apply_status(current: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    return {**current, "status": _deep_merge(current.get("status") or {}, applied.get("status"))}


def fields_v1(applied: Any) -> dict[str, Any]:
    """A FieldsV1-shaped summary of the applied map (lists recorded as leaves)."""
    if not isinstance(applied, dict):
        return {}
    return {f"f:{key}": fields_v1(value) for key, value in applied.items() if value is not None}


def record_manager(
    obj: dict[str, Any], manager: str, operation: str, applied: dict[str, Any] | None, sub: str = ""
) -> None:
    """Set (replace) this manager's managedFields entry."""
    meta = obj.setdefault("metadata", {})
    entries = [
        e
        for e in meta.get("managedFields") or []
        if not (e.get("manager") == manager and e.get("operation") == operation)
    ]
    body = {k: v for k, v in (applied or {}).items() if k not in ("apiVersion", "kind")}
    if "metadata" in body:
        body["metadata"] = {
            k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")
        }
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": obj.get("apiVersion"),
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(body),
    }
    if sub:
        entry["subresource"] = sub
    entries.append(entry)
    meta["managedFields"] = entries


def without_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    """The object minus fields that change on every write, for no-op detection."""
    meta = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("managedFields", "resourceVersion", "generation")
    }
    return {**obj, "metadata": meta}
