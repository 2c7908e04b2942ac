"""SelfSubjectAccessReview answers from a deny set the test configures (default: allow all)."""

from __future__ import annotations

import copy
import threading
from typing import Any

from tests.kube.errors import bad_request


class AccessRules:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._denied: set[tuple[str, str, str]] = set()  # (verb, group, resource[/sub])

    def deny(self, verb: str, resource: str, group: str = "") -> None:
        with self._lock:
            self._denied.add((verb, group, resource))

    def allow(self, verb: str, resource: str, group: str = "") -> None:
        with self._lock:
            self._denied.discard((verb, group, resource))

    def allowed(self, verb: str, resource: str, group: str = "") -> bool:
        with self._lock:
            candidates = {(v, group, r) for v in (verb, "*") for r in (resource, "*")}
            return not (candidates & self._denied)

    def review(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise bad_request("SelfSubjectAccessReview needs a spec")
        review = copy.deepcopy(body)
        review["apiVersion"] = "authorization.k8s.io/v1"
        review["kind"] = "SelfSubjectAccessReview"
        review.setdefault("metadata", {})
        attributes = review["spec"].get("resourceAttributes")
        if attributes is None:
            review["status"] = {"allowed": True}
            return review
        resource = attributes.get("resource", "")
        if attributes.get("subresource"):
            resource = f"{resource}/{attributes['subresource']}"
        ok = self.allowed(attributes.get("verb", ""), resource, attributes.get("group", ""))
        review["status"] = {"allowed": ok}
        if not ok:
            review["status"]["denied"] = True
            review["status"]["reason"] = "denied by the test server's deny set"
        return review
