"""The API verbs on plain dicts: get, list, create, replace, patch (merge and apply).

No HTTP here (see `app.py`) and no deletion (see `deletion.py`). Every write goes through
`_commit_update`/`create`, which default, validate and commit under the store lock, so the
controller and kubelet use the same paths as clients do.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import yaml

from tests.kube import defaults, errors, patching, validation
from tests.kube.errors import ApiStatus, bad_request
from tests.kube.resources import ResourceType
from tests.kube.selectors import Predicate
from tests.kube.store import Store

KEEP_ON_UPDATE = ("uid", "creationTimestamp", "generation", "managedFields", "deletionTimestamp")
APPLY = "application/apply-patch+yaml"
MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


class Api:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reads -------------------------------------------------------------------------------
    def get(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        found = self.store.get(rtype.plural, namespace, name)
        if found is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        return found

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        match: Predicate,
        limit: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        items, rv = self.store.list(rtype.plural, namespace)
        after: list[str] | None = None
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                rv, after = int(state["rv"]), state["after"]
            except (ValueError, KeyError, TypeError):
                raise bad_request(f"invalid continue token: {token!r}") from None
        selected = [
            i
            for i in items
            if (
                after is None or [i["metadata"].get("namespace", ""), i["metadata"]["name"]] > after
            )
            and match(i)
        ]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if limit and len(selected) > limit:
            last = selected[limit - 1]["metadata"]
            state = {"rv": rv, "after": [last.get("namespace", ""), last["name"]]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
            meta["remainingItemCount"] = len(selected) - limit
            selected = selected[:limit]
        return {
            "kind": rtype.list_kind,
            "apiVersion": rtype.api_version,
            "metadata": meta,
            "items": [
                {k: v for k, v in i.items() if k not in ("kind", "apiVersion")} for i in selected
            ],
        }

    # -- writes ------------------------------------------------------------------------------
    def require_namespace(self, rtype: ResourceType, namespace: str) -> None:
        if rtype.namespaced and self.store.get("namespaces", "", namespace) is None:
            raise errors.not_found("", "namespaces", namespace)

    def default_class(self) -> str | None:
        classes, _ = self.store.list("storageclasses")
        for sc in classes:
            annotations = sc["metadata"].get("annotations") or {}
            if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
                return sc["metadata"]["name"]
        return None

    def create(
        self,
        rtype: ResourceType,
        namespace: str,
        body: Any,
        manager: str | None = None,
        operation: str = "Update",
    ) -> dict[str, Any]:
        obj = _object_body(body)
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = defaults.generated_name(meta["generateName"])
        with self.store.lock:
            self.require_namespace(rtype, namespace)
            name = meta.get("name") or ""
            if name and self.store.get(rtype.plural, namespace, name) is not None:
                raise errors.already_exists(rtype.group, rtype.plural, name)
            defaults.stamp_new(obj, rtype, namespace)
            defaults.apply_defaults(obj, rtype, self.default_class())
            validation.validate(obj, rtype)
            self._admit(rtype, obj)
            if manager:
                patching.record_manager(obj, manager, operation, body)
            if operation == "Apply" and manager:
                key = (rtype.plural, namespace if rtype.namespaced else "", name, manager)
                self.store.applied[key] = copy.deepcopy(body)
            return self.store.put(rtype.plural, obj)

    def replace(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        sub: str = "",
        manager: str | None = None,
    ) -> dict[str, Any]:
        new = _object_body(body)
        _check_name(new, name)
        with self.store.lock:
            current = self.get(rtype, namespace, name)
            wanted_rv = (new.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype.group, rtype.plural, name)
            if sub == "status":
                new = {**current, "status": new.get("status")}
            elif "status" in rtype.subresources:
                new["status"] = current.get("status")
            return self._commit_update(rtype, current, new, manager, "Update", body, sub)

    def _admit(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """The Priority admission plugin: a pod naming an unknown PriorityClass is refused."""
        wanted = (
            (obj.get("spec") or {}).get("priorityClassName") if rtype.plural == "pods" else None
        )
        if wanted and self.store.get("priorityclasses", "", wanted) is None:
            name = obj["metadata"].get("name", "")
            raise ApiStatus(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: no PriorityClass with name {wanted} was found',
            )

    def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        content_type: str,
        sub: str = "",
        manager: str | None = None,
    ) -> dict[str, Any]:
        content_type = content_type.split(";")[0].strip()
        if content_type == APPLY:
            return self._apply(rtype, namespace, name, raw, sub, manager)
        if content_type not in MERGE_TYPES:
            raise ApiStatus(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - "
                f"accepted media types include: {', '.join((*MERGE_TYPES, APPLY))}",
            )
        try:
            body = json.loads(raw or b"{}")
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}") from None
        with self.store.lock:
            current = self.get(rtype, namespace, name)
            wanted_rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype.group, rtype.plural, name)
            if sub == "status":
                new = {
                    **current,
                    "status": patching.merge_patch(
                        current.get("status"), (body or {}).get("status")
                    ),
                }
            else:
                new = patching.merge_patch(current, body)
                if "status" in rtype.subresources:
                    new["status"] = current.get("status")
            return self._commit_update(rtype, current, new, manager, "Update", body, sub)

    def _apply(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        sub: str,
        manager: str | None,
    ) -> dict[str, Any]:
        if not manager:
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [("fieldManager", "Required value: is required for apply patch")],
            )
        try:
            body = yaml.safe_load(raw or b"")
        except yaml.YAMLError as e:
            raise bad_request(f"error decoding YAML: {e}") from None
        body = _object_body(body)
        if not body.get("apiVersion") or not body.get("kind"):
            raise bad_request("apiVersion and kind must be set in an apply patch")
        _check_name(body, name)
        body.setdefault("metadata", {})["name"] = name
        with self.store.lock:
            current = self.store.get(rtype.plural, namespace, name)
            if current is None:
                if sub:
                    raise errors.not_found(rtype.group, rtype.plural, name)
                return self.create(rtype, namespace, body, manager, "Apply")
            key = (rtype.plural, namespace if rtype.namespaced else "", name, manager)
            if sub == "status":
                new = patching.apply_status(current, body)
            else:
                new = patching.apply(current, body, self.store.applied.get(key))
                if "status" in rtype.subresources:
                    new["status"] = current.get("status")
            self.store.applied[key] = copy.deepcopy(body)
            return self._commit_update(rtype, current, new, manager, "Apply", body, sub)

    def _commit_update(
        self,
        rtype: ResourceType,
        current: dict[str, Any],
        new: dict[str, Any],
        manager: str | None,
        operation: str,
        body: Any,
        sub: str,
    ) -> dict[str, Any]:
        new = copy.deepcopy(new)
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        meta = new.setdefault("metadata", {})
        for field in KEEP_ON_UPDATE:
            if field in current["metadata"]:
                meta[field] = current["metadata"][field]
            else:
                meta.pop(field, None)
        meta["name"] = current["metadata"]["name"]
        if rtype.namespaced:
            meta["namespace"] = current["metadata"]["namespace"]
        defaults.apply_defaults(new, rtype, self.default_class())
        validation.validate_update(current, new, rtype)
        if patching.without_bookkeeping(new) == patching.without_bookkeeping(current):
            applied_before = any(
                e.get("manager") == manager and e.get("operation") == "Apply"
                for e in meta.get("managedFields") or []
            )
            if operation != "Apply" or applied_before:
                return current  # a real apiserver skips no-op writes: no new resourceVersion
        if rtype.kind == "Job" and new.get("spec") != current.get("spec"):
            meta["generation"] = int(meta.get("generation") or 1) + 1
        if manager:
            patching.record_manager(new, manager, operation, body, sub)
        return self.store.put(rtype.plural, new)


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return copy.deepcopy(body)


def _check_name(body: dict[str, Any], name: str) -> None:
    given = (body.get("metadata") or {}).get("name")
    if given and given != name:
        raise bad_request(
            f"the name of the object ({given}) does not match the name on the URL ({name})"
        )
